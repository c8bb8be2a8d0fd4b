-- convlog-pg.sql - the PostgreSQL server of record for convlog sync.
--
-- Load it as a superuser (or a role with CREATEROLE and BYPASSRLS) into the
-- database and schema the replicas will use:
--     psql -v ON_ERROR_STOP=1 -f sql/convlog-pg.sql "$URL"
-- It is one transaction and idempotent: loading it again (for example after
-- an upgrade of this file) keeps the data and replaces the functions, views,
-- policies and grants.  Requires PostgreSQL 15 or later (views with
-- security_invoker).  Objects go to the first schema of the search_path.
--
-- ======================================================================
-- The model
-- ======================================================================
-- Replicas sync state.  Every change carries a stamp (hlc, origin): two
-- UNSIGNED 64-bit integers, hlc = wall_ms << 16 | counter, origin = the
-- replica id.  They are held as numeric(20,0) (domain convlog_u64, 0 ..
-- 18446744073709551615), so that PostgreSQL orders them as the replicas do:
-- (hlc, origin) lexicographically, unsigned.  In every parameter below a
-- stamp is a decimal text such as '18446744073709551615'.
--
-- Conversations: 18 last-writer-wins units, each with its own stamp, kept
-- in two 18-element arrays, unit_hlc and unit_origin; unit k is element
-- k + 1 (PostgreSQL arrays start at 1):
--   0 external_id  1 org_id  2 user_id  3 device_id  4 session_id
--   5 initiator_role  6 responder_role  7 title  8 topic  9 system_prompt
--   10 tags  11 rating  12 parent_id + fork_msg + depth  13 tip_msg
--   14 cursors  15 metadata  16 created_at
--   17 status + prev_status + archived_at + deleted_at
-- A push overwrites a unit only when its stamp is strictly higher than the
-- stored one (an equal stamp keeps the stored value); updated_at and
-- last_activity_at merge by max.  born is the creation stamp (the lower one
-- is kept if two pushes disagree).  A NULL text is "not set", distinct
-- from ''.  jsonb values come back normalized (key order, spacing,
-- duplicate keys dropped, numbers rewritten), so replicas should compare
-- them by value; a replica that needs its JSON back byte for byte (convlog
-- keeps key order, and its canonical number forms) also sends the text
-- (p_metadata_text, p_tool_calls_text): it is stored beside the jsonb (in
-- metadata_text, tool_calls_text) and read back with
-- coalesce(metadata_text, metadata::text).  The jsonb is then derived from
-- the text, with each \u0000 escape (which jsonb cannot hold) read as
-- \ufffd.  Likewise text cannot hold a NUL byte: content with one is
-- sent whole as p_content_raw bytea (stored in content_raw) and in
-- p_content with its NULs removed (what search indexes).
--
-- Messages: born (creation) and ver (the version) stamps.  A push with a
-- higher ver replaces every field of the message (all but id, conv_id and
-- born) wholesale.  The order of a conversation's messages is
-- (born_hlc, born_origin, id); seq is row_number() over it
-- (view convlog_messages_ordered).  user_id is the conversation's owner,
-- copied (and kept equal by a foreign key) for row-level security.
--
-- Purges: a tombstone (conv id, stamp) wins over everything: the push
-- deletes the conversation and its messages, and later pushes of that
-- conversation or its messages are ignored.  Tombstones are kept forever.
--
-- ======================================================================
-- Change ids, and why every push takes one advisory lock
-- ======================================================================
-- Each push that changes something takes the next value of
-- convlog_change_seq.  That value becomes the change_id of the row it
-- changed (a message's change_id is also given to its conversation; a purge's
-- to its tombstone) and a new row of the append-only journal convlog_changes.
-- Pullers ask for "change_id > cursor".  With a sequence alone, ids are
-- handed out when a transaction asks but become visible when it commits, in
-- another order: a puller could see id 8, move its cursor to 8, and never see
-- id 7 committed a moment later.  So every push function first takes the
-- transaction-level advisory lock convlog_push_lock() (key 27988542918258535,
-- 'convlog' in ASCII): pushes are serialized in this database, a change id is
-- only drawn while holding the lock, and the lock is released only after the
-- commit has become visible.  Hence when any change id N is visible, every
-- smaller id is visible too or was rolled back.  The cost is one pusher at a
-- time: keep push transactions short (a batch of pushes in one transaction
-- holds the lock until its COMMIT), and push in READ COMMITTED (the default)
-- so that each statement after the lock sees the previous pusher's commit.
--
-- ======================================================================
-- Functions (all SECURITY INVOKER, so row-level security applies, except
-- convlog_id_state).  From libpq, pass every argument as text with
-- paramTypes NULL: "SELECT convlog_push_conv($1, ..., $31)"; PostgreSQL
-- takes the types from the signature.  A SQL NULL is a NULL parameter.
-- (A bytea may also go as a binary parameter.)
-- ======================================================================
--
-- convlog_push_conv(
--     p_id uuid,
--     p_born_hlc numeric, p_born_origin numeric,
--     p_unit_hlc numeric[], p_unit_origin numeric[],     -- 18 each: '{h0,...,h17}'
--     p_external_id text, p_org_id text, p_user_id text, p_device_id text,
--     p_session_id text, p_initiator_role text, p_responder_role text,
--     p_title text, p_topic text, p_system_prompt text,
--     p_tags text[],              -- '{"a","b \"q\""}'; NULL = '{}'; stored
--                                 -- sorted (bytewise) without duplicates
--     p_rating integer,           -- 0 none, 1..5
--     p_parent_id uuid, p_fork_msg uuid, p_depth integer,
--     p_tip_msg uuid,
--     p_cursors jsonb,            -- object name -> int64, or NULL
--     p_metadata jsonb,           -- object, or NULL
--     p_created_at bigint,        -- ms since the epoch
--     p_status smallint,          -- 1..7 (NULL = 1)
--     p_prev_status smallint,     -- 0..7 or NULL
--     p_archived_at bigint, p_deleted_at bigint,
--     p_updated_at bigint, p_last_activity_at bigint,
--     p_metadata_text text DEFAULT NULL  -- the metadata as JSON text; when
--                                 -- not NULL it is stored as given and
--                                 -- p_metadata is ignored (derived from it)
-- ) RETURNS bigint
--     Inserts the conversation, or merges it unit by unit.  Returns the new
--     change id (> 0) when anything changed, 0 when nothing did, -1 when the
--     conversation is purged (the push is ignored).  Errors: a stamp out of
--     range or an array that is not 18 stamps (22023), a conversation of
--     another user (42501), a row the caller's policies refuse (42501,
--     "new row violates row-level security policy"), a CHECK (23514).
--     When user_id changes (an admin moving a conversation), its messages
--     follow and get the new change id, so that the new owner pulls them.
--
-- convlog_push_msg(
--     p_id uuid, p_conv_id uuid,
--     p_born_hlc numeric, p_born_origin numeric,
--     p_ver_hlc numeric, p_ver_origin numeric,
--     p_parent_id uuid,           -- the parent message; NULL = a root turn
--     p_role text,                -- not NULL
--     p_name text, p_content text, p_tool_calls jsonb, p_tool_call_id text,
--     p_token_count bigint,       -- -1 or NULL = unknown (stored NULL)
--     p_cost bigint,              -- micro-USD; -1 or NULL = unknown
--     p_latency_ms bigint,        -- -1 or NULL = unknown
--     p_model text,
--     p_status smallint,          -- 1 completed, 2 pending, 3 error
--     p_error_message text,
--     p_feedback smallint,        -- -1, 0, 1
--     p_feedback_text text, p_metadata jsonb,
--     p_created_at bigint, p_edited_at bigint,
--     p_tool_calls_text text DEFAULT NULL,  -- JSON text kept as given;
--     p_metadata_text text DEFAULT NULL,    -- each replaces its jsonb twin
--     p_content_raw bytea DEFAULT NULL  -- content holding a NUL byte, whole
-- ) RETURNS bigint
--     Inserts the message, or replaces it when p_ver is higher.  Returns the
--     new change id, 0 when nothing changed (same or lower ver), -1 when the
--     conversation is purged (ignored).  The conversation must have been
--     pushed first: otherwise 23503 (foreign_key_violation); a message of
--     another conversation with the same id: 22023; a conversation of
--     another user: 42501.
--
-- convlog_push_purge(p_conv_id uuid, p_hlc numeric, p_origin numeric,
--                    p_user_id text DEFAULT NULL) RETURNS bigint
--     Deletes the conversation and its messages and records the tombstone.
--     p_user_id is the owner to record when the server never had the
--     conversation (ignored otherwise; a user role must give its own).
--     Returns the new change id, 0 when it was already purged (the first
--     tombstone is kept), 42501 for a conversation of another user.
--
-- Pull, inside ONE transaction so that all calls read one snapshot:
--     BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;
--     SELECT convlog_pull_upto(cursor, 500);          -- upto
--     SELECT * FROM convlog_pull_convs(cursor, upto);
--     SELECT * FROM convlog_pull_msgs(cursor, upto);
--     SELECT * FROM convlog_pull_purges(cursor, upto);
--     COMMIT;                                          -- cursor := upto
-- convlog_pull_upto(p_cursor bigint, p_limit integer DEFAULT NULL) RETURNS bigint
--     The end of the next page: the change id of the p_limit-th conversation
--     or tombstone changed after p_cursor (NULL = no limit: the last one);
--     p_cursor when there is nothing new.
-- convlog_pull_convs(p_cursor bigint, p_upto bigint DEFAULT NULL)
--     RETURNS SETOF convlog_conversations
--     The conversations whose change_id is in (p_cursor, p_upto], ordered by
--     change_id (their last change), with the table's columns:
--       id, born_hlc, born_origin, unit_hlc, unit_origin, external_id,
--       org_id, user_id, device_id, session_id, initiator_role,
--       responder_role, title, topic, system_prompt, tags, rating,
--       parent_id, fork_msg, depth, tip_msg, cursors, metadata, created_at,
--       status, prev_status, archived_at, deleted_at, updated_at,
--       last_activity_at, change_id, metadata_text
--     In text format stamps are decimals, unit_* are '{h0,...,h17}' and
--     tags an array literal ({a,"b c","d\"e"}); a caller that prefers JSON
--     can SELECT *, array_to_json(tags) FROM convlog_pull_convs(...).
-- convlog_pull_msgs(p_cursor bigint, p_upto bigint DEFAULT NULL)
--     RETURNS SETOF convlog_messages_ordered
--     The messages changed after p_cursor of those conversations, ordered by
--     the conversation's change_id, conv_id, seq; columns:
--       id, conv_id, user_id, born_hlc, born_origin, ver_hlc, ver_origin,
--       parent_id, role, name, content, tool_calls, tool_call_id,
--       token_count, cost, latency_ms, model, status, error_message,
--       feedback, feedback_text, metadata, created_at, edited_at,
--       change_id, seq, tool_calls_text, metadata_text, content_raw
-- convlog_pull_purges(p_cursor bigint, p_upto bigint DEFAULT NULL)
--     RETURNS SETOF convlog_tombstones
--     Tombstones with change_id in (p_cursor, p_upto], by change_id; columns:
--       conv_id, purge_hlc, purge_origin, user_id, change_id, purged_at
-- convlog_max_change_id() RETURNS bigint
--     The highest change id the caller can see in convlog_changes (0: none).
-- convlog_server_id() RETURNS text
--     This server's replica id: a random odd 63-bit number made when the file
--     is first loaded and kept by every reload (table convlog_server), as a
--     decimal.  Replicas use it as the peer id of the server, and as the
--     source of the changesets they pull.
--
-- convlog_search(p_query text, p_limit integer DEFAULT 50)
--     RETURNS TABLE(msg_id uuid, conv_id uuid, rank real)
--     Messages whose content matches websearch_to_tsquery('simple', p_query),
--     best first; row-level security applies.  Or query content_tsvector
--     directly: WHERE content_tsvector @@ to_tsquery('simple', ...).
--
-- convlog_grant_user(p_role_name text, p_user_id text) RETURNS void
--     For the admin: creates the role (LOGIN) when missing, grants it the
--     group role convlog_client (which holds every privilege a replica
--     needs) and maps it to user_id.  A role may be mapped to several users.
-- convlog_id_state(p_conv_id uuid) RETURNS text
--     'purged', 'live' or 'none', whoever owns the conversation: SECURITY
--     DEFINER, used by the push functions so that a purge wins for every
--     user.  It tells a caller only whether an id exists.
-- convlog_push_lock() RETURNS void
--     Takes the push lock (above); every push function calls it first.
-- Internal: convlog_check_u64(s numeric[], what text) RETURNS convlog_u64[],
-- convlog_check_units(s numeric[], what text) RETURNS convlog_u64[],
-- convlog_jsonb(p_text text) RETURNS jsonb (JSON text as jsonb, \u0000 read
-- as \ufffd),
-- convlog_journal(p_change_id bigint, p_conv_id uuid, p_user_id text,
-- p_kind text) RETURNS void, convlog_my_user_ids() RETURNS SETOF text (the
-- policies' user ids of current_user), convlog_append_only() RETURNS trigger.
--
-- ======================================================================
-- Row-level security
-- ======================================================================
-- convlog_role_users maps database roles to convlog user ids.  RLS is
-- enabled and FORCED on conversations, messages, tombstones and changes: a
-- role sees, inserts, updates and deletes only rows whose user_id is mapped
-- to current_user, and WITH CHECK keeps it from writing a row for another
-- user or moving a conversation to one.  Rows with a NULL user_id are seen
-- only by roles that bypass RLS: superusers and BYPASSRLS roles (the admin;
-- because RLS is forced, a table owner without BYPASSRLS does not).
-- Replicas should write through the push functions only: direct DML is
-- still held to the policies but bypasses the change feed.

BEGIN;
SET LOCAL client_min_messages = warning;  -- no "already exists, skipping"

-- ----------------------------------------------------------------------
-- Types, roles, sequence
-- ----------------------------------------------------------------------

DO $$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_type t
	               WHERE t.typname = 'convlog_u64'
	                 AND t.typnamespace = (SELECT n.oid FROM pg_namespace n
	                                       WHERE n.nspname = current_schema())) THEN
		CREATE DOMAIN convlog_u64 AS numeric(20, 0)
			CHECK (VALUE >= 0 AND VALUE <= 18446744073709551615);
	END IF;
	IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'convlog_client') THEN
		CREATE ROLE convlog_client NOLOGIN;
	END IF;
