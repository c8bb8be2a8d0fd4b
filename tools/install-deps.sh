#!/bin/sh
# Installs the Debian/Ubuntu packages convlog needs to build and test.
# Quiet when everything is present. As root it runs apt-get; otherwise it
# prints the one command to run and fails.
#
# usage: sh tools/install-deps.sh [bench]
#   bench  also what `make bench` uses: gnuplot-nox for the plots and the
#          fortune files (fortunes pulls in fortunes-min) the workload
#          trains its text model on (bench/workload.c; without them it
#          falls back to synthetic text)
set -eu

PKGS="build-essential pkg-config liblmdb-dev libzstd-dev libxxhash-dev \
libjansson-dev libutf8proc-dev libstemmer-dev check libsqlite3-dev lmdb-utils python3 \
postgresql libpq-dev clang libclang-rt-14-dev cppcheck clang-tidy"
# (lmdb-utils: tests/e2e/repair.sh damages a store with mdb_load; python3:
# tests/e2e/inspect.sh checks JSON output.
# postgresql: the sync server of record; its server binaries (initdb,
# pg_ctl, postgres under /usr/lib/postgresql/<version>/bin) and psql let
# tests/pg/pg.sh start a private server for the sync tests; the package's
# default cluster is not used. libpq-dev: the C client library sync links
# through `pkg-config libpq`.
# clang and libclang-rt-14-dev: `make fuzz` and the fuzz-smoke step of
# `make test` build libFuzzer harnesses; libFuzzer itself
# (libclang_rt.fuzzer-x86_64.a) is in libclang-rt-14-dev, which clang
# only recommends (14 is Debian 12's default clang).
# cppcheck and clang-tidy: `make lint` runs both over lib/.
# SQLite: the tests check search results against FTS5 and the benchmark
# compares against it; the library itself does not link it.)
case "${1:-}" in
bench) PKGS="$PKGS gnuplot-nox fortunes fortunes-de" ;;
"") ;;
*)
	echo "usage: sh tools/install-deps.sh [bench]" >&2
	exit 2
	;;
esac

missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ]; then
	echo "convlog: missing packages:$missing" >&2
	echo "run:  sudo apt-get install -y$missing" >&2
	exit 1
fi
echo "convlog: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get install -y --no-install-recommends $missing >/dev/null 2>&1 || {
	apt-get update >/dev/null 2>&1
	apt-get install -y --no-install-recommends $missing >/dev/null
}
