# pg.sh - a private, throw-away PostgreSQL server for the sync tests.
# Source it from a POSIX sh script; it defines functions and sets nothing
# until pg_start runs.
#
#   . "$root/tests/pg/pg.sh"
#   trap 'pg_stop' EXIT          # add your own clean-up to the same trap
#   trap 'exit 130' INT TERM     # so a signal runs the EXIT trap
#   pg_start || exit 1
#   "$PSQL" -c 'select 1'        # or any libpq client with "$PG_URL"
#   pg_stop                      # optional: the trap does it too
#
# pg_start runs initdb into a new temporary directory (fsync off, trust
# authentication, the C locale, UTF8), starts the server on a unix socket in
# that directory only (no TCP listener), on a random port from 54320-55319
# that no other listener uses, creates the database `convlog`, and exports:
#
#   PGHOST      the socket directory (libpq's host=)
#   PGPORT      the port (part of the socket's file name)
#   PGUSER      postgres: the cluster's superuser
#   PGDATABASE  convlog
#   PG_URL      postgresql:///convlog?host=PGHOST&port=PGPORT&user=postgres
#   PSQL        the psql of the server's version
#   PG_BINDIR   where initdb, pg_ctl, postgres and psql are
#   PG_DIR      the temporary directory (PG_DIR/data, PG_DIR/server.log)
#   PG_PID      the postmaster's process id
#
# As root (CI), initdb and the server run as the `postgres` system user,
# which the Debian package creates: PostgreSQL refuses to run as root.
# pg_stop stops the server (fast shutdown: open sessions are ended), removes
# the directory and unsets PG_DIR; it does nothing when no server is
# running, so it is safe in an EXIT trap, called twice, or called after a
# failed pg_start, and it always returns 0 (safe under set -e).  A server
# whose script is killed with SIGKILL is not stopped (no trap runs).  Binaries: PG_BINDIR if set, else `pg_config --bindir`,
# else the newest /usr/lib/postgresql/*/bin.

# pg__bindir: prints the directory holding initdb and pg_ctl.
pg__bindir() {
	if [ -n "${PG_BINDIR:-}" ] && [ -x "$PG_BINDIR/initdb" ]; then
		echo "$PG_BINDIR"
		return 0
	fi
	if command -v pg_config >/dev/null 2>&1; then
		pg__d=$(pg_config --bindir 2>/dev/null) || pg__d=""
		if [ -n "$pg__d" ] && [ -x "$pg__d/initdb" ]; then
			echo "$pg__d"
			return 0
		fi
	fi
	pg__d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
	if [ -n "$pg__d" ] && [ -x "$pg__d/initdb" ]; then
		echo "$pg__d"
		return 0
	fi
	echo "pg.sh: no PostgreSQL server binaries (initdb); run: sh tools/install-deps.sh" >&2
	return 1
}

# pg__as_owner CMD...: runs CMD as the cluster's owner, from PG_DIR (a
# directory that user can enter, unlike root's working directory).
pg__as_owner() {
	if [ "$(id -u)" = 0 ]; then
		(cd "$PG_DIR" && runuser -u postgres -- "$@")
	else
		(cd "$PG_DIR" && "$@")
	fi
}

# pg__port_free PORT: true when nothing listens on TCP PORT and no socket of
# that port exists in the usual socket directories.
pg__port_free() {
	pg__hex=$(printf '%04X' "$1")
	for pg__f in /proc/net/tcp /proc/net/tcp6; do
		[ -r "$pg__f" ] || continue
		# local_address is field 2 (ADDR:PORT in hex), state 0A = LISTEN
		if awk -v p=":$pg__hex" '$4 == "0A" && substr($2, length($2) - 4) == p { found = 1 } END { exit !found }' "$pg__f"; then
			return 1
		fi
	done
	for pg__d in /tmp /var/run/postgresql /run/postgresql; do
		[ -e "$pg__d/.s.PGSQL.$1" ] && return 1
	done
	return 0
}

pg__random() {
	od -An -N2 -tu2 /dev/urandom | tr -d ' '
}