END
$$;

CREATE SEQUENCE IF NOT EXISTS convlog_change_seq AS bigint;

-- the server's replica id: made once, never changed by a reload
CREATE TABLE IF NOT EXISTS convlog_server (
	one boolean PRIMARY KEY DEFAULT true CHECK (one),
	id  convlog_u64 NOT NULL CHECK (id > 0)
);
INSERT INTO convlog_server (id)
SELECT ((('x' || right(md5(gen_random_uuid()::text), 16))::bit(64)::bigint
         & 9223372036854775807) | 1)::numeric
WHERE NOT EXISTS (SELECT 1 FROM convlog_server);

-- ----------------------------------------------------------------------
-- Tables
-- ----------------------------------------------------------------------

CREATE TABLE IF NOT EXISTS convlog_role_users (
	role_name text NOT NULL,
	user_id   text NOT NULL,
	PRIMARY KEY (role_name, user_id)
);

CREATE TABLE IF NOT EXISTS convlog_conversations (
	id               uuid PRIMARY KEY,
	born_hlc         convlog_u64 NOT NULL,
	born_origin      convlog_u64 NOT NULL,
	unit_hlc         convlog_u64[] NOT NULL,
	unit_origin      convlog_u64[] NOT NULL,
	external_id      text,
	org_id           text,
	user_id          text,
	device_id        text,
	session_id       text,
	initiator_role   text,
	responder_role   text,
	title            text,
	topic            text,
	system_prompt    text,
	tags             text[] NOT NULL DEFAULT '{}',
	rating           integer NOT NULL DEFAULT 0 CHECK (rating BETWEEN 0 AND 5),
	parent_id        uuid,
	fork_msg         uuid,
	depth            integer NOT NULL DEFAULT 0 CHECK (depth >= 0),
	tip_msg          uuid,
	cursors          jsonb CHECK (cursors IS NULL OR jsonb_typeof(cursors) = 'object'),
	metadata         jsonb CHECK (metadata IS NULL OR jsonb_typeof(metadata) = 'object'),
	created_at       bigint,
	status           smallint NOT NULL DEFAULT 1 CHECK (status BETWEEN 1 AND 7),
	prev_status      smallint CHECK (prev_status IS NULL OR prev_status BETWEEN 0 AND 7),
	archived_at      bigint,
	deleted_at       bigint,
	updated_at       bigint,
	last_activity_at bigint,
	change_id        bigint NOT NULL,
	CONSTRAINT convlog_conversations_units CHECK (
		cardinality(unit_hlc) = 18 AND array_ndims(unit_hlc) = 1
		AND array_lower(unit_hlc, 1) = 1 AND array_position(unit_hlc, NULL) IS NULL
		AND cardinality(unit_origin) = 18 AND array_ndims(unit_origin) = 1
		AND array_lower(unit_origin, 1) = 1 AND array_position(unit_origin, NULL) IS NULL),
	CONSTRAINT convlog_conversations_tags CHECK (array_position(tags, NULL) IS NULL),
	-- the target of the messages' (conv_id, user_id) foreign key
	CONSTRAINT convlog_conversations_id_user UNIQUE (id, user_id)
);