# pg_start: see the top of the file.  Returns non-zero, with the server log
# on stderr, if the server does not come up.
pg_start() {
	if [ -n "${PG_DIR:-}" ]; then
		echo "pg.sh: pg_start: a server is already running in $PG_DIR" >&2
		return 1
	fi
	PG_BINDIR=$(pg__bindir) || return 1
	pg__base=${TMPDIR:-/tmp}
	# a unix socket path must fit in 107 bytes
	[ ${#pg__base} -le 60 ] || pg__base=/tmp
	PG_DIR=$(mktemp -d "$pg__base/convlog-pg.XXXXXX") || return 1
	if [ "$(id -u)" = 0 ]; then
		if ! id postgres >/dev/null 2>&1; then
			echo "pg.sh: running as root needs the postgres system user (package postgresql)" >&2
			rm -rf "$PG_DIR"
			unset PG_DIR
			return 1
		fi
		chown postgres "$PG_DIR"
		chmod 755 "$PG_DIR"
		if ! runuser -u postgres -- test -w "$PG_DIR"; then
			# TMPDIR is not reachable by postgres: use /tmp
			rm -rf "$PG_DIR"
			PG_DIR=$(mktemp -d /tmp/convlog-pg.XXXXXX) || return 1
			chown postgres "$PG_DIR"
			chmod 755 "$PG_DIR"
		fi
	fi
	if ! pg__as_owner "$PG_BINDIR/initdb" -D "$PG_DIR/data" -U postgres -A trust \
		-E UTF8 --locale=C --no-sync --no-instructions >"$PG_DIR/initdb.log" 2>&1; then
		echo "pg.sh: initdb failed:" >&2
		cat "$PG_DIR/initdb.log" >&2
		pg__cleanup
		return 1
	fi
	pg__tries=0
	while :; do
		pg__tries=$((pg__tries + 1))
		PGPORT=$((54320 + $(pg__random) % 1000))
		if pg__port_free "$PGPORT"; then
			cat >>"$PG_DIR/data/postgresql.conf" <<EOF

# tests/pg/pg.sh
port = $PGPORT
listen_addresses = ''
unix_socket_directories = '$PG_DIR'
fsync = off
synchronous_commit = off
full_page_writes = off
shared_buffers = 16MB
max_connections = 40
max_wal_size = 256MB
log_min_messages = warning
EOF
			if pg__as_owner "$PG_BINDIR/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" \
				-w -t 60 start >/dev/null 2>&1; then
				break
			fi
			# a port taken between the check and the start: try another
			pg__as_owner "$PG_BINDIR/pg_ctl" -D "$PG_DIR/data" -m immediate -w stop >/dev/null 2>&1 || :
		fi
		if [ "$pg__tries" -ge 5 ]; then
			echo "pg.sh: the server did not start; its log:" >&2
			cat "$PG_DIR/server.log" >&2 2>/dev/null || :
			pg__cleanup
			return 1
		fi
	done
	PG_PID=$(head -n 1 "$PG_DIR/data/postmaster.pid")
	PGHOST=$PG_DIR
	PGUSER=postgres
	PGDATABASE=convlog
	PSQL=$PG_BINDIR/psql
	PG_URL="postgresql:///$PGDATABASE?host=$PGHOST&port=$PGPORT&user=$PGUSER"
	export PGHOST PGPORT PGUSER PGDATABASE PG_URL PSQL PG_BINDIR PG_DIR PG_PID
	# settings of the caller's environment that would send libpq elsewhere
	unset PGSERVICE PGSERVICEFILE PGHOSTADDR PGPASSWORD PGOPTIONS PGSSLMODE PGTARGETSESSIONATTRS
	if ! "$PSQL" -X -q -d postgres -c 'CREATE DATABASE convlog' >"$PG_DIR/createdb.log" 2>&1; then
		echo "pg.sh: CREATE DATABASE failed:" >&2
		cat "$PG_DIR/createdb.log" >&2
		pg_stop
		return 1
	fi
	return 0
}

# pg_stop: see the top of the file.
pg_stop() {
	[ -n "${PG_DIR:-}" ] || return 0
	if [ -f "$PG_DIR/data/postmaster.pid" ]; then
		if ! pg__as_owner "$PG_BINDIR/pg_ctl" -D "$PG_DIR/data" -m fast -w -t 30 stop >/dev/null 2>&1; then
			pg__pid=$(head -n 1 "$PG_DIR/data/postmaster.pid" 2>/dev/null) || pg__pid=""
			# only our own postmaster: its pid file is in our directory
			if [ -n "$pg__pid" ]; then
				kill -QUIT "$pg__pid" 2>/dev/null || :
				sleep 1
			fi
		fi
	fi
	pg__cleanup
	return 0
}

pg__cleanup() {
	rm -rf "$PG_DIR"
	unset PG_DIR PGHOST PGPORT PGUSER PGDATABASE PG_URL PG_PID
}