CREATE TABLE IF NOT EXISTS convlog_messages (
	id               uuid PRIMARY KEY,
	conv_id          uuid NOT NULL
	                 REFERENCES convlog_conversations (id) ON DELETE CASCADE,
	user_id          text,
	born_hlc         convlog_u64 NOT NULL,
	born_origin      convlog_u64 NOT NULL,
	ver_hlc          convlog_u64 NOT NULL,
	ver_origin       convlog_u64 NOT NULL,
	parent_id        uuid,
	role             text NOT NULL,
	name             text,
	content          text,
	tool_calls       jsonb,
	tool_call_id     text,
	token_count      bigint CHECK (token_count >= 0),
	cost             bigint CHECK (cost >= 0),
	latency_ms       bigint CHECK (latency_ms >= 0),
	model            text,
	status           smallint NOT NULL DEFAULT 1 CHECK (status BETWEEN 1 AND 3),
	error_message    text,
	feedback         smallint NOT NULL DEFAULT 0 CHECK (feedback BETWEEN -1 AND 1),
	feedback_text    text,
	metadata         jsonb,
	created_at       bigint,
	edited_at        bigint,
	change_id        bigint NOT NULL,
	content_tsvector tsvector
	                 GENERATED ALWAYS AS (to_tsvector('simple'::regconfig, coalesce(content, ''))) STORED,
	-- user_id is always the conversation's (NULL only with a NULL owner)
	CONSTRAINT convlog_messages_conv_user FOREIGN KEY (conv_id, user_id)
		REFERENCES convlog_conversations (id, user_id)
		ON UPDATE CASCADE ON DELETE CASCADE
);

CREATE TABLE IF NOT EXISTS convlog_tombstones (
	conv_id     uuid PRIMARY KEY,
	purge_hlc   convlog_u64 NOT NULL,
	purge_origin convlog_u64 NOT NULL,
	user_id     text,
	change_id   bigint NOT NULL,
	purged_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS convlog_changes (
	change_id bigint PRIMARY KEY,
	conv_id   uuid NOT NULL,
	user_id   text,
	kind      text NOT NULL CHECK (kind IN ('conv', 'msg', 'purge')),
	at        timestamptz NOT NULL DEFAULT now()
);

-- the exact JSON text and content a replica pushed (see the header)
ALTER TABLE convlog_conversations ADD COLUMN IF NOT EXISTS metadata_text text;
ALTER TABLE convlog_messages ADD COLUMN IF NOT EXISTS tool_calls_text text;
ALTER TABLE convlog_messages ADD COLUMN IF NOT EXISTS metadata_text text;
ALTER TABLE convlog_messages ADD COLUMN IF NOT EXISTS content_raw bytea;

CREATE INDEX IF NOT EXISTS convlog_conversations_change ON convlog_conversations (change_id);
CREATE INDEX IF NOT EXISTS convlog_conversations_user ON convlog_conversations (user_id, change_id);
CREATE INDEX IF NOT EXISTS convlog_conversations_external ON convlog_conversations (external_id);
CREATE INDEX IF NOT EXISTS convlog_conversations_parent ON convlog_conversations (parent_id);
CREATE INDEX IF NOT EXISTS convlog_messages_order
	ON convlog_messages (conv_id, born_hlc, born_origin, id);
CREATE INDEX IF NOT EXISTS convlog_messages_change ON convlog_messages (change_id);
CREATE INDEX IF NOT EXISTS convlog_messages_user ON convlog_messages (user_id);
CREATE INDEX IF NOT EXISTS convlog_messages_conv_user ON convlog_messages (conv_id, user_id);
CREATE INDEX IF NOT EXISTS convlog_messages_search
	ON convlog_messages USING gin (content_tsvector);
CREATE INDEX IF NOT EXISTS convlog_tombstones_change ON convlog_tombstones (change_id);
CREATE INDEX IF NOT EXISTS convlog_tombstones_user ON convlog_tombstones (user_id, change_id);
CREATE INDEX IF NOT EXISTS convlog_changes_user ON convlog_changes (user_id, change_id);
CREATE INDEX IF NOT EXISTS convlog_changes_conv ON convlog_changes (conv_id);

-- The seq of the sync model: a message's rank in its conversation by born
-- stamp, then id (uuid compares as its 16 bytes).
CREATE OR REPLACE VIEW convlog_messages_ordered WITH (security_invoker = true) AS
SELECT m.id, m.conv_id, m.user_id, m.born_hlc, m.born_origin, m.ver_hlc,
       m.ver_origin, m.parent_id, m.role, m.name, m.content, m.tool_calls,
       m.tool_call_id, m.token_count, m.cost, m.latency_ms, m.model, m.status,
       m.error_message, m.feedback, m.feedback_text, m.metadata, m.created_at,
       m.edited_at, m.change_id,
       row_number() OVER (PARTITION BY m.conv_id
                          ORDER BY m.born_hlc, m.born_origin, m.id) AS seq,
       m.tool_calls_text, m.metadata_text, m.content_raw
FROM convlog_messages m;

-- ----------------------------------------------------------------------
-- Append-only journal and tombstones
-- ----------------------------------------------------------------------

CREATE OR REPLACE FUNCTION convlog_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION '% is append-only', TG_TABLE_NAME
		USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE OR REPLACE TRIGGER convlog_changes_append_only
	BEFORE UPDATE OR DELETE ON convlog_changes
	FOR EACH ROW EXECUTE FUNCTION convlog_append_only();
CREATE OR REPLACE TRIGGER convlog_changes_no_truncate
	BEFORE TRUNCATE ON convlog_changes
	FOR EACH STATEMENT EXECUTE FUNCTION convlog_append_only();
CREATE OR REPLACE TRIGGER convlog_tombstones_append_only
	BEFORE UPDATE OR DELETE ON convlog_tombstones
	FOR EACH ROW EXECUTE FUNCTION convlog_append_only();
CREATE OR REPLACE TRIGGER convlog_tombstones_no_truncate
	BEFORE TRUNCATE ON convlog_tombstones
	FOR EACH STATEMENT EXECUTE FUNCTION convlog_append_only();

-- ----------------------------------------------------------------------
-- Row-level security
-- ----------------------------------------------------------------------

-- The user ids mapped to the current role.
CREATE OR REPLACE FUNCTION convlog_my_user_ids() RETURNS SETOF text
LANGUAGE sql STABLE AS $$
	SELECT ru.user_id FROM convlog_role_users ru WHERE ru.role_name = current_user
$$;

ALTER TABLE convlog_role_users ENABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS convlog_role_users_own ON convlog_role_users;
CREATE POLICY convlog_role_users_own ON convlog_role_users
	FOR SELECT USING (role_name = current_user);

ALTER TABLE convlog_conversations ENABLE ROW LEVEL SECURITY;
ALTER TABLE convlog_conversations FORCE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS convlog_conversations_own ON convlog_conversations;
CREATE POLICY convlog_conversations_own ON convlog_conversations
	USING (user_id IN (SELECT convlog_my_user_ids()))
	WITH CHECK (user_id IN (SELECT convlog_my_user_ids()));

ALTER TABLE convlog_messages ENABLE ROW LEVEL SECURITY;
ALTER TABLE convlog_messages FORCE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS convlog_messages_own ON convlog_messages;
CREATE POLICY convlog_messages_own ON convlog_messages
	USING (user_id IN (SELECT convlog_my_user_ids()))
	WITH CHECK (user_id IN (SELECT convlog_my_user_ids()));

ALTER TABLE convlog_tombstones ENABLE ROW LEVEL SECURITY;
ALTER TABLE convlog_tombstones FORCE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS convlog_tombstones_own ON convlog_tombstones;
CREATE POLICY convlog_tombstones_own ON convlog_tombstones
	USING (user_id IN (SELECT convlog_my_user_ids()))
	WITH CHECK (user_id IN (SELECT convlog_my_user_ids()));

ALTER TABLE convlog_changes ENABLE ROW LEVEL SECURITY;
ALTER TABLE convlog_changes FORCE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS convlog_changes_own ON convlog_changes;
CREATE POLICY convlog_changes_own ON convlog_changes
	USING (user_id IN (SELECT convlog_my_user_ids()))
	WITH CHECK (user_id IN (SELECT convlog_my_user_ids()));

-- ----------------------------------------------------------------------
-- Helpers
-- ----------------------------------------------------------------------

CREATE OR REPLACE FUNCTION convlog_push_lock() RETURNS void
LANGUAGE sql VOLATILE AS $$
	SELECT pg_advisory_xact_lock(27988542918258535)
$$;

-- Whether a conversation id is purged, live or unknown, whoever owns it.
CREATE OR REPLACE FUNCTION convlog_id_state(p_conv_id uuid) RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER AS $$
	SELECT CASE
		WHEN EXISTS (SELECT 1 FROM convlog_tombstones t WHERE t.conv_id = p_conv_id) THEN 'purged'
		WHEN EXISTS (SELECT 1 FROM convlog_conversations c WHERE c.id = p_conv_id) THEN 'live'
		ELSE 'none'
	END
$$;
-- a SECURITY DEFINER function must not follow the caller's search_path
DO $$
BEGIN
	EXECUTE format('ALTER FUNCTION convlog_id_state(uuid) SET search_path = pg_catalog, %I, pg_temp',
	               current_schema());
END
$$;

-- Raises 22023 unless s is a valid stamp array (18 non-NULL values).
CREATE OR REPLACE FUNCTION convlog_check_units(s numeric[], what text) RETURNS convlog_u64[]
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
	IF s IS NULL OR cardinality(s) <> 18 OR array_ndims(s) <> 1
	   OR array_position(s, NULL) IS NOT NULL THEN
		RAISE EXCEPTION 'convlog: % must be 18 stamps, not %', what, s
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	RETURN convlog_check_u64(s, what);
END
$$;

-- Raises 22023 unless every value of s is a u64.
CREATE OR REPLACE FUNCTION convlog_check_u64(s numeric[], what text) RETURNS convlog_u64[]
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
	v numeric;
BEGIN
	FOREACH v IN ARRAY s LOOP
		IF v IS NULL OR v < 0 OR v > 18446744073709551615 OR v <> trunc(v) THEN
			RAISE EXCEPTION 'convlog: % is not an unsigned 64-bit stamp: %', what, v
				USING ERRCODE = 'invalid_parameter_value';
		END IF;
	END LOOP;
	RETURN s::convlog_u64[];
END
$$;

-- JSON text as jsonb; jsonb cannot hold U+0000, so a \u0000 escape becomes
-- \ufffd (the text, stored beside it, keeps it).  Invalid JSON raises 22P02.
CREATE OR REPLACE FUNCTION convlog_jsonb(p_text text) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
	SELECT replace(p_text, E'\\u0000', E'\\ufffd')::jsonb
$$;

CREATE OR REPLACE FUNCTION convlog_server_id() RETURNS text
LANGUAGE sql STABLE SECURITY INVOKER AS $$
	SELECT s.id::text FROM convlog_server s
$$;

-- Appends a change to the journal (after the row it describes is written,
-- so that a refused row is reported on its own table).
CREATE OR REPLACE FUNCTION convlog_journal(p_change_id bigint, p_conv_id uuid,
                                           p_user_id text, p_kind text)
RETURNS void
LANGUAGE sql VOLATILE AS $$
	INSERT INTO convlog_changes (change_id, conv_id, user_id, kind)
	VALUES (p_change_id, p_conv_id, p_user_id, p_kind)
$$;

-- ----------------------------------------------------------------------
-- Push
-- ----------------------------------------------------------------------

-- the signatures before the JSON text parameters
DROP FUNCTION IF EXISTS convlog_push_conv(uuid, numeric, numeric, numeric[], numeric[],
	text, text, text, text, text, text, text, text, text, text, text[], integer,
	uuid, uuid, integer, uuid, jsonb, jsonb, bigint, smallint, smallint, bigint, bigint,
	bigint, bigint);
DROP FUNCTION IF EXISTS convlog_push_msg(uuid, uuid, numeric, numeric, numeric, numeric,
	uuid, text, text, text, jsonb, text, bigint, bigint, bigint, text, smallint, text,
	smallint, text, jsonb, bigint, bigint);

CREATE OR REPLACE FUNCTION convlog_push_conv(
	p_id uuid,
	p_born_hlc numeric, p_born_origin numeric,
	p_unit_hlc numeric[], p_unit_origin numeric[],
	p_external_id text, p_org_id text, p_user_id text, p_device_id text,
	p_session_id text, p_initiator_role text, p_responder_role text,
	p_title text, p_topic text, p_system_prompt text,
	p_tags text[], p_rating integer,
	p_parent_id uuid, p_fork_msg uuid, p_depth integer,
	p_tip_msg uuid, p_cursors jsonb, p_metadata jsonb, p_created_at bigint,
	p_status smallint, p_prev_status smallint, p_archived_at bigint, p_deleted_at bigint,
	p_updated_at bigint, p_last_activity_at bigint, p_metadata_text text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY INVOKER AS $$
DECLARE
	born convlog_u64[];
	uh convlog_u64[];
	uo convlog_u64[];
	v_tags text[];
	r convlog_conversations%ROWTYPE;
	w boolean[] := array_fill(false, ARRAY[18]);
	nh convlog_u64[];
	nor convlog_u64[];
	changed boolean := false;
	cid bigint;
	i integer;
	v_meta jsonb := p_metadata;
BEGIN
	PERFORM convlog_push_lock();
	IF p_id IS NULL THEN
		RAISE EXCEPTION 'convlog: conversation id is NULL' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF p_metadata_text IS NOT NULL THEN
		v_meta := convlog_jsonb(p_metadata_text);
	END IF;
	born := convlog_check_u64(ARRAY[p_born_hlc, p_born_origin], 'born');
	uh := convlog_check_units(p_unit_hlc, 'unit_hlc');
	uo := convlog_check_units(p_unit_origin, 'unit_origin');
	SELECT coalesce(array_agg(DISTINCT t COLLATE "C" ORDER BY t COLLATE "C"), '{}') INTO v_tags
	FROM unnest(p_tags) AS t;

	IF convlog_id_state(p_id) = 'purged' THEN
		RETURN -1;
	END IF;
	SELECT * INTO r FROM convlog_conversations c WHERE c.id = p_id FOR UPDATE;
	IF NOT FOUND THEN
		IF convlog_id_state(p_id) = 'live' THEN
			RAISE EXCEPTION 'convlog: conversation % belongs to another user', p_id
				USING ERRCODE = 'insufficient_privilege';
		END IF;
		cid := nextval('convlog_change_seq');
		INSERT INTO convlog_conversations (
			id, born_hlc, born_origin, unit_hlc, unit_origin,
			external_id, org_id, user_id, device_id, session_id,
			initiator_role, responder_role, title, topic, system_prompt,
			tags, rating, parent_id, fork_msg, depth, tip_msg, cursors, metadata,
			created_at, status, prev_status, archived_at, deleted_at,
			updated_at, last_activity_at, change_id, metadata_text)
		VALUES (
			p_id, born[1], born[2], uh, uo,
			p_external_id, p_org_id, p_user_id, p_device_id, p_session_id,
			p_initiator_role, p_responder_role, p_title, p_topic, p_system_prompt,
			v_tags, coalesce(p_rating, 0), p_parent_id, p_fork_msg, coalesce(p_depth, 0),
			p_tip_msg, p_cursors, v_meta,
			p_created_at, coalesce(p_status, 1), p_prev_status, p_archived_at, p_deleted_at,
			p_updated_at, p_last_activity_at, cid, p_metadata_text);
		PERFORM convlog_journal(cid, p_id, p_user_id, 'conv');
		RETURN cid;
	END IF;

	nh := r.unit_hlc;
	nor := r.unit_origin;
	FOR i IN 1..18 LOOP
		IF (uh[i], uo[i]) > (r.unit_hlc[i], r.unit_origin[i]) THEN
			w[i] := true;
			nh[i] := uh[i];
			nor[i] := uo[i];
			changed := true;
		END IF;
	END LOOP;
	IF (born[1], born[2]) < (r.born_hlc, r.born_origin)
	   OR p_updated_at > coalesce(r.updated_at, p_updated_at - 1)
	   OR p_last_activity_at > coalesce(r.last_activity_at, p_last_activity_at - 1) THEN
		changed := true;
	END IF;
	IF NOT changed THEN
		RETURN 0;
	END IF;

	cid := nextval('convlog_change_seq');
	UPDATE convlog_conversations c SET
		born_hlc = CASE WHEN (born[1], born[2]) < (c.born_hlc, c.born_origin) THEN born[1] ELSE c.born_hlc END,
		born_origin = CASE WHEN (born[1], born[2]) < (c.born_hlc, c.born_origin) THEN born[2] ELSE c.born_origin END,
		unit_hlc = nh,
		unit_origin = nor,
		external_id = CASE WHEN w[1] THEN p_external_id ELSE c.external_id END,
		org_id = CASE WHEN w[2] THEN p_org_id ELSE c.org_id END,
		user_id = CASE WHEN w[3] THEN p_user_id ELSE c.user_id END,
		device_id = CASE WHEN w[4] THEN p_device_id ELSE c.device_id END,
		session_id = CASE WHEN w[5] THEN p_session_id ELSE c.session_id END,
		initiator_role = CASE WHEN w[6] THEN p_initiator_role ELSE c.initiator_role END,
		responder_role = CASE WHEN w[7] THEN p_responder_role ELSE c.responder_role END,
		title = CASE WHEN w[8] THEN p_title ELSE c.title END,
		topic = CASE WHEN w[9] THEN p_topic ELSE c.topic END,
		system_prompt = CASE WHEN w[10] THEN p_system_prompt ELSE c.system_prompt END,
		tags = CASE WHEN w[11] THEN v_tags ELSE c.tags END,
		rating = CASE WHEN w[12] THEN coalesce(p_rating, 0) ELSE c.rating END,
		parent_id = CASE WHEN w[13] THEN p_parent_id ELSE c.parent_id END,
		fork_msg = CASE WHEN w[13] THEN p_fork_msg ELSE c.fork_msg END,
		depth = CASE WHEN w[13] THEN coalesce(p_depth, 0) ELSE c.depth END,
		tip_msg = CASE WHEN w[14] THEN p_tip_msg ELSE c.tip_msg END,
		cursors = CASE WHEN w[15] THEN p_cursors ELSE c.cursors END,
		metadata = CASE WHEN w[16] THEN v_meta ELSE c.metadata END,
		metadata_text = CASE WHEN w[16] THEN p_metadata_text ELSE c.metadata_text END,
		created_at = CASE WHEN w[17] THEN p_created_at ELSE c.created_at END,
		status = CASE WHEN w[18] THEN coalesce(p_status, 1) ELSE c.status END,
		prev_status = CASE WHEN w[18] THEN p_prev_status ELSE c.prev_status END,
		archived_at = CASE WHEN w[18] THEN p_archived_at ELSE c.archived_at END,
		deleted_at = CASE WHEN w[18] THEN p_deleted_at ELSE c.deleted_at END,
		updated_at = greatest(c.updated_at, p_updated_at),
		last_activity_at = greatest(c.last_activity_at, p_last_activity_at),
		change_id = cid
	WHERE c.id = p_id;
	IF w[3] AND r.user_id IS DISTINCT FROM p_user_id THEN
		-- moved to another owner: its messages follow and are pulled anew
		UPDATE convlog_messages m SET user_id = p_user_id, change_id = cid
		WHERE m.conv_id = p_id;
	END IF;
	PERFORM convlog_journal(cid, p_id, CASE WHEN w[3] THEN p_user_id ELSE r.user_id END, 'conv');
	RETURN cid;
END
$$;

CREATE OR REPLACE FUNCTION convlog_push_msg(
	p_id uuid, p_conv_id uuid,
	p_born_hlc numeric, p_born_origin numeric,
	p_ver_hlc numeric, p_ver_origin numeric,
	p_parent_id uuid, p_role text, p_name text, p_content text,
	p_tool_calls jsonb, p_tool_call_id text,
	p_token_count bigint, p_cost bigint, p_latency_ms bigint, p_model text,
	p_status smallint, p_error_message text, p_feedback smallint, p_feedback_text text,
	p_metadata jsonb, p_created_at bigint, p_edited_at bigint,
	p_tool_calls_text text DEFAULT NULL, p_metadata_text text DEFAULT NULL,
	p_content_raw bytea DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY INVOKER AS $$
DECLARE
	st convlog_u64[];
	c convlog_conversations%ROWTYPE;
	r convlog_messages%ROWTYPE;
	cid bigint;
	newer boolean;
	older_born boolean;
	v_calls jsonb := p_tool_calls;
	v_meta jsonb := p_metadata;
BEGIN
	PERFORM convlog_push_lock();
	IF p_id IS NULL OR p_conv_id IS NULL THEN
		RAISE EXCEPTION 'convlog: message or conversation id is NULL'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF p_tool_calls_text IS NOT NULL THEN
		v_calls := convlog_jsonb(p_tool_calls_text);
	END IF;
	IF p_metadata_text IS NOT NULL THEN
		v_meta := convlog_jsonb(p_metadata_text);
	END IF;
	st := convlog_check_u64(ARRAY[p_born_hlc, p_born_origin, p_ver_hlc, p_ver_origin], 'message stamp');
	IF convlog_id_state(p_conv_id) = 'purged' THEN
		RETURN -1;
	END IF;
	SELECT * INTO c FROM convlog_conversations cv WHERE cv.id = p_conv_id FOR UPDATE;
	IF NOT FOUND THEN
		IF convlog_id_state(p_conv_id) = 'live' THEN
			RAISE EXCEPTION 'convlog: conversation % belongs to another user', p_conv_id
				USING ERRCODE = 'insufficient_privilege';
		END IF;
		RAISE EXCEPTION 'convlog: message % of conversation %, which the server does not have: push the conversation first',
			p_id, p_conv_id USING ERRCODE = 'foreign_key_violation';
	END IF;

	SELECT * INTO r FROM convlog_messages m WHERE m.id = p_id FOR UPDATE;
	IF NOT FOUND THEN
		cid := nextval('convlog_change_seq');
		INSERT INTO convlog_messages (
			id, conv_id, user_id, born_hlc, born_origin, ver_hlc, ver_origin,
			parent_id, role, name, content, tool_calls, tool_call_id,
			token_count, cost, latency_ms, model, status, error_message,
			feedback, feedback_text, metadata, created_at, edited_at, change_id,
			tool_calls_text, metadata_text, content_raw)
		VALUES (
			p_id, p_conv_id, c.user_id, st[1], st[2], st[3], st[4],
			p_parent_id, p_role, p_name, p_content, v_calls, p_tool_call_id,
			CASE WHEN p_token_count >= 0 THEN p_token_count END,
			CASE WHEN p_cost >= 0 THEN p_cost END,
			CASE WHEN p_latency_ms >= 0 THEN p_latency_ms END,
			p_model, coalesce(p_status, 1), p_error_message,
			coalesce(p_feedback, 0), p_feedback_text, v_meta, p_created_at, p_edited_at, cid,
			p_tool_calls_text, p_metadata_text, p_content_raw);
	ELSE
		IF r.conv_id <> p_conv_id THEN
			RAISE EXCEPTION 'convlog: message % belongs to conversation %, not %', p_id, r.conv_id, p_conv_id
				USING ERRCODE = 'invalid_parameter_value';
		END IF;
		newer := (st[3], st[4]) > (r.ver_hlc, r.ver_origin);
		older_born := (st[1], st[2]) < (r.born_hlc, r.born_origin);
		IF NOT newer AND NOT older_born THEN
			RETURN 0;
		END IF;
		cid := nextval('convlog_change_seq');
		IF older_born THEN
			UPDATE convlog_messages m SET born_hlc = st[1], born_origin = st[2]
			WHERE m.id = p_id;
		END IF;
		IF newer THEN
			UPDATE convlog_messages m SET
				ver_hlc = st[3], ver_origin = st[4],
				parent_id = p_parent_id, role = p_role, name = p_name, content = p_content,
				tool_calls = v_calls, tool_call_id = p_tool_call_id,
				token_count = CASE WHEN p_token_count >= 0 THEN p_token_count END,
				cost = CASE WHEN p_cost >= 0 THEN p_cost END,
				latency_ms = CASE WHEN p_latency_ms >= 0 THEN p_latency_ms END,
				model = p_model, status = coalesce(p_status, 1),
				error_message = p_error_message, feedback = coalesce(p_feedback, 0),
				feedback_text = p_feedback_text, metadata = v_meta,
				created_at = p_created_at, edited_at = p_edited_at,
				tool_calls_text = p_tool_calls_text, metadata_text = p_metadata_text,
				content_raw = p_content_raw
			WHERE m.id = p_id;
		END IF;
		UPDATE convlog_messages m SET change_id = cid WHERE m.id = p_id;
	END IF;
	UPDATE convlog_conversations cv SET change_id = cid WHERE cv.id = p_conv_id;
	PERFORM convlog_journal(cid, p_conv_id, c.user_id, 'msg');
	RETURN cid;
END
$$;

CREATE OR REPLACE FUNCTION convlog_push_purge(
	p_conv_id uuid, p_hlc numeric, p_origin numeric, p_user_id text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY INVOKER AS $$
DECLARE
	st convlog_u64[];
	v_owner text;
	v_state text;
	cid bigint;
BEGIN
	PERFORM convlog_push_lock();
	IF p_conv_id IS NULL THEN
		RAISE EXCEPTION 'convlog: conversation id is NULL' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	st := convlog_check_u64(ARRAY[p_hlc, p_origin], 'purge stamp');
	v_state := convlog_id_state(p_conv_id);
	IF v_state = 'purged' THEN
		RETURN 0;
	END IF;
	IF v_state = 'live' THEN
		SELECT c.user_id INTO v_owner FROM convlog_conversations c WHERE c.id = p_conv_id FOR UPDATE;
		IF NOT FOUND THEN
			RAISE EXCEPTION 'convlog: conversation % belongs to another user', p_conv_id
				USING ERRCODE = 'insufficient_privilege';
		END IF;
		DELETE FROM convlog_conversations c WHERE c.id = p_conv_id;  -- and its messages
	ELSE
		v_owner := p_user_id;
	END IF;
	cid := nextval('convlog_change_seq');
	INSERT INTO convlog_tombstones (conv_id, purge_hlc, purge_origin, user_id, change_id)
	VALUES (p_conv_id, st[1], st[2], v_owner, cid);
	PERFORM convlog_journal(cid, p_conv_id, v_owner, 'purge');
	RETURN cid;
END
$$;

-- ----------------------------------------------------------------------
-- Pull
-- ----------------------------------------------------------------------

CREATE OR REPLACE FUNCTION convlog_pull_upto(p_cursor bigint, p_limit integer DEFAULT NULL)
RETURNS bigint
LANGUAGE sql STABLE SECURITY INVOKER AS $$
	SELECT coalesce(max(s.change_id), p_cursor)
	FROM (SELECT u.change_id
	      FROM (SELECT c.change_id FROM convlog_conversations c WHERE c.change_id > p_cursor
	            UNION ALL
	            SELECT t.change_id FROM convlog_tombstones t WHERE t.change_id > p_cursor) u
	      ORDER BY u.change_id
	      LIMIT p_limit) s
$$;

CREATE OR REPLACE FUNCTION convlog_pull_convs(p_cursor bigint, p_upto bigint DEFAULT NULL)
RETURNS SETOF convlog_conversations
LANGUAGE sql STABLE SECURITY INVOKER AS $$
	SELECT c.* FROM convlog_conversations c
	WHERE c.change_id > p_cursor AND (p_upto IS NULL OR c.change_id <= p_upto)
	ORDER BY c.change_id
$$;

CREATE OR REPLACE FUNCTION convlog_pull_msgs(p_cursor bigint, p_upto bigint DEFAULT NULL)
RETURNS SETOF convlog_messages_ordered
LANGUAGE sql STABLE SECURITY INVOKER AS $$
	SELECT o.id, o.conv_id, o.user_id, o.born_hlc, o.born_origin, o.ver_hlc,
	       o.ver_origin, o.parent_id, o.role, o.name, o.content, o.tool_calls,
	       o.tool_call_id, o.token_count, o.cost, o.latency_ms, o.model, o.status,
	       o.error_message, o.feedback, o.feedback_text, o.metadata, o.created_at,
	       o.edited_at, o.change_id, o.seq, o.tool_calls_text, o.metadata_text, o.content_raw
	FROM (SELECT m.*, c.change_id AS conv_change,
	             row_number() OVER (PARTITION BY m.conv_id
	                                ORDER BY m.born_hlc, m.born_origin, m.id) AS seq
	      FROM convlog_messages m
	      JOIN convlog_conversations c ON c.id = m.conv_id
	      WHERE c.change_id > p_cursor AND (p_upto IS NULL OR c.change_id <= p_upto)) o
	WHERE o.change_id > p_cursor
	ORDER BY o.conv_change, o.conv_id, o.seq
$$;

CREATE OR REPLACE FUNCTION convlog_pull_purges(p_cursor bigint, p_upto bigint DEFAULT NULL)
RETURNS SETOF convlog_tombstones
LANGUAGE sql STABLE SECURITY INVOKER AS $$
	SELECT t.* FROM convlog_tombstones t
	WHERE t.change_id > p_cursor AND (p_upto IS NULL OR t.change_id <= p_upto)
	ORDER BY t.change_id
$$;

CREATE OR REPLACE FUNCTION convlog_max_change_id() RETURNS bigint
LANGUAGE sql STABLE SECURITY INVOKER AS $$
	SELECT coalesce(max(ch.change_id), 0) FROM convlog_changes ch
$$;

CREATE OR REPLACE FUNCTION convlog_search(p_query text, p_limit integer DEFAULT 50)
RETURNS TABLE (msg_id uuid, conv_id uuid, rank real)
LANGUAGE sql STABLE SECURITY INVOKER AS $$
	SELECT m.id, m.conv_id, ts_rank(m.content_tsvector, q)
	FROM convlog_messages m, websearch_to_tsquery('simple', p_query) q
	WHERE m.content_tsvector @@ q
	ORDER BY 3 DESC, m.id
	LIMIT p_limit
$$;

-- ----------------------------------------------------------------------
-- Users
-- ----------------------------------------------------------------------

CREATE OR REPLACE FUNCTION convlog_grant_user(p_role_name text, p_user_id text)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY INVOKER AS $$
DECLARE
	rr pg_roles%ROWTYPE;
BEGIN
	IF p_role_name IS NULL OR p_role_name = '' OR p_user_id IS NULL THEN
		RAISE EXCEPTION 'convlog: convlog_grant_user needs a role name and a user id'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	SELECT * INTO rr FROM pg_roles WHERE rolname = p_role_name;
	IF NOT FOUND THEN
		EXECUTE format('CREATE ROLE %I LOGIN', p_role_name);
	ELSIF rr.rolsuper OR rr.rolbypassrls THEN
		RAISE WARNING 'convlog: role % bypasses row-level security: it sees every user', p_role_name;
	END IF;
	EXECUTE format('GRANT convlog_client TO %I', p_role_name);
	INSERT INTO convlog_role_users (role_name, user_id) VALUES (p_role_name, p_user_id)
	ON CONFLICT DO NOTHING;
END
$$;

-- ----------------------------------------------------------------------
-- Privileges: everything a replica needs goes to convlog_client
-- ----------------------------------------------------------------------

DO $$
DECLARE
	f regprocedure;
BEGIN
	EXECUTE format('GRANT USAGE ON SCHEMA %I TO convlog_client', current_schema());
	FOR f IN SELECT p.oid::regprocedure FROM pg_proc p
	         WHERE p.pronamespace = (SELECT n.oid FROM pg_namespace n
	                                 WHERE n.nspname = current_schema())
	           AND p.proname LIKE 'convlog\_%' LOOP
		EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', f);
		IF f::text NOT LIKE 'convlog_grant_user(%' THEN
			EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO convlog_client', f);
		END IF;
	END LOOP;
END
$$;
GRANT SELECT, INSERT, UPDATE, DELETE ON convlog_conversations, convlog_messages TO convlog_client;
GRANT SELECT, INSERT ON convlog_tombstones, convlog_changes TO convlog_client;
GRANT SELECT ON convlog_role_users, convlog_messages_ordered, convlog_server TO convlog_client;
GRANT USAGE, SELECT ON SEQUENCE convlog_change_seq TO convlog_client;

COMMIT;
