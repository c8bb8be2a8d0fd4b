/*
 * convlog.h - embedded storage engine for AI conversation history.
 *
 * This header is the whole public interface of libconvlog and its manual.
 *
 * ========================================================================
 * CONCEPTS
 * ========================================================================
 *
 * Store.  A directory holding one convlog database:
 *     STORE/meta/       LMDB environment (materialised state, indexes)
 *     STORE/segments/   the append-only log; message bodies live here
 *     STORE/LOCK        writer lock (flock)
 * One process at a time may open a store for writing; any number of
 * processes may open it read-only (CONVLOG_OPEN_READONLY).
 *
 * Conversation.  A container of message turns with descriptive fields
 * (owner, tenant, titles, tags, JSON metadata, ...), a lifecycle status and
 * aggregates kept current on every append (message_count, token_total,
 * cost_total, last_activity_at).  Identified by a 128-bit UUID (generated
 * as UUIDv7 or supplied by the application) and optionally by a unique
 * external_id string.
 *
 * Message (turn).  Belongs to one conversation and has a 1-based, dense
 * sequence number `seq` in append order.  Messages are immutable in the
 * log: convlog_msg_supersede() writes a new version that replaces the old
 * one for every reader (used to complete a streamed "pending" turn, record
 * feedback or edit content).
 *
 * Lifecycle.  A conversation's status follows:
 *     active -> inactive_timeout | inactive_user_terminated |
 *               inactive_system_terminated | completed
 *     inactive_* | completed -> active (explicitly, or by a new message)
 *     inactive_* | completed -> archived
 *     archived -> active                          (explicit unarchive)
 *     any -> deleted (soft, restorable) -> previous status (restore)
 * active -> archived directly is refused; convlog_conv_archive() passes
 * through inactive_user_terminated in one atomic step.
 *
 * Transactions.  Every write call is atomic on its own.  To batch, begin a
 * write transaction, pass it to the write calls, and commit: all of its
 * changes become durable and visible together, or not at all.  One write
 * transaction is open at a time per store; convlog_txn_begin() waits for
 * the current one to finish.  Commits of concurrent threads share log
 * syncs (group commit).
 *
 * Durability (convlog_options_set_durability):
 *   CONVLOG_DURABILITY_FULL    commit returns after the log is fdatasync'ed.
 *   CONVLOG_DURABILITY_NORMAL  the log is synced at least every
 *                              sync_interval_ms; a crash may lose the
 *                              commits of that last interval, never more,
 *                              and never leaves a partial transaction.
 *   CONVLOG_DURABILITY_OFF     synced on close / convlog_checkpoint only.
 * In FULL mode readers see a commit once it is durable; in NORMAL and OFF
 * modes as soon as it is written.
 *
 * A full disk.  A commit whose log write meets it fails with
 * CONVLOG_ENOSPC and changes nothing; the handle stays usable, reads go
 * on, and the same handle commits again once there is room.  A memtable
 * flush that meets it (or any flush failure) loses nothing -- the log
 * holds every commit -- and the background thread retries it; meanwhile
 * commits go on until the memtables are full, then a write is refused
 * with the flush's error before it changes anything.  A failed fsync is
 * different: the handle is failed (CONVLOG_EFAILED) until reopened.
 *
 * Reads.  Every read call sees a consistent snapshot of committed data
 * taken when the call (or the iterator) starts.  Iterators keep their
 * snapshot until freed; free them promptly, a live iterator pins memory.
 * Each open iterator or read in progress holds one of the store's 1024
 * LMDB reader slots, shared by every process that has it open; when none
 * is left a read fails with CONVLOG_EBUSY.  Slots of processes that died
 * are reclaimed (by a writer's open, and when the slots run out).  An open
 * iterator also holds up a growth of the LMDB map (see
 * convlog_options_set_map_size).
 *
 * ========================================================================
 * CONVENTIONS
 * ========================================================================
 *
 * Status codes.  Every function that can fail returns int: 0 on success,
 * a negative CONVLOG_E* code on failure, and iterators return the
 * positive CONVLOG_DONE at their end.  convlog_strerror() names a code;
 * convlog_errmsg() gives the calling thread's detailed message of its last
 * failed call ("message 17 of conversation 0190...: content is not valid
 * UTF-8 at byte 4012").  A failed call changes nothing in the store.
 *
 * Ownership.  Inputs are borrowed for the duration of the call and copied
 * as needed.  Objects returned through `**out` belong to the caller, who
 * frees them with the matching convlog_*_free (all accept NULL).  Pointers
 * handed out by iterators are borrowed and valid until the next call on
 * that iterator or its free.
 *
 * Text.  Every text field is UTF-8 and is validated; strings are
 * NUL-terminated except message content, which carries an explicit length
 * (and may contain U+0000).  JSON fields (metadata, tool_calls) are
 * validated and stored in compact form with key order preserved;
 * duplicate keys and integers beyond 64 bits are rejected.
 *
 * Timestamps are milliseconds since the Unix epoch, UTC.  0 means "not
 * set" (or "now" where a call documents it).
 *
 * Thread safety.  A convlog_db handle may be used from any number of
 * threads at once.  A convlog_txn, iterator or options object must be used
 * by one thread at a time.  Functions that need no handle are thread-safe.
 *
 * Limits (CONVLOG_MAX_*, and the table under "Limits" below) are enforced
 * on every write with CONVLOG_ETOOBIG; the refused call changes nothing.
 */
#ifndef CONVLOG_H
#define CONVLOG_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(CONVLOG_BUILDING) && defined(__GNUC__)
#define CONVLOG_API __attribute__((visibility("default")))
#else
#define CONVLOG_API
#endif

/* ---------------------------------------------------------------------- */
/* Version                                                                */
/* ---------------------------------------------------------------------- */

#define CONVLOG_VERSION_MAJOR 0
#define CONVLOG_VERSION_MINOR 4
#define CONVLOG_VERSION_PATCH 0
#define CONVLOG_VERSION_STRING "0.4.0"
#define CONVLOG_VERSION_NUMBER \
	(CONVLOG_VERSION_MAJOR * 10000 + CONVLOG_VERSION_MINOR * 100 + \
	 CONVLOG_VERSION_PATCH)

/** The library's version string, e.g. "0.4.0". Static; thread-safe. */
CONVLOG_API const char *convlog_version(void);

/* ---------------------------------------------------------------------- */
/* Status codes (values are pinned; new codes are added at the end)       */
/* ---------------------------------------------------------------------- */

#define CONVLOG_OK 0
#define CONVLOG_DONE 1           /* iterator exhausted */
#define CONVLOG_EINVAL (-1)      /* invalid argument */
#define CONVLOG_ENOMEM (-2)      /* out of memory */
#define CONVLOG_EIO (-3)         /* I/O error from the operating system */
#define CONVLOG_ECORRUPT (-4)    /* stored data failed a check */
#define CONVLOG_ENOTFOUND (-5)   /* no such conversation / message / store */
#define CONVLOG_EEXIST (-6)      /* id or external_id already in use */
#define CONVLOG_EUTF8 (-7)       /* text is not valid UTF-8 */
#define CONVLOG_EJSON (-8)       /* malformed JSON or wrong JSON type */
#define CONVLOG_ESTATUS (-9)     /* unknown status value or name */
#define CONVLOG_ETRANSITION (-10) /* lifecycle transition not allowed */
#define CONVLOG_ETOOBIG (-11)    /* a value or transaction exceeds a limit */
#define CONVLOG_ELOCKED (-12)    /* store is open for writing elsewhere */
#define CONVLOG_EREADONLY (-13)  /* write on a read-only handle */
#define CONVLOG_EVERSION (-14)   /* unsupported on-disk format version */
#define CONVLOG_ENOSPC (-15)     /* disk full */
#define CONVLOG_ETXN (-16)       /* transaction misuse */
#define CONVLOG_EFAILED (-17)    /* handle failed earlier (sync error); reopen */
#define CONVLOG_ERANGE (-18)     /* number out of its allowed range */
#define CONVLOG_ESEQ (-19)       /* message sequence number out of order */
#define CONVLOG_ECANCELED (-20)  /* a progress callback asked to stop */
#define CONVLOG_ESCOPE (-21)     /* whole-store call on a scoped handle */
#define CONVLOG_EBUSY (-22)      /* a shared resource is exhausted or held
				  * (LMDB reader slots; readers that kept a
				  * map resize waiting); retry later */

/** Static English name of a status code ("invalid argument"). Never NULL. */
CONVLOG_API const char *convlog_strerror(int code);

/**
 * Detailed message of the calling thread's last failed convlog call.
 * Empty string when the last call succeeded.  The buffer is per-thread and
 * valid until the thread's next convlog call.  Never NULL.
 */
CONVLOG_API const char *convlog_errmsg(void);

/* ---------------------------------------------------------------------- */
/* Limits                                                                 */
/* ---------------------------------------------------------------------- */

#define CONVLOG_MAX_CONTENT (64u << 20)      /* hard cap on content bytes */
#define CONVLOG_DEFAULT_MAX_CONTENT (16u << 20)
#define CONVLOG_MAX_SHORT_TEXT 1024u         /* ids, roles, names, model... */
#define CONVLOG_MAX_TITLE 65536u             /* title, topic, error_message */
#define CONVLOG_MAX_SYSTEM_PROMPT (1u << 20)
#define CONVLOG_MAX_CONV_METADATA (1u << 20) /* conversation metadata JSON */
#define CONVLOG_MAX_MSG_JSON (16u << 20)     /* message metadata, tool_calls */
#define CONVLOG_MAX_TAGS 256u
#define CONVLOG_MAX_TAG 256u                 /* bytes per tag */
#define CONVLOG_MAX_CURSORS 64u
#define CONVLOG_MAX_CURSOR_NAME 64u
#define CONVLOG_MAX_TXN_BYTES (512u << 20)   /* encoded records per txn */
#define CONVLOG_MAX_SEQ 0x7fffffffu          /* messages per conversation */

/*
 * Every size limit in one place.  Bytes are UTF-8 (or compact JSON) bytes;
 * "refused" means CONVLOG_ETOOBIG unless another code is named, and a
 * refused call changes nothing (inside a transaction, the transaction
 * stays usable).
 *
 *   What                               Limit                       Refused
 *   ---------------------------------  --------------------------  ---------
 *   message content                    max_content option: 1 B ..  ETOOBIG
 *                                      CONVLOG_MAX_CONTENT (64 MiB),
 *                                      default 16 MiB; 0 B allowed
 *   message metadata, tool_calls       CONVLOG_MAX_MSG_JSON 16 MiB ETOOBIG
 *                                      each (as given and compact)
 *   role, name, tool_call_id, model    CONVLOG_MAX_SHORT_TEXT      ETOOBIG
 *                                      1024 (role also non-empty)
 *   error_message, feedback_text       CONVLOG_MAX_TITLE 64 KiB    ETOOBIG
 *   messages per conversation          CONVLOG_MAX_SEQ 2^31-1      ETOOBIG
 *                                      (seqs a fork inherits count)
 *   external_id, org_id, user_id,      CONVLOG_MAX_SHORT_TEXT      ETOOBIG
 *   device_id, session_id,             1024 each (external_id
 *   initiator_role, responder_role     non-empty)
 *   title, topic                       CONVLOG_MAX_TITLE 64 KiB    ETOOBIG
 *   system_prompt                      CONVLOG_MAX_SYSTEM_PROMPT   ETOOBIG
 *                                      1 MiB
 *   conversation metadata              CONVLOG_MAX_CONV_METADATA   ETOOBIG
 *                                      1 MiB (as given and compact)
 *   tags per conversation              CONVLOG_MAX_TAGS 256,       ETOOBIG
 *                                      counted as given (before
 *                                      duplicates are dropped)
 *   one tag                            1 .. CONVLOG_MAX_TAG 256    ETOOBIG
 *   cursors per conversation, name     CONVLOG_MAX_CURSORS 64,     ETOOBIG
 *                                      name 1 .. 64
 *   fork depth                         63 (a chain of 64)          ETOOBIG
 *   one transaction (explicit or not)  CONVLOG_MAX_TXN_BYTES       ETOOBIG
 *                                      512 MiB of encoded records;
 *                                      its log block at most 1 GiB
 *                                      compressed, 65535 frames
 *   conversations per store            no fixed limit (16-byte     -
 *                                      keys, 64-bit counters): the
 *                                      LMDB map bounds it
 *   LMDB map (materialised state)      starts at the map_size      ENOMEM or
 *                                      option, grows by itself up  ENOSPC when
 *                                      to 16 TiB or what the       it cannot
 *                                      address space allows        grow
 *   log segment                        segment_size option 1 MiB   EINVAL
 *                                      .. 4 GiB (32-bit offsets);  (option)
 *                                      compacted ones 3 GiB
 *   log segments over a store's life   2^32 (32-bit ids, never     ETOOBIG
 *                                      reused)
 *   reader slots (open iterators and   1024 per store, all         EBUSY
 *   snapshots, reads of read-only      processes together
 *   handles)
 *   search query                       4096 bytes, nesting 64,     ETOOBIG
 *                                      phrase 64 words; 1..1000
 *                                      hits per page (EINVAL)
 *   sync changeset                     2^32-1 items and 4 GiB of   ETOOBIG
 *                                      items: split larger exports
 *                                      (sync_export_part)
 *   store path                         4032 bytes                  EINVAL
 */

/* ---------------------------------------------------------------------- */
/* UUIDs                                                                  */
/* ---------------------------------------------------------------------- */

/** A 128-bit identifier, bytes in RFC 9562 (network) order. All-zero = nil. */
typedef struct convlog_uuid {
	unsigned char bytes[16];
} convlog_uuid;

/** Length of the canonical text form plus the NUL: 36 + 1. */
#define CONVLOG_UUID_STRLEN 37

/**
 * Parses canonical 8-4-4-4-12 hex (either case) into *out.
 * Returns 0, or CONVLOG_EINVAL when `text` is not a UUID. Thread-safe.
 */
CONVLOG_API int convlog_uuid_parse(const char *text, convlog_uuid *out);

/** Writes the lowercase canonical form of `id` and a NUL into `out`. */
CONVLOG_API void convlog_uuid_format(const convlog_uuid *id,
				     char out[CONVLOG_UUID_STRLEN]);

/** 1 when every byte of `id` is zero, else 0. */
CONVLOG_API int convlog_uuid_is_nil(const convlog_uuid *id);

/**
 * Generates a time-ordered UUIDv7 (48-bit ms timestamp, random rest).
 * Returns 0, or CONVLOG_EIO if the system random source fails. Thread-safe.
 */
CONVLOG_API int convlog_uuid_generate(convlog_uuid *out);

/* ---------------------------------------------------------------------- */
/* Enumerations                                                           */
/* ---------------------------------------------------------------------- */

/* Conversation status.  Values are stored on disk: pinned. */
#define CONVLOG_STATUS_ACTIVE 1
#define CONVLOG_STATUS_INACTIVE_TIMEOUT 2
#define CONVLOG_STATUS_INACTIVE_USER_TERMINATED 3
#define CONVLOG_STATUS_INACTIVE_SYSTEM_TERMINATED 4
#define CONVLOG_STATUS_COMPLETED 5
#define CONVLOG_STATUS_ARCHIVED 6
#define CONVLOG_STATUS_DELETED 7

/** "active", "inactive_timeout", ...; NULL for an unknown value. */
CONVLOG_API const char *convlog_status_name(int status);

/** Parses a status name into *out. CONVLOG_ESTATUS if unknown. */
CONVLOG_API int convlog_status_parse(const char *name, int *out);

/* Message status.  Values are stored on disk: pinned. */
#define CONVLOG_MSG_COMPLETED 1
#define CONVLOG_MSG_PENDING 2
#define CONVLOG_MSG_ERROR 3

/** "completed", "pending", "error"; NULL for an unknown value. */
CONVLOG_API const char *convlog_msg_status_name(int status);

/** Parses a message status name into *out. CONVLOG_ESTATUS if unknown. */
CONVLOG_API int convlog_msg_status_parse(const char *name, int *out);

/* ---------------------------------------------------------------------- */
/* Records                                                                */
/* ---------------------------------------------------------------------- */

/** One named resume point of a conversation (e.g. "client" -> 1234). */
typedef struct convlog_cursor {
	const char *name; /* 1..CONVLOG_MAX_CURSOR_NAME bytes of UTF-8 */
	int64_t value;
} convlog_cursor;

#define CONVLOG_CONV_VERSION 1

/**
 * A conversation.  As input (create, put, patch) every pointer is borrowed
 * for the call; NULL means absent.  As output (convlog_conv_get) the
 * struct and everything it points to is one allocation owned by the
 * caller and freed with convlog_conv_free().
 *
 * Initialise input structs with convlog_conv_init(): it sets `version` and
 * the defaults.  Fields marked (derived) are maintained by convlog and
 * ignored on input.
 */
typedef struct convlog_conv {
	unsigned int version;       /* CONVLOG_CONV_VERSION */
	convlog_uuid id;            /* nil on create: a UUIDv7 is generated */
	const char *external_id;    /* application's own id; unique */
	const char *org_id;         /* tenant */
	const char *user_id;        /* owner; NULL for system-initiated */
	const char *device_id;      /* where it started */
	const char *session_id;     /* groups conversations of a session */
	const char *initiator_role; /* agent-to-agent: asking assistant */
	const char *responder_role; /* agent-to-agent: answering assistant */
	const char *title;
	const char *topic;
	const char *system_prompt;
	int status;                 /* CONVLOG_STATUS_*; create: 0 = active */
	int prev_status;            /* (derived) status before deletion */
	const char *const *tags;    /* set of tags; duplicates are removed */
	size_t n_tags;
	int rating;                 /* 1..5, 0 = none */
	convlog_uuid parent_id;     /* forked from; nil = root */
	uint32_t fork_seq;          /* parent message it forks at; 0 = none */
	uint32_t depth;             /* 0 for a root conversation */
	uint32_t tip_seq;           /* leaf of the active thread; 0 = none */
	const convlog_cursor *cursors; /* named resume points; unique names */
	size_t n_cursors;
	const char *metadata;       /* JSON object text */
	int64_t created_at;         /* create: 0 = now */
	int64_t updated_at;         /* (derived unless put) last change */
	int64_t last_activity_at;   /* (derived unless put) last message */
	int64_t archived_at;        /* (derived unless put) set while archived */
	int64_t deleted_at;         /* (derived unless put) set while deleted */
	uint64_t message_count;     /* (derived) */
	int64_t token_total;        /* (derived) sum of known token counts */
	int64_t cost_total;         /* (derived) micro-USD, sum of known costs */
	int64_t last_message_at;    /* (derived) latest created_at of its own
	                               messages; 0 = none */
} convlog_conv;

/** Sets `c` to an empty input record: version, status active, all absent. */
CONVLOG_API void convlog_conv_init(convlog_conv *c);

/** Frees a conversation returned by convlog. Accepts NULL. */
CONVLOG_API void convlog_conv_free(convlog_conv *c);

/* Field masks for convlog_conv_patch(). */
#define CONVLOG_CONV_EXTERNAL_ID (1ull << 0)
#define CONVLOG_CONV_ORG_ID (1ull << 1)
#define CONVLOG_CONV_USER_ID (1ull << 2)
#define CONVLOG_CONV_DEVICE_ID (1ull << 3)
#define CONVLOG_CONV_SESSION_ID (1ull << 4)
#define CONVLOG_CONV_INITIATOR_ROLE (1ull << 5)
#define CONVLOG_CONV_RESPONDER_ROLE (1ull << 6)
#define CONVLOG_CONV_TITLE (1ull << 7)
#define CONVLOG_CONV_TOPIC (1ull << 8)
#define CONVLOG_CONV_SYSTEM_PROMPT (1ull << 9)
#define CONVLOG_CONV_TAGS (1ull << 10)
#define CONVLOG_CONV_RATING (1ull << 11)
#define CONVLOG_CONV_PARENT (1ull << 12) /* parent_id, fork_seq and depth */
#define CONVLOG_CONV_TIP_SEQ (1ull << 13)
#define CONVLOG_CONV_CURSORS (1ull << 14) /* replaces the whole map */
#define CONVLOG_CONV_METADATA (1ull << 15)
#define CONVLOG_CONV_CREATED_AT (1ull << 16)
#define CONVLOG_CONV_ALL ((1ull << 17) - 1)

#define CONVLOG_MSG_VERSION 1

/** parent_seq value meaning "the conversation's tip" (default on append). */
#define CONVLOG_PARENT_TIP UINT32_MAX

/**
 * A message.  Same ownership rules as convlog_conv; initialise inputs with
 * convlog_msg_init().  Unknown usage figures are -1.
 */
typedef struct convlog_msg {
	unsigned int version;       /* CONVLOG_MSG_VERSION */
	convlog_uuid id;            /* nil on append: a UUIDv7 is generated */
	convlog_uuid conv_id;       /* conversation it belongs to (required) */
	uint32_t seq;               /* 1-based; append: 0 = next */
	uint32_t parent_seq;        /* previous turn; 0 = root of a tree;
	                               append: CONVLOG_PARENT_TIP = the tip */
	const char *role;           /* "user", "assistant", "tool", app roles */
	const char *name;           /* author or function name */
	const char *content;        /* UTF-8, content_len bytes; may be NULL
	                               when content_len is 0 */
	size_t content_len;
	const char *tool_calls;     /* JSON value (usually an array) */
	const char *tool_call_id;
	int64_t token_count;        /* -1 = unknown */
	int64_t cost;               /* integer micro-USD; -1 = unknown */
	int64_t latency_ms;         /* -1 = unknown */
	const char *model;
	int status;                 /* CONVLOG_MSG_*; 0 on append = completed */
	const char *error_message;
	int feedback;               /* -1, 0 (none), +1 */
	const char *feedback_text;
	const char *metadata;       /* JSON object text */
	int64_t created_at;         /* append: 0 = now */
	int64_t edited_at;          /* set by supersede; 0 = never edited */
} convlog_msg;

/** Sets `m` to an empty input: version, parent = tip, usage unknown. */
CONVLOG_API void convlog_msg_init(convlog_msg *m);

/** Frees a message returned by convlog. Accepts NULL. */
CONVLOG_API void convlog_msg_free(convlog_msg *m);

/* Field masks for convlog_msg_supersede(). */
#define CONVLOG_MSG_ROLE (1ull << 0)
#define CONVLOG_MSG_NAME (1ull << 1)
#define CONVLOG_MSG_CONTENT (1ull << 2)
#define CONVLOG_MSG_TOOL_CALLS (1ull << 3)
#define CONVLOG_MSG_TOOL_CALL_ID (1ull << 4)
#define CONVLOG_MSG_TOKEN_COUNT (1ull << 5)
#define CONVLOG_MSG_COST (1ull << 6)
#define CONVLOG_MSG_LATENCY (1ull << 7)
#define CONVLOG_MSG_MODEL (1ull << 8)
#define CONVLOG_MSG_STATUS (1ull << 9)
#define CONVLOG_MSG_ERROR_MESSAGE (1ull << 10)
#define CONVLOG_MSG_FEEDBACK (1ull << 11)      /* feedback and its text */
#define CONVLOG_MSG_METADATA (1ull << 12)
#define CONVLOG_MSG_EDITED_AT (1ull << 13)     /* explicit edited_at */
#define CONVLOG_MSG_ALL ((1ull << 14) - 1)

/* ---------------------------------------------------------------------- */
/* Options                                                                */
/* ---------------------------------------------------------------------- */

typedef struct convlog_options convlog_options;

#define CONVLOG_DURABILITY_FULL 0
#define CONVLOG_DURABILITY_NORMAL 1
#define CONVLOG_DURABILITY_OFF 2

/* Flags for convlog_options_set_open_flags(). */
#define CONVLOG_OPEN_CREATE 0x1   /* create the store if missing (default) */
/* No writes; may run in another process beside a writer.  A read-only
 * handle sees the store as of its open, and moves to the writer's state
 * each time the writer has flushed its memtable since (every flush
 * interval, checkpoint or close). */
#define CONVLOG_OPEN_READONLY 0x2

/** Log severity passed to a log callback. */
#define CONVLOG_LOG_WARN 1
#define CONVLOG_LOG_INFO 2

/**
 * Receives the library's diagnostics (recovery truncations, background
 * errors).  Called from whichever thread noticed the event; must be
 * thread-safe and must not call back into convlog.
 */
typedef void (*convlog_log_fn)(void *ud, int level, const char *message);

/**
 * Allocates an options object with defaults:
 *   durability FULL, sync interval 100 ms, open flags CREATE,
 *   segment size 64 MiB, memtable 32 MiB, flush interval 5000 ms,
 *   block cache 32 MiB, frame size 32 KiB, zstd level 3,
 *   max content 16 MiB, LMDB map 1 TiB to start (virtual), no log callback.
 * Returns 0 or CONVLOG_ENOMEM.  Free with convlog_options_free().
 */
CONVLOG_API int convlog_options_new(convlog_options **out);
CONVLOG_API void convlog_options_free(convlog_options *opts);

/** CONVLOG_DURABILITY_*; CONVLOG_EINVAL otherwise. */
CONVLOG_API int convlog_options_set_durability(convlog_options *opts,
					       int mode);
/** NORMAL mode's sync period, 1..60000 ms. */
CONVLOG_API int convlog_options_set_sync_interval_ms(convlog_options *opts,
						     uint32_t ms);
/** CONVLOG_OPEN_* flags. */
CONVLOG_API int convlog_options_set_open_flags(convlog_options *opts,
					       unsigned flags);
/** Segment roll-over size, 1 MiB .. 4 GiB. */
CONVLOG_API int convlog_options_set_segment_size(convlog_options *opts,
						 uint64_t bytes);
/**
 * Memtable size that triggers a flush to LMDB, 64 KiB .. 1 GiB.  Memory
 * held by unflushed state is bounded by about three times this value (the
 * active memtable plus up to two being flushed; a commit that would exceed
 * that waits for a flush), plus the transaction being committed.
 */
CONVLOG_API int convlog_options_set_memtable_size(convlog_options *opts,
						  uint64_t bytes);
/** Age at which a non-empty memtable is flushed, 10 .. 3600000 ms. */
CONVLOG_API int convlog_options_set_flush_interval_ms(convlog_options *opts,
						      uint32_t ms);
/** Decompressed-frame cache, 0 (none) .. 16 GiB. */
CONVLOG_API int convlog_options_set_block_cache_size(convlog_options *opts,
						     uint64_t bytes);
/**
 * Target uncompressed size of one compressed frame inside a block,
 * 4 KiB .. 1 MiB.  Smaller frames make random reads cheaper, larger ones
 * compress better.
 */
CONVLOG_API int convlog_options_set_frame_size(convlog_options *opts,
					       uint32_t bytes);
/** zstd level for log blocks, 1..19. */
CONVLOG_API int convlog_options_set_compression_level(convlog_options *opts,
						      int level);
/** Largest accepted message content, 1 .. CONVLOG_MAX_CONTENT bytes. */
CONVLOG_API int convlog_options_set_max_content(convlog_options *opts,
						uint32_t bytes);
/**
 * Initial size of the LMDB map (address space reserved, not disk), 1 MiB ..
 * 16 TiB.  It is where the map starts, not a cap: when the materialised
 * state outgrows it, the write that found it full (a flush, compaction,
 * index merge, reindex or repair) grows the map -- doubling it, or less
 * where the address space is short, up to 16 TiB -- and runs again.  The
 * map can only be replaced while no read of this handle is open, so a
 * growth waits up to a second for open iterators and snapshots to end,
 * then gives up with CONVLOG_EBUSY (nothing is lost: a flush is retried
 * later from the log).  Read-only handles in other processes adopt the
 * larger map at their next read, by the same rule.  Where the process
 * cannot reserve the size asked for it starts with less (down to
 * 256 MiB), and a store whose data is already larger starts at twice its
 * size.
 */
CONVLOG_API int convlog_options_set_map_size(convlog_options *opts,
					     uint64_t bytes);
/**
 * Stemming of the full-text index, chosen when a store is created:
 * "none" (the default; NULL means the same) or a Snowball language known
 * to libstemmer ("english", "french", "german", "spanish", "russian", ...).
 * With stemming, "running" and "runs" both match a search for "run";
 * prefix queries are never stemmed.  A store keeps the language it was
 * created with: opening an existing store with a different explicit
 * setting fails with CONVLOG_EINVAL (convlog reindex --stemming changes
 * it).  CONVLOG_EINVAL for an unknown language.
 */
CONVLOG_API int convlog_options_set_stemming(convlog_options *opts,
					     const char *language);
/** Diagnostics callback; NULL to disable. */
CONVLOG_API int convlog_options_set_log(convlog_options *opts,
					convlog_log_fn fn, void *ud);

#define CONVLOG_LIFECYCLE_VERSION 1

/*
 * Lifecycle policies, applied by convlog_lifecycle_sweep().  Each period
 * is in milliseconds; 0 turns the policy off.  "Activity" is
 * last_activity_at.
 */
typedef struct convlog_lifecycle {
	unsigned int version;       /* CONVLOG_LIFECYCLE_VERSION */
	int64_t inactive_after_ms;  /* active with no activity for this long:
				     * -> inactive_timeout */
	int64_t archive_after_ms;   /* inactive_* or completed with no activity
				     * for this long: -> archived */
	int64_t purge_after_ms;     /* deleted (deleted_at) this long ago:
				     * purged for good (convlog_conv_purge) */
	int64_t max_age_ms;         /* created this long ago: soft-deleted, so
				     * purge_after_ms then applies */
} convlog_lifecycle;

/** Sets `p` to version set and every policy off. */
CONVLOG_API void convlog_lifecycle_init(convlog_lifecycle *p);

/**
 * Sets the lifecycle policies of handles opened with these options (a
 * copy is taken).  CONVLOG_EINVAL for a NULL policy, another version or a
 * negative period.
 */
CONVLOG_API int convlog_options_set_lifecycle(convlog_options *opts,
					      const convlog_lifecycle *p);

/**
 * Runs a background compactor in handles opened (for writing) with these
 * options: every `interval_ms` (0 = off, the default; at least 10) it
 * applies the lifecycle policies (convlog_lifecycle_sweep) and then a
 * compaction pass (convlog_compact without flags) over the segments that
 * qualify, writing at most `io_bytes_per_sec` (0 = unlimited) so that
 * foreground appends and reads keep their latency.  Unlike
 * convlog_compact(), a background pass does not force a memtable flush:
 * it takes only segments the regular flushes already covered (except
 * after a purge, which it erases at once).  Closing the handle stops a
 * pass in progress (what it finished stays).  Failures go to the log
 * callback.  CONVLOG_EINVAL for an interval below 10 ms.
 */
CONVLOG_API int convlog_options_set_compactor(convlog_options *opts, uint32_t interval_ms,
					      uint64_t io_bytes_per_sec);

/* ---------------------------------------------------------------------- */
/* Store                                                                  */
/* ---------------------------------------------------------------------- */

typedef struct convlog_db convlog_db;

/**
 * Opens (and with CONVLOG_OPEN_CREATE, creates) the store at `path`.
 * `opts` may be NULL for defaults; it is copied.  Recovery runs here: the
 * log after the last flush is replayed; a torn or corrupt block at the very
 * end of the newest segment is truncated and reported through the log
 * callback and convlog_stats().
 *
 * Errors: CONVLOG_ENOTFOUND (no store and no CREATE), CONVLOG_ELOCKED
 * (another process has it open for writing), CONVLOG_EVERSION (written by
 * an incompatible format version), CONVLOG_ECORRUPT (damage other than a
 * torn tail; the message names the file and offset), CONVLOG_EIO,
 * CONVLOG_ENOMEM, CONVLOG_EBUSY (every LMDB reader slot taken by live
 * readers).  On error *out is NULL.
 */
CONVLOG_API int convlog_open(const char *path, const convlog_options *opts,
			     convlog_db **out);

/**
 * Closes the store: waits for background work, flushes the memtable to
 * LMDB, syncs, releases the lock and frees `db`.  Failures while flushing
 * lose nothing (the log stays authoritative) and are reported through the
 * log callback.  No other call may use `db` during or after close; open
 * iterators must be freed first.  Accepts NULL.
 */
CONVLOG_API void convlog_close(convlog_db *db);

/**
 * Scoped handles (row-level security).  Opens a handle on `db` that sees
 * and changes only the conversations whose org_id equals `org_id` and
 * whose user_id equals `user_id` (a NULL one matches any; at least one is
 * required).  *out is a convlog_db pointer that every call below accepts;
 * close it with convlog_close(), before `db` and after the transactions
 * and iterators made through it.  It shares the store, its writer, its
 * caches and its background work: opening one costs an allocation.
 *
 * Through a scoped handle:
 *  - a conversation outside the scope does not exist: every call naming
 *    one (get, get_by_external, msg_get, msg_get_by_id, msg_range,
 *    msg_thread, msg_children, get_cursor, patch, set_status, archive,
 *    delete, restore, purge, append, supersede, set_tip, fork, replay,
 *    set/clear_cursor) fails with CONVLOG_ENOTFOUND and the message it
 *    would give for an id that never existed;
 *  - listings (conv_list, search, session summaries, usage, sync_feed)
 *    return only the scope's conversations; conv_list uses the user or
 *    org index when the filter names neither;
 *  - convlog_stats_get counts the scope's conversations (deleted ones
 *    too) and their own messages, reading them; every store-wide figure
 *    (content_bytes, segments, bytes, LSNs, counters) is 0;
 *  - writes stay inside: a new conversation without org_id / user_id
 *    gets the scope's; one that would lie outside it (created, put,
 *    patched or forked with another owner) fails with CONVLOG_EINVAL and
 *    changes nothing; an id taken by a conversation outside the scope
 *    fails like an unknown id, except that create reports it taken
 *    (CONVLOG_EEXIST), as it does an external_id used outside the scope:
 *    both are unique across the store;
 *  - sync_export and sync_export_part carry the scope's conversations and
 *    no tombstones (a tombstone does not record whose conversation it
 *    was); sync_apply takes the scope's conversations of a changeset,
 *    counts the rest (and its tombstones) as `ignored`, and leaves the
 *    peer's cursor where it was;
 *  - a fork reads the prefix it inherits even when the parent lies
 *    outside the scope (that prefix is part of the fork);
 *  - whole-store calls (checkpoint, sync, compact, verify, repair,
 *    inspect, log_scan, reindex, index_merge, lifecycle_sweep,
 *    sync_status, sync_push_pg / sync_pull_pg) fail with CONVLOG_ESCOPE:
 *    use the unscoped handle.
 *
 * Thread-safe like the handle it comes from.  Errors: CONVLOG_EINVAL (no
 * org_id and no user_id, an empty one, `db` not a handle), CONVLOG_ESCOPE
 * (`db` is scoped already), CONVLOG_ETOOBIG (longer than
 * CONVLOG_MAX_SHORT_TEXT), CONVLOG_EUTF8, CONVLOG_ENOMEM.
 */
CONVLOG_API int convlog_scope_open(convlog_db *db, const char *org_id, const char *user_id,
				   convlog_db **out);

/**
 * Makes every commit so far durable (log sync) and flushes the memtable to
 * LMDB, so the next open replays nothing.  Thread-safe.
 * Errors: CONVLOG_EIO, CONVLOG_ENOSPC, CONVLOG_EFAILED, CONVLOG_EREADONLY,
 * CONVLOG_EBUSY (the LMDB map had to grow and this process's iterators
 * stayed open), CONVLOG_ENOMEM (no address space for a larger map).  A
 * failed flush loses nothing and is retried.
 */
CONVLOG_API int convlog_checkpoint(convlog_db *db);

/** Makes every commit so far durable (log sync only). Thread-safe. */
CONVLOG_API int convlog_sync(convlog_db *db);

/* ---------------------------------------------------------------------- */
/* Write transactions                                                     */
/* ---------------------------------------------------------------------- */

typedef struct convlog_txn convlog_txn;

/**
 * Begins a write transaction, waiting while another one is open.  Write
 * calls that receive this txn are applied to it: they see each other's
 * effects and become durable and visible together at convlog_txn_commit().
 * The txn must be used by the thread that began it (it holds the store's
 * writer lock) and ended with commit or abort.
 *
 * Errors: CONVLOG_EREADONLY, CONVLOG_EFAILED, CONVLOG_ENOMEM, and
 * CONVLOG_EIO / CONVLOG_ENOSPC while the memtable is full and flushing it
 * to LMDB keeps failing (nothing is written; retry later).
 */
CONVLOG_API int convlog_txn_begin(convlog_db *db, convlog_txn **out);

/**
 * Commits and frees `txn`.  Returns once the commit is durable as the
 * store's durability mode promises.  On error nothing of the txn is
 * visible or durable, and the txn is freed all the same.
 *
 * A write call that fails inside the txn because of its arguments or the
 * store's state (EINVAL, EUTF8, EJSON, ESTATUS, ETRANSITION, ETOOBIG,
 * EEXIST, ENOTFOUND, ESEQ, ERANGE) changed nothing and the txn stays
 * usable.  After any other failure (ENOMEM, EIO, ECORRUPT half-way through
 * applying a change) the txn is marked failed: later calls with it return
 * CONVLOG_ETXN and so does its commit; abort it.
 * Errors: CONVLOG_ETXN, CONVLOG_EIO, CONVLOG_ENOSPC, CONVLOG_EFAILED.
 */
CONVLOG_API int convlog_txn_commit(convlog_txn *txn);

/** Discards and frees `txn`. Accepts NULL. */
CONVLOG_API void convlog_txn_abort(convlog_txn *txn);

/* ---------------------------------------------------------------------- */
/* Conversations: writes                                                  */
/*                                                                        */
/* Every write takes `txn`: NULL makes the call a transaction of its own.   */
/* Common errors: CONVLOG_EINVAL, CONVLOG_EUTF8, CONVLOG_EJSON,             */
/* CONVLOG_ETOOBIG, CONVLOG_ENOTFOUND, CONVLOG_EREADONLY, CONVLOG_EFAILED,  */
/* CONVLOG_EIO, CONVLOG_ENOSPC, CONVLOG_ENOMEM.                             */
/* ---------------------------------------------------------------------- */

/**
 * Creates a conversation from `in` (see convlog_conv_init()).  A nil id
 * gets a UUIDv7; created_at 0 means now; status 0 means active (any
 * status but deleted may be given).  Derived fields are ignored except
 * that updated_at and last_activity_at start at created_at.  The id is
 * written to *out_id when out_id is not NULL.
 * Extra errors: CONVLOG_EEXIST (id or external_id in use), CONVLOG_ESTATUS,
 * CONVLOG_ERANGE (rating), CONVLOG_ENOTFOUND (parent_id unknown).
 */
CONVLOG_API int convlog_conv_create(convlog_db *db, convlog_txn *txn,
				    const convlog_conv *in,
				    convlog_uuid *out_id);

/**
 * Creates or replaces conversation in->id with exactly the given fields,
 * timestamps and status included, bypassing lifecycle rules: the
 * primitive behind import and restore from backups.  Aggregates stay
 * derived from the messages, and last_activity_at never goes below the
 * conversation's latest message.  tip_seq may not exceed the message
 * count; an existing conversation's parent_id and fork_seq cannot change.
 * Extra errors: CONVLOG_EEXIST (external_id used by another conversation).
 */
CONVLOG_API int convlog_conv_put(convlog_db *db, convlog_txn *txn,
				 const convlog_conv *in);

/**
 * Changes the fields selected by `mask` (CONVLOG_CONV_*) to their values
 * in `fields`; a NULL string or zero number in a selected field clears
 * it.  CONVLOG_CONV_CURSORS replaces the whole cursor map.  Sets
 * updated_at to now.  Patching a deleted conversation is refused
 * (CONVLOG_ETRANSITION).
 */
CONVLOG_API int convlog_conv_patch(convlog_db *db, convlog_txn *txn,
				   const convlog_uuid *id,
				   const convlog_conv *fields, uint64_t mask);

/**
 * Moves the conversation to `status` following the lifecycle above;
 * setting the current status again is a no-op.  DELETED soft-deletes
 * (like convlog_conv_delete); leaving DELETED needs convlog_conv_restore.
 * Extra errors: CONVLOG_ESTATUS, CONVLOG_ETRANSITION.
 */
CONVLOG_API int convlog_conv_set_status(convlog_db *db, convlog_txn *txn,
					const convlog_uuid *id, int status);

/**
 * Archives: inactive_* | completed -> archived; active passes through
 * inactive_user_terminated in the same atomic step.  Sets archived_at.
 */
CONVLOG_API int convlog_conv_archive(convlog_db *db, convlog_txn *txn,
				     const convlog_uuid *id);

/** Soft-deletes: status deleted, deleted_at set, restorable. */
CONVLOG_API int convlog_conv_delete(convlog_db *db, convlog_txn *txn,
				    const convlog_uuid *id);

/**
 * Restores a soft-deleted conversation to its status before deletion and
 * clears deleted_at.  CONVLOG_ETRANSITION when it is not deleted.
 */
CONVLOG_API int convlog_conv_restore(convlog_db *db, convlog_txn *txn,
				     const convlog_uuid *id);

/**
 * Purges a soft-deleted conversation for good: the conversation, its own
 * messages (every version), its index entries and its search documents
 * disappear from every read at once.  Their bytes stay in the files of the
 * store until the next convlog_compact() (or background compaction), which
 * erases them from every file.  Forks survive their parent: before
 * the parent goes, each fork that inherits some of the parent's own
 * messages receives copies of them as its own messages (same ids, seqs,
 * content and metadata) and is re-attached to the parent's parent (or
 * becomes a root conversation), so its thread reads exactly as before;
 * token_total and cost_total of such a fork grow by the copies.  Message
 * ids stay unique: the first fork to receive a message keeps its id, the
 * copies other forks receive get new ones.  Purging the same id again
 * gives CONVLOG_ENOTFOUND.
 * Errors: CONVLOG_ENOTFOUND, CONVLOG_ETRANSITION (not deleted: delete
 * first, in the same transaction if need be).
 */
CONVLOG_API int convlog_conv_purge(convlog_db *db, convlog_txn *txn,
				   const convlog_uuid *id);

/* ---------------------------------------------------------------------- */
/* Messages: writes                                                       */
/* ---------------------------------------------------------------------- */

/**
 * Appends message `in` to conversation in->conv_id and writes its seq to
 * *out_seq (optional).  in->seq 0 assigns the next seq; a non-zero seq
 * must equal it (CONVLOG_ESEQ otherwise).  parent_seq CONVLOG_PARENT_TIP
 * attaches the turn to the conversation's tip; any earlier seq (or 0 for
 * a new root) may be named instead.  The new message becomes the tip.
 * Updates message_count, token_total, cost_total, last_activity_at and
 * updated_at (each becomes the max of itself and created_at).  Appending
 * to an inactive_* or completed conversation makes it active again.
 * Extra errors: CONVLOG_ETRANSITION (conversation archived or deleted),
 * CONVLOG_EEXIST (message id in use), CONVLOG_ESEQ, CONVLOG_ESTATUS,
 * CONVLOG_ERANGE (feedback, negative usage other than -1).
 */
CONVLOG_API int convlog_msg_append(convlog_db *db, convlog_txn *txn,
				   const convlog_msg *in, uint32_t *out_seq);

/**
 * Writes a new version of message (conv_id, seq) in which the fields
 * selected by `mask` (CONVLOG_MSG_*) take their values from `fields`
 * (id, conv_id, seq, parent_seq and created_at never change).  edited_at
 * becomes now unless CONVLOG_MSG_EDITED_AT supplies it.  Aggregates are
 * adjusted.  Refused on archived or deleted conversations.
 */
CONVLOG_API int convlog_msg_supersede(convlog_db *db, convlog_txn *txn,
				      const convlog_uuid *conv_id,
				      uint32_t seq, const convlog_msg *fields,
				      uint64_t mask);

/* ---------------------------------------------------------------------- */
/* Reads                                                                  */
/* ---------------------------------------------------------------------- */

/**
 * Reads conversation `id` (deleted ones included; check status).
 * *out is owned by the caller: convlog_conv_free().  Thread-safe.
 * Errors: CONVLOG_ENOTFOUND, CONVLOG_ECORRUPT, CONVLOG_ENOMEM.
 */
CONVLOG_API int convlog_conv_get(convlog_db *db, const convlog_uuid *id,
				 convlog_conv **out);

/** Like convlog_conv_get, by external_id. */
CONVLOG_API int convlog_conv_get_by_external(convlog_db *db,
					     const char *external_id,
					     convlog_conv **out);

/** Reads message (conv_id, seq).  *out: convlog_msg_free(). Thread-safe. */
CONVLOG_API int convlog_msg_get(convlog_db *db, const convlog_uuid *conv_id,
				uint32_t seq, convlog_msg **out);

/** Reads a message by its id.  *out: convlog_msg_free(). Thread-safe. */
CONVLOG_API int convlog_msg_get_by_id(convlog_db *db, const convlog_uuid *id,
				      convlog_msg **out);

/* ---- message ranges ---- */

typedef struct convlog_msg_iter convlog_msg_iter;

#define CONVLOG_RANGE_ALL 0   /* every message, in seq order */
#define CONVLOG_RANGE_FIRST 1 /* the first n */
#define CONVLOG_RANGE_LAST 2  /* the last n, still in seq order */
#define CONVLOG_RANGE_AFTER 3 /* seq > after_seq, at most n (0 = all) */

/**
 * Iterates messages of one conversation in seq order.  `kind` is a
 * CONVLOG_RANGE_*; `n` bounds the count (0 = no bound for ALL and AFTER);
 * `after_seq` is used by CONVLOG_RANGE_AFTER.  The iterator holds a
 * snapshot.  Errors: CONVLOG_ENOTFOUND (no such conversation),
 * CONVLOG_EINVAL.
 */
CONVLOG_API int convlog_msg_range(convlog_db *db, const convlog_uuid *conv_id,
				  int kind, uint32_t n, uint32_t after_seq,
				  convlog_msg_iter **out);

/**
 * Advances to the next message: 0 and *msg set (borrowed, valid until the
 * next call or free), CONVLOG_DONE at the end, or a negative error.
 */
CONVLOG_API int convlog_msg_iter_next(convlog_msg_iter *it,
				      const convlog_msg **msg);
CONVLOG_API void convlog_msg_iter_free(convlog_msg_iter *it);

/* ---- conversation listings ---- */

/* Listing orders (convlog_conv_filter.order). */
#define CONVLOG_ORDER_DEFAULT 0     /* activity, or created desc for role-only filters */
#define CONVLOG_ORDER_ACTIVITY 1    /* newest last_activity_at first */
#define CONVLOG_ORDER_CREATED_DESC 2 /* newest created_at first */
#define CONVLOG_ORDER_CREATED_ASC 3  /* oldest created_at first */

/**
 * Filters for convlog_conv_list().  Every set field must match.  Deleted
 * conversations are listed only when status is CONVLOG_STATUS_DELETED or
 * include_deleted is set.  Each listing walks one index and checks the
 * other filters per conversation:
 *
 *   order ACTIVITY (the default): indexes on parent, session, tag, user,
 *     org, status, or none;
 *   order CREATED_DESC / CREATED_ASC: indexes on session, initiator_role,
 *     responder_role, user, org, or none.
 *
 * With CONVLOG_ORDER_DEFAULT, a filter on initiator_role/responder_role
 * alone lists newest created first (agent-to-agent logs); everything else
 * lists newest activity first.  A combination no index of the requested
 * order can serve (e.g. created order by tag only) is CONVLOG_EINVAL.
 */
typedef struct convlog_conv_filter {
	unsigned int version;    /* CONVLOG_CONV_VERSION */
	const char *user_id;
	const char *org_id;
	const char *session_id;
	const char *tag;
	int status;              /* 0 = any */
	int has_parent;          /* 1: only forks of parent_id */
	convlog_uuid parent_id;
	int include_deleted;
	uint32_t limit;          /* 0 = unlimited */
	const char *after;       /* resume token from convlog_conv_iter_token */
	const char *initiator_role;
	const char *responder_role;
	int order;               /* CONVLOG_ORDER_* */
} convlog_conv_filter;

/** Sets `f` to "everything": version set, all filters absent. */
CONVLOG_API void convlog_conv_filter_init(convlog_conv_filter *f);

typedef struct convlog_conv_iter convlog_conv_iter;

/**
 * Lists conversations matching `f` (NULL = all, newest activity first).
 * The iterator holds a snapshot.  Errors: CONVLOG_EINVAL (bad token),
 * CONVLOG_ESTATUS, CONVLOG_ENOMEM.
 */
CONVLOG_API int convlog_conv_list(convlog_db *db, const convlog_conv_filter *f,
				  convlog_conv_iter **out);

/**
 * Next conversation: 0 with *conv borrowed until the next call, or
 * CONVLOG_DONE (also when the filter's limit is reached), or an error.
 */
CONVLOG_API int convlog_conv_iter_next(convlog_conv_iter *it,
				       const convlog_conv **conv);

/**
 * A resume token for the position after the last conversation returned:
 * pass it as filter.after (with the same filters) to continue.  Tokens
 * stay valid across commits; a conversation whose activity changed in
 * between may move.  *out is a NUL-terminated string owned by the caller
 * (convlog_free()).  CONVLOG_EINVAL if nothing was returned yet.
 */
CONVLOG_API int convlog_conv_iter_token(convlog_conv_iter *it, char **out);
CONVLOG_API void convlog_conv_iter_free(convlog_conv_iter *it);

/** Frees memory returned by convlog as a plain pointer. Accepts NULL. */
CONVLOG_API void convlog_free(void *p);

/* ---------------------------------------------------------------------- */
/* Trees, forks and replay                                                */
/*                                                                        */
/* Messages form a tree through parent_seq; a conversation's tip_seq is     */
/* the leaf of its active thread, and an append without an explicit        */
/* parent continues it.                                                     */
/*                                                                        */
/* A fork is a conversation created from message fork_seq of a parent. It   */
/* shares the parent's prefix without copying it: its seq space starts with */
/* the parent's seqs 1..fork_seq (read through the parent, recursively for  */
/* forks of forks) and its own messages are numbered fork_seq + 1, ...      */
/* message_count is the highest seq (prefix included) while token_total and */
/* cost_total count the fork's own messages only.  Inherited messages keep  */
/* their identity: their conv_id is the conversation that owns them.        */
/* Deleting a parent leaves its forks alone; purging it (convlog_conv_     */
/* purge) first gives each fork its own copy of the inherited messages.    */
/* ---------------------------------------------------------------------- */

/**
 * Iterates the thread from the root to message `seq` of conversation
 * `conv` (0 = its tip), following parent_seq links and, in a fork, into
 * its parents.  Costs one index lookup per message of the thread.
 * Errors: CONVLOG_ENOTFOUND (conversation or message), CONVLOG_ECORRUPT.
 */
CONVLOG_API int convlog_msg_thread(convlog_db *db, const convlog_uuid *conv,
				   uint32_t seq, convlog_msg_iter **out);

/**
 * Iterates the children of message `seq` (0 = the roots) as seen from
 * `conv`, in seq order: the siblings a regeneration or an edit created.
 * In a fork, children of an inherited message include the parent's
 * children up to fork_seq and the fork's own.
 */
CONVLOG_API int convlog_msg_children(convlog_db *db, const convlog_uuid *conv,
				     uint32_t seq, convlog_msg_iter **out);

/**
 * Makes message `seq` the conversation's tip, so the next append without a
 * parent continues from it (switching to another branch).  Any message of
 * the conversation's seq space may be named.  Sets updated_at.
 * Errors: CONVLOG_ENOTFOUND, CONVLOG_EINVAL (seq 0), CONVLOG_ETRANSITION
 * (deleted).
 */
CONVLOG_API int convlog_conv_set_tip(convlog_db *db, convlog_txn *txn,
				     const convlog_uuid *conv, uint32_t seq);

/**
 * Forks conversation `conv` at message `fork_seq` (0 = before the first
 * message) into a new conversation whose parent_id is `conv`, depth is the
 * parent's + 1 and tip is fork_seq.  Descriptive fields (user, org, device,
 * session, roles, title, topic, system prompt, tags, metadata) are copied
 * from the parent, then the fields selected by `mask` (CONVLOG_CONV_*
 * among those) are taken from `overrides` (may be NULL when mask is 0).
 * The new id goes to *out_id (optional).  The parent may be in any status
 * but deleted.  Errors: CONVLOG_ENOTFOUND, CONVLOG_EINVAL (fork_seq beyond
 * the parent's messages, mask outside the descriptive fields),
 * CONVLOG_ETRANSITION (parent deleted), validation errors of the overrides.
 */
CONVLOG_API int convlog_conv_fork(convlog_db *db, convlog_txn *txn,
				  const convlog_uuid *conv, uint32_t fork_seq,
				  const convlog_conv *overrides, uint64_t mask,
				  convlog_uuid *out_id);

/**
 * Replays a conversation with a new system prompt: forks `conv` before its
 * first message (fork_seq 0) with `system_prompt` (NULL keeps the
 * parent's), writes the fork's id to *out_id, and returns in *turns the
 * user turns of the parent's active thread, in order, for the application
 * to send again and append with their new answers.  *turns reads a
 * snapshot taken after the fork; free it with convlog_msg_iter_free.
 * With an explicit txn, the fork becomes visible at its commit.
 */
CONVLOG_API int convlog_conv_replay(convlog_db *db, convlog_txn *txn,
				    const convlog_uuid *conv,
				    const char *system_prompt, convlog_uuid *out_id,
				    convlog_msg_iter **turns);

/* ---------------------------------------------------------------------- */
/* Resume points                                                          */
/* ---------------------------------------------------------------------- */

/**
 * Sets named cursor `name` of conversation `conv` to `value` (e.g. the
 * last client or server stanza id), atomically with whatever else `txn`
 * holds.  Other cursors are unchanged.  Errors: CONVLOG_ENOTFOUND,
 * CONVLOG_ETOOBIG (more than CONVLOG_MAX_CURSORS), CONVLOG_EINVAL,
 * CONVLOG_ETRANSITION (deleted).
 */
CONVLOG_API int convlog_conv_set_cursor(convlog_db *db, convlog_txn *txn,
					const convlog_uuid *conv, const char *name,
					int64_t value);

/** Removes cursor `name` (no-op when absent). */
CONVLOG_API int convlog_conv_clear_cursor(convlog_db *db, convlog_txn *txn,
					  const convlog_uuid *conv, const char *name);

/**
 * Reads cursor `name` into *value.  CONVLOG_ENOTFOUND when the conversation
 * or the cursor does not exist.  Thread-safe.
 */
CONVLOG_API int convlog_conv_get_cursor(convlog_db *db, const convlog_uuid *conv,
					const char *name, int64_t *value);

/* ---------------------------------------------------------------------- */
/* Sessions and usage analytics                                           */
/* ---------------------------------------------------------------------- */

#define CONVLOG_SESSION_VERSION 1

typedef struct convlog_session_summary {
	unsigned int version;          /* set by the caller */
	uint64_t conversations;        /* deleted ones excluded */
	uint64_t messages;             /* own messages of those conversations */
	int64_t token_total, cost_total;
	int64_t first_activity_at;     /* earliest created_at, 0 if none */
	int64_t last_activity_at;      /* latest last_activity_at, 0 if none */
} convlog_session_summary;

/**
 * Summarises session `session_id` from its conversations' aggregates
 * (served by the session index; no message is read).  Thread-safe.
 * Errors: CONVLOG_EINVAL; an unknown session gives zero counts, not an
 * error.
 */
CONVLOG_API int convlog_session_get_summary(convlog_db *db, const char *session_id,
					    convlog_session_summary *out);

/* Grouping for convlog_usage_get. */
#define CONVLOG_GROUP_NONE 0
#define CONVLOG_GROUP_ROLE 1
#define CONVLOG_GROUP_MODEL 2
#define CONVLOG_GROUP_ORG 3
#define CONVLOG_GROUP_USER 4
#define CONVLOG_GROUP_DAY 5   /* UTC day of created_at, "YYYY-MM-DD" */

#define CONVLOG_USAGE_VERSION 1

typedef struct convlog_usage_query {
	unsigned int version;     /* CONVLOG_USAGE_VERSION */
	int group_by;             /* CONVLOG_GROUP_* */
	int64_t since, until;     /* created_at in [since, until); 0 = open */
	const char *user_id;      /* optional scope: one user's conversations */
	const char *org_id;       /* optional scope: one org's conversations */
	const char *session_id;   /* optional scope: one session */
	int has_conv;             /* optional scope: one conversation */
	convlog_uuid conv_id;
	int include_deleted;      /* count messages of deleted conversations */
} convlog_usage_query;

/** One group of a usage report. */
typedef struct convlog_usage_row {
	const char *key;          /* group value; "" for none/missing; borrowed */
	uint64_t count;           /* messages */
	uint64_t errors;          /* messages with status error */
	int64_t tokens;           /* sum of known token counts */
	int64_t cost;             /* sum of known costs, micro-USD */
	uint64_t latency_count;   /* messages with a known latency */
	int64_t latency_p50, latency_p95, latency_max; /* ms; -1 when none */
} convlog_usage_row;

typedef struct convlog_usage {
	unsigned int version;
	size_t n_rows;
	convlog_usage_row *rows;  /* ordered by key */
	uint64_t messages_scanned;
} convlog_usage;

/** Sets `q` to "all messages, no grouping". */
CONVLOG_API void convlog_usage_query_init(convlog_usage_query *q);

/**
 * Aggregates message usage: count, token and cost sums, latency p50/p95/max
 * and errors, optionally grouped and scoped, over messages whose created_at
 * falls in the range.  Answered from the per-message summaries kept in
 * LMDB; message content is never read.  Scoped queries walk the scope's
 * index (newest activity first, stopping at conversations idle since
 * before `since`); unscoped ones read every summary.  A fork's inherited
 * messages are counted once, with the conversation that owns them.
 * Percentiles use the nearest-rank rule (the value at rank ceil(q * n)).
 * GROUP_NONE always returns one row; other groupings only groups with
 * messages.  An unknown user, org, session or conversation gives an empty
 * report.  *out: convlog_usage_free().  Thread-safe.
 * Errors: CONVLOG_EINVAL (NULL query, version, group, since > until, nil
 * conv_id with has_conv), CONVLOG_ERANGE (a sum overflows), CONVLOG_ETOOBIG
 * (over 2^26 known latencies in one group), CONVLOG_ECORRUPT,
 * CONVLOG_ENOMEM.
 */
CONVLOG_API int convlog_usage_get(convlog_db *db, const convlog_usage_query *q,
				  convlog_usage **out);
CONVLOG_API void convlog_usage_free(convlog_usage *u);

/* ---------------------------------------------------------------------- */
/* Full-text search                                                       */
/*                                                                        */
/* Every message version is indexed at commit and searchable as soon as    */
/* the commit returns.  A superseded version stops matching at once; its   */
/* replacement matches instead.  Text is normalised (NFKC, case and        */
/* diacritics folded), split at Unicode word boundaries, identifiers also  */
/* into their parts (get_user.emailAddress: get, user, email, address and  */
/* the whole), CJK into overlapping bigrams, and optionally stemmed        */
/* (convlog_options_set_stemming).                                         */
/*                                                                        */
/* Query language (format-spec.md §10.4):                                 */
/*   words            all must occur (AND is implicit; "AND" also works)  */
/*   a OR b           either                                              */
/*   -word, NOT word  must not occur                                      */
/*   "exact phrase"   consecutive words                                   */
/*   prefix*          any word starting with prefix                       */
/*   ( ... )          grouping                                            */
/*   role:user  model:gpt-4o  user:ID  session:ID  tag:TAG  conv:ID       */
/*   after:2026-01-31  before:2026-02-01T12:00:00Z   (UTC; after: is       */
/*                    inclusive, before: exclusive)                       */
/* Filter values are exact (role:User does not match "user"); quote a     */
/* value with spaces: tag:"code review".  conv: takes a conversation id   */
/* or external id and matches the messages written in that conversation   */
/* (a fork's inherited messages are found under the conversation that     */
/* wrote them).                                                            */
/*                                                                        */
/* Ranking is BM25 (k1 = 1.2, b = 0.75) over the whole store, optionally   */
/* multiplied by 1 + recency_weight * 2^(-age / half-life).                */
/* ---------------------------------------------------------------------- */

#define CONVLOG_SEARCH_VERSION 1

/* Result orders (convlog_search_query.order). */
#define CONVLOG_SEARCH_RELEVANCE 0 /* best score first (ties: newest first) */
#define CONVLOG_SEARCH_NEWEST 1    /* newest created_at first, all matches */

#define CONVLOG_SEARCH_MAX_LIMIT 1000

typedef struct convlog_search_query {
	unsigned int version;      /* CONVLOG_SEARCH_VERSION */
	const char *query;         /* UTF-8, at most 4096 bytes */
	uint32_t limit;            /* hits per page, 1..1000; 0 = 20 */
	int order;                 /* CONVLOG_SEARCH_* */
	int group_by_conv;         /* at most one hit (the best) per conversation */
	double recency_weight;     /* >= 0; 0 = pure BM25 */
	uint32_t recency_halflife_days; /* 0 = 30 */
	int include_deleted;       /* also match soft-deleted conversations */
	const char *after;         /* page token from a previous result's next */
	uint32_t snippet_words;    /* words of context in a snippet; 0 = 24 */
	const char *hl_open;       /* highlight markers; NULL = "[" and "]" */
	const char *hl_close;
} convlog_search_query;

typedef struct convlog_search_hit {
	convlog_uuid conv_id;      /* the conversation that wrote the message */
	uint32_t seq;
	double score;              /* BM25 x recency factor; 0 ordering by NEWEST */
	int64_t created_at;
	const char *role;          /* borrowed from the result; "" if none */
	const char *snippet;       /* borrowed: the best passage, matches marked */
} convlog_search_hit;

typedef struct convlog_search_result {
	unsigned int version;      /* CONVLOG_SEARCH_VERSION */
	size_t n_hits;
	convlog_search_hit *hits;
	const char *next;          /* page token for the next page; NULL at the end */
	uint64_t candidates;       /* documents the search scored */
} convlog_search_result;

/** Sets `q` to defaults: version set, 20 hits by relevance, no query. */
CONVLOG_API void convlog_search_query_init(convlog_search_query *q);

/**
 * Searches message content.  The result reflects every commit that
 * returned before the call.  Paging: pass a result's `next` as `after`
 * with the same query, order and grouping; pages do not overlap while the
 * store is unchanged (a commit in between may shift a hit across a page
 * boundary).  Grouped pages cost more the deeper they go.
 * Snippets are cut from the message at around snippet_words words with
 * the best concentration of query words; runs of white space become one
 * space and cut ends get "...".  *out: convlog_search_result_free().
 * Thread-safe; searches run in parallel with each other and with writes.
 * Errors: CONVLOG_EINVAL (malformed query: the message names the problem
 * and its byte offset, as from convlog_search_check; a query with no
 * searchable words; a bad limit, version, weight or page token),
 * CONVLOG_EUTF8, CONVLOG_ETOOBIG (query over 4096 bytes or nested over 64
 * deep, a prefix matching over 65536 words), CONVLOG_ECORRUPT (a damaged
 * index segment: convlog reindex rebuilds the index), CONVLOG_ENOMEM.
 */
CONVLOG_API int convlog_search(convlog_db *db, const convlog_search_query *q,
			       convlog_search_result **out);
CONVLOG_API void convlog_search_result_free(convlog_search_result *r);

/**
 * Checks a query's syntax without running it.  Returns 0, or the error
 * convlog_search would give with *err_at (optional) set to the byte
 * offset of the problem.  Needs no store; thread-safe.
 */
CONVLOG_API int convlog_search_check(const char *query, uint32_t *err_at);

/* Flags for convlog_index_merge(). */
#define CONVLOG_MERGE_ALL 0x1 /* everything into one segment */

/**
 * Merges text index segments and drops the documents of superseded
 * versions for good.  Without flags, follows the tiered policy: 8
 * segments of the same size tier (tiers grow 8x from 1 MiB) are merged
 * into one, and a segment over a third dead is rewritten; repeated until
 * nothing qualifies.  A background thread runs the same policy after
 * memtable flushes, so calling this is only needed to force a full merge
 * (CONVLOG_MERGE_ALL, e.g. before a backup) or from a compactor.
 * Searches and writes continue while it runs; crash-safe (a merge is
 * either recorded or its output is removed at the next open).
 * Errors: CONVLOG_EREADONLY, CONVLOG_EINVAL (unknown flags, or the store
 * closing), CONVLOG_EIO, CONVLOG_ENOSPC, CONVLOG_ECORRUPT, CONVLOG_ENOMEM.
 */
CONVLOG_API int convlog_index_merge(convlog_db *db, unsigned flags);

/**
 * Rebuilds the text index from the stored messages, optionally with
 * another stemming language (`stemming`: NULL keeps the store's, "none"
 * turns stemming off, or a libstemmer language).  Flushes pending state,
 * then reads every current message version in log order; memory stays
 * within about one memtable.  Writers wait until it finishes (about the
 * time of a bulk import of the same messages); searches keep using the old
 * index until the new one replaces it atomically.  Use it after damage to
 * an index segment (convlog_verify reports it) or to change stemming.
 * Errors: CONVLOG_EREADONLY, CONVLOG_EINVAL (unknown language),
 * CONVLOG_ECORRUPT (a damaged log record), CONVLOG_EIO, CONVLOG_ENOSPC,
 * CONVLOG_ENOMEM; on error the old index stays in place.
 */
CONVLOG_API int convlog_reindex(convlog_db *db, const char *stemming);

/* ---------------------------------------------------------------------- */
/* Statistics and verification                                            */
/* ---------------------------------------------------------------------- */

#define CONVLOG_STATS_VERSION 1

typedef struct convlog_stats {
	unsigned int version;          /* set by the caller: CONVLOG_STATS_VERSION */
	uint64_t conversations;        /* excluding none (deleted included) */
	uint64_t deleted_conversations;
	uint64_t messages;             /* live message versions */
	uint64_t segments;
	uint64_t segment_bytes;        /* all segment files */
	uint64_t meta_bytes;           /* LMDB data file */
	uint64_t content_bytes;        /* uncompressed content of live messages */
	uint64_t last_lsn;             /* newest committed log sequence number */
	uint64_t flushed_lsn;          /* newest LSN materialised in LMDB */
	uint64_t memtable_bytes;       /* unflushed state in memory */
	uint64_t cache_bytes;          /* block cache in use */
	uint64_t recovered_blocks;     /* blocks replayed at the last open */
	uint64_t truncated_bytes;      /* torn tail removed at the last open */
	uint64_t commits;              /* since open */
	uint64_t syncs;                /* log syncs since open */
	uint64_t flushes;              /* memtable flushes since open */
	uint64_t index_segments;       /* text index segment files */
	uint64_t index_bytes;          /* their size */
} convlog_stats;

/**
 * Fills `out` (whose version the caller sets).  Counting conversations
 * and messages reads the aggregates, not the data.  Thread-safe.
 */
CONVLOG_API int convlog_stats_get(convlog_db *db, convlog_stats *out);

#define CONVLOG_SWEEP_VERSION 1

/* What a lifecycle sweep changed. */
typedef struct convlog_sweep_stats {
	unsigned int version;  /* set by the caller: CONVLOG_SWEEP_VERSION */
	uint64_t timed_out;    /* active -> inactive_timeout */
	uint64_t archived;     /* inactive_* / completed -> archived */
	uint64_t deleted;      /* soft-deleted for their age */
	uint64_t purged;       /* purged after the grace period */
} convlog_sweep_stats;

/**
 * Applies the handle's lifecycle policies (convlog_options_set_lifecycle)
 * as of `now_ms` (0 = the current time): inactivity timeouts first, then
 * archival (so a conversation may time out and be archived in one sweep),
 * then the maximum age, then purges (not of conversations the same sweep
 * deleted for their age: their grace period starts now).  Finding the
 * candidates reads the
 * status and creation indexes, not every conversation; each change is
 * made through the usual lifecycle rules in transactions of at most 64
 * conversations, after checking the conversation again (one that became
 * active meanwhile is left alone).  Changes committed before an error stay
 * committed; `out` (optional) counts them either way.  Safe to call from
 * any thread; it writes like any other writer.  Errors: CONVLOG_EREADONLY,
 * CONVLOG_EINVAL (bad `out` version), I/O errors of the commits.
 */
CONVLOG_API int convlog_lifecycle_sweep(convlog_db *db, int64_t now_ms,
					convlog_sweep_stats *out);

/* ---------------------------------------------------------------------- */
/* Compaction                                                             */
/* ---------------------------------------------------------------------- */

#define CONVLOG_COMPACT_VERSION 1

/* Flags of convlog_compact_opts. */
#define CONVLOG_COMPACT_ARCHIVE 0x1 /* move archived conversations to cold
				     * segments (zstd level 19 with a
				     * dictionary trained on them) */
#define CONVLOG_COMPACT_DRY_RUN 0x2 /* plan only: fill the stats, change nothing */
#define CONVLOG_COMPACT_FULL 0x4    /* seal the active segment and rewrite
				     * every segment */

typedef struct convlog_compact_opts {
	unsigned int version;      /* CONVLOG_COMPACT_VERSION */
	unsigned int flags;        /* CONVLOG_COMPACT_* */
	unsigned int garbage_pct;  /* rewrite a compacted segment once this
				    * share of its record bytes is dead;
				    * 0 = 30 */
	int level;                 /* zstd level of warm output; 0 = the
				    * store's (convlog_options_set_level) */
	uint64_t io_bytes_per_sec; /* write budget; 0 = unlimited */
} convlog_compact_opts;

/** Sets `o` to version set, no flags and the defaults. */
CONVLOG_API void convlog_compact_opts_init(convlog_compact_opts *o);

/* What a compaction did (or, with CONVLOG_COMPACT_DRY_RUN, would do). */
typedef struct convlog_compact_stats {
	unsigned int version;           /* set by the caller: CONVLOG_COMPACT_VERSION */
	uint64_t segments_before, segments_after;
	uint64_t bytes_before, bytes_after;   /* segment files */
	uint64_t meta_bytes_before, meta_bytes_after; /* LMDB data file */
	uint64_t segments_planned;      /* segments chosen for rewriting */
	uint64_t bytes_planned;         /* live record bytes they hold */
	uint64_t segments_rewritten;    /* removed after their records moved */
	uint64_t segments_written;      /* new compacted segments */
	uint64_t cold_segments_written; /* of which cold */
	uint64_t records_moved;
	int erased;                     /* LMDB was rewritten to drop the
					 * free pages of purged data */
	int64_t elapsed_ms;
} convlog_compact_stats;

/**
 * Progress of a long operation: `done` of `total` units (bytes).  Return
 * non-zero to stop it (the operation then fails with CONVLOG_ECANCELED,
 * keeping what it completed).
 */
typedef int (*convlog_progress_fn)(void *ud, uint64_t done, uint64_t total);

/**
 * Compacts the log.  Flushes pending state to LMDB, then rewrites every
 * sealed log segment and every compacted segment that is at least
 * garbage_pct dead, holds records of a purged conversation, or is small
 * (four or more under a quarter of the segment size are merged): only
 * the current version of each message is kept, the turns of one
 * conversation are stored together in seq order, in 1 MiB blocks of
 * 32 KiB frames, so reading a conversation touches few frames.  With
 * CONVLOG_COMPACT_ARCHIVE, archived conversations go to cold segments.
 * After a purge (convlog_conv_purge), the active segment is sealed first,
 * every text index segment is merged into one without the purged
 * documents (convlog_index_merge(CONVLOG_MERGE_ALL)), segments sharing a
 * cold dictionary with purged records are rewritten with a new one, and
 * LMDB is rewritten by a copy swapped in atomically, so no
 * byte of the purged conversations remains in any file of the store (the
 * swap waits for this handle's readers and is put off while a read-only
 * handle of another process is open: stats.erased says whether it
 * happened; the next compaction retries).
 * Readers and the writer keep working meanwhile; each finished output
 * segment is switched in one LMDB transaction; replaced files are
 * unlinked at once and closed when no snapshot can still read them.  A
 * crash at any point loses nothing: the next open removes unfinished
 * output.  `o` may be NULL (defaults); `fn` (optional) is called with the
 * live bytes copied so far; `out` (optional, version set) gets what was
 * done.  One compaction runs at a time per handle (others wait).  When
 * the locator switches leave more than a quarter of LMDB's file free, it
 * is rewritten the same way (full pages, no free pages).
 * Errors: CONVLOG_EREADONLY, CONVLOG_EINVAL (bad options or versions),
 * CONVLOG_ECANCELED, CONVLOG_EIO, CONVLOG_ENOSPC, CONVLOG_ECORRUPT,
 * CONVLOG_ENOMEM.
 */
CONVLOG_API int convlog_compact(convlog_db *db, const convlog_compact_opts *o,
				convlog_progress_fn fn, void *ud, convlog_compact_stats *out);

/**
 * Receives one problem found by convlog_verify: the kind of object
 * ("segment", "block", "message", "index", "conversation"), where it is
 * and what is wrong.
 */
typedef void (*convlog_problem_fn)(void *ud, const char *where,
				   const char *what);

/**
 * Checks the whole store: every block checksum and record, every message
 * locator against the record it points to, the id index, every secondary
 * index against the conversations and back, and every conversation's
 * aggregates against its messages.  Each problem goes to `fn` (may be
 * NULL); *n_problems (optional) receives their count.  Returns 0 when the
 * check could run (problems or not), or an error that stopped it.
 * Thread-safe; runs on a snapshot.
 */
CONVLOG_API int convlog_verify(convlog_db *db, convlog_problem_fn fn, void *ud,
			       uint64_t *n_problems);

/* ---------------------------------------------------------------------- */
/* Looking inside: inspect, log dump, repair                              */
/* ---------------------------------------------------------------------- */

/* Tier of a segment file. */
#define CONVLOG_TIER_LOG 0  /* written by commits, in LSN order */
#define CONVLOG_TIER_WARM 1 /* written by the compactor, clustered by conversation */
#define CONVLOG_TIER_COLD 2 /* compacted archive: high zstd level, dictionary */

typedef struct convlog_segment_info {
	uint64_t id;
	int tier;                /* CONVLOG_TIER_* */
	int active;              /* the log segment commits append to */
	uint64_t file_bytes;     /* size of the file */
	uint64_t valid_bytes;    /* header + whole valid blocks */
	uint64_t blocks, frames, records;
	uint64_t raw_bytes;      /* decompressed frame bytes (all records) */
	uint64_t min_lsn, max_lsn; /* over its blocks; 0 when empty */
	/* live_*, erased_bytes: from the segment accounting of format 3
	 * stores; 0 in older formats */
	uint64_t live_bytes;     /* record bytes current messages still use */
	uint64_t live_records;   /* current message versions stored here */
	uint64_t erased_bytes;   /* bytes of purged messages awaiting rewrite */
	uint32_t dict_id;        /* zstd dictionary of its frames, 0 = none */
	/* a block header or frame header failed its check, or the file ends
	 * inside a block (convlog_inspect reads headers only: damage inside
	 * a frame's data shows in convlog_log_scan and convlog_verify) */
	int damaged;
} convlog_segment_info;

typedef struct convlog_table_info {
	const char *name;        /* static string: "conv", "msg", ... */
	uint64_t entries;
	uint32_t depth;          /* B-tree depth */
	uint64_t branch_pages, leaf_pages, overflow_pages;
} convlog_table_info;

typedef struct convlog_index_segment_info {
	uint64_t id;
	uint64_t bytes;          /* file size */
	uint64_t docs;           /* message versions indexed */
	uint64_t dead_docs;      /* of those, superseded or purged since */
	uint64_t terms;          /* distinct terms */
} convlog_index_segment_info;

#define CONVLOG_INSPECT_VERSION 1

/* A description of a store's files and structures (convlog_inspect). */
typedef struct convlog_inspect_info {
	unsigned int version;    /* CONVLOG_INSPECT_VERSION */
	uint32_t format;         /* on-disk format version of the store */
	char store_id[33];       /* hex */
	uint64_t replica_id;
	int readonly;            /* the handle that inspected it */
	convlog_segment_info *segments; /* ascending id */
	size_t n_segments;
	convlog_table_info *tables;
	size_t n_tables;
	uint64_t lmdb_file_bytes, lmdb_map_bytes, lmdb_page_size;
	uint64_t lmdb_used_pages, lmdb_last_txn;
	uint32_t lmdb_readers, lmdb_max_readers;
	convlog_index_segment_info *index_segments;
	size_t n_index_segments;
	char stemming[32];       /* "" = none */
	uint64_t memtable_bytes, memtable_entries;
	int frozen_memtables;
	uint64_t last_lsn, flushed_lsn, replay_segment, replay_offset;
	uint64_t conversations, messages, content_bytes;
	uint32_t n_dicts;        /* dictionary files */
	uint64_t dict_bytes;
	/* compression: content bytes of live messages per byte of segment
	 * files, and raw record bytes per stored frame byte */
	double content_ratio, frame_ratio;
} convlog_inspect_info;

/**
 * Describes the store: every segment (reading its block and frame
 * headers, so the cost grows with the number of blocks, not with the data;
 * frames are not decompressed), every LMDB table, the text index segments,
 * the memtables and the compression ratios.  On success *out is a new
 * description to free with convlog_inspect_free().  Works on read-only
 * handles.  Thread-safe.  Errors: CONVLOG_EIO, CONVLOG_ENOMEM,
 * CONVLOG_ECORRUPT (unreadable LMDB state).
 */
CONVLOG_API int convlog_inspect(convlog_db *db, convlog_inspect_info **out);
CONVLOG_API void convlog_inspect_free(convlog_inspect_info *info);

/* One block of the log, as convlog_log_scan reports it. */
typedef struct convlog_log_block {
	uint64_t segment;
	uint64_t offset;         /* of the block header in the file */
	uint32_t body_len, frame_count, record_count;
	uint64_t min_lsn, max_lsn, durable_lsn;
	uint32_t dict_id;
	const char *problem;     /* NULL, or why the block is unusable */
} convlog_log_block;

/* One decoded record of the log. */
typedef struct convlog_log_record {
	uint64_t segment;
	uint64_t frame_offset;   /* of the frame header in the file */
	uint32_t index;          /* within the frame */
	uint64_t lsn, hlc, origin;
	uint32_t length;         /* encoded bytes */
	const char *type;        /* "conv_put", "conv_patch", "conv_status",
				  * "conv_purge", "conv_detach", "msg_append",
				  * "msg_supersede", "msg_adopt" */
	convlog_uuid conv_id;
	uint32_t seq;            /* message records; 0 otherwise */
	/* Every field of the record body as one JSON object, named as in
	 * format-spec.md §6 ({"title":"...","status":"active",...}), in the
	 * order stored; NUL-terminated, valid only during the callback.
	 * Text as JSON strings (U+0000 as \u0000), or {"hex":"..."} when it
	 * is not valid UTF-8; metadata and tool_calls embedded as JSON (as a
	 * string if they do not parse); statuses by name; times in ms; the
	 * "+1" fields (token_count, cost, latency_ms) decoded, null for 0;
	 * repeated fields (tag, cursor) as one array; a field unknown to
	 * this version as "field_N"; a malformed end as "_error". */
	const char *json;
} convlog_log_record;

/* Return non-zero to stop the scan (convlog_log_scan returns it). */
typedef int (*convlog_block_fn)(void *ud, const convlog_log_block *b);
typedef int (*convlog_record_fn)(void *ud, const convlog_log_record *r);

/**
 * Walks the records of the segment files: every segment when `segment` is
 * 0, else that one.  Log segments are read in file order, which is LSN
 * order; records of compacted segments (older than every log segment)
 * come first, sorted by LSN, unless `segment` names one, which is then
 * read in file order.  Blocks go to `block_fn`, records to `record_fn`
 * (either may be NULL); a block comes before its records, except that
 * the blocks of compacted segments all come before the sorted records.
 * A damaged block (header, checksum, decompression or record framing) is
 * reported to block_fn with `problem` set and skipped, with the rest of
 * its segment when its header cannot be read; the scan still returns 0.
 * Zeros or a block cut short at the end of the newest log segment are
 * the writer's tail, not damage.  Records superseded or purged since are
 * included until the compactor drops them: this is the log, not the
 * current state.  Works on read-only handles, beside a writer; memory
 * grows with the number of records in compacted segments (24 bytes
 * each).  Thread-safe.  Errors: CONVLOG_ENOTFOUND (no such segment),
 * CONVLOG_EIO, CONVLOG_ENOMEM, CONVLOG_ECORRUPT (a frame changed between
 * the two reads of a compacted segment), or the callback's non-zero
 * value.
 */
CONVLOG_API int convlog_log_scan(convlog_db *db, uint64_t segment, convlog_block_fn block_fn,
				 convlog_record_fn record_fn, void *ud);

/**
 * Rebuilds everything derived from the primary data: the message
 * summaries, the message-id and children indexes, every conversation
 * index, external ids, the conversation aggregates (message_count,
 * token_total, cost_total, last_message_at), the store counters, the
 * per-segment accounting, the sync change feed (from the stamps and
 * tombstones; a conversation whose stamps are gone gets zero ones at the
 * feed's head) and the full-text index.  What cannot be rebuilt
 * (a conversation record that does not decode, a locator naming no
 * readable record of its message, messages of a conversation that does
 * not exist) is reported to `fn` and left as it is.  Flushes the
 * memtables first and blocks writers (and the compactor) while it
 * rewrites LMDB in one transaction, so a crash leaves the store as it was;
 * the text index is then rebuilt as by convlog_reindex().  *n_unfixable
 * (optional) receives the number of problems reported to `fn`; run
 * convlog_verify() afterwards to confirm.  Thread-safe.  Errors:
 * CONVLOG_EREADONLY, CONVLOG_EIO, CONVLOG_ENOSPC, CONVLOG_ENOMEM (the
 * store is then unchanged, or has a repaired LMDB and the old text index).
 */
CONVLOG_API int convlog_repair(convlog_db *db, convlog_problem_fn fn, void *ud,
			       uint64_t *n_unfixable);

/* ---- Sync (format-spec.md §15, README "Sync") ----
 *
 * Every store is a replica with a random 64-bit id.  Replicas exchange
 * changesets: self-contained, checksummed byte strings holding the current
 * state of every conversation that changed after a cursor (a position in
 * the maker's change feed), its messages changed after it, and the
 * tombstones of purged conversations.  Applying one merges it into the
 * store: per conversation field, the change with the later stamp (hybrid
 * logical clock, then replica id) wins; messages merge by id, an edit by
 * its stamp; a purge wins over everything.  Concurrent appends to one
 * conversation are ordered by their creation stamps, so every replica ends
 * with the same seq numbering (messages that arrived out of that order are
 * renumbered).  Applying is atomic and idempotent: duplicates, reordering
 * and retries are harmless.
 */

/** One peer this store has exchanged changesets with. */
typedef struct convlog_sync_peer {
	uint64_t replica_id;
	uint64_t recv;   /* its feed is applied here, without gaps, up to this */
	uint64_t ack;    /* it reported having applied this store's feed up to this */
	int64_t last_at; /* wall-clock ms of the last changeset applied from it */
} convlog_sync_peer;

/** A store's sync position (convlog_sync_status). */
typedef struct convlog_sync_info {
	uint64_t replica_id;  /* this store's */
	uint64_t head;        /* its feed's newest position (the next export's upto) */
	uint64_t feed_entries;
	uint64_t tombstones;  /* purged conversations remembered */
	size_t n_peers;
	convlog_sync_peer *peers; /* by replica id */
} convlog_sync_info;

/** What convlog_sync_apply() did. */
typedef struct convlog_sync_result {
	uint64_t source;       /* replica that made the changeset */
	uint64_t since, upto;  /* the feed range it covers */
	int snapshot;          /* made with since = 0 */
	uint32_t conversations;  /* conversations in it */
	uint32_t created;        /* conversations new here */
	uint32_t updated;        /* existing ones whose fields changed */
	uint32_t messages_added;
	uint32_t messages_updated; /* newer versions (edits) taken */
	uint32_t renumbered;     /* local messages given a new seq */
	uint32_t purged;         /* conversations removed by its tombstones */
	uint32_t ignored;        /* items about conversations purged here */
	int cursor_moved;        /* the peer's recv cursor advanced */
} convlog_sync_result;

/**
 * Exports the changes after feed position `since` (0: everything) as a
 * changeset.  *out (free with convlog_free) and *len receive it; *upto
 * (optional) the feed position it covers, to pass as `since` next time.
 * The export reads one snapshot: writes running meanwhile go into the
 * next one.  Thread-safe; works on read-only handles.  Errors:
 * CONVLOG_EVERSION (a read-only handle on a store older than format 4),
 * CONVLOG_ETOOBIG (more than a changeset holds: see the limits above;
 * use convlog_sync_export_part), CONVLOG_ENOMEM, CONVLOG_EIO,
 * CONVLOG_ECORRUPT.
 */
CONVLOG_API int convlog_sync_export(convlog_db *db, uint64_t since, void **out, size_t *len,
				    uint64_t *upto);

/**
 * convlog_sync_export() in parts, to bound the memory of both sides (an
 * apply holds its changeset and one transaction of everything in it).
 * Start with from = 0; each part takes the change feed after `from` (after
 * `since` for the first) and ends at the first feed position after it
 * holds `max_bytes` of items (0: no limit).  *next receives where to
 * continue (pass it as `from`), or 0 after the last part.  Apply the parts
 * in order: none depends on a later one (a fork's parent comes with it
 * when the receiver may lack it).  Only the last part moves the receiver's
 * cursor (its upto is the export's end; earlier parts have upto = since),
 * and *upto receives that cursor.  Changes that share one feed position
 * (one transaction, or every conversation of a store upgraded from format
 * 3) are never split.  Errors as convlog_sync_export(), and
 * CONVLOG_EINVAL for a `from` before `since`.
 */
CONVLOG_API int convlog_sync_export_part(convlog_db *db, uint64_t since, uint64_t from,
					 size_t max_bytes, void **out, size_t *len, uint64_t *upto,
					 uint64_t *next);

/**
 * Applies a changeset made by another replica, in one transaction: on
 * any error nothing changes.  Also records the maker as a peer (its recv
 * cursor moves to the changeset's upto when the changeset starts at or
 * before the current cursor) and raises this store's clock past every
 * stamp it holds.  `res` (optional) receives the counts.  Not inside a
 * caller's transaction; thread-safe like a write.  Errors: CONVLOG_EINVAL
 * (not a changeset, or one this store made), CONVLOG_ECORRUPT (checksum or
 * structure wrong), CONVLOG_EVERSION (a newer changeset version),
 * CONVLOG_ERANGE (a stamp more than 24 hours ahead of this machine's
 * clock: the maker's clock is wrong, and its writes would otherwise win
 * every conflict until real time caught up),
 * CONVLOG_ENOTFOUND (it needs changes this store has not seen: a message
 * or fork whose parent is missing; apply the earlier changesets, or an
 * export since 0, first), CONVLOG_EREADONLY, write errors.
 */
CONVLOG_API int convlog_sync_apply(convlog_db *db, const void *data, size_t len,
				   convlog_sync_result *res);

/**
 * Reads only the header of a changeset: source, since, upto and the item
 * count into res (other fields 0).  Errors: CONVLOG_EINVAL, CONVLOG_ECORRUPT,
 * CONVLOG_EVERSION.
 */
CONVLOG_API int convlog_sync_peek(const void *data, size_t len, convlog_sync_result *res);

/**
 * Called by convlog_sync_feed() for each change-feed entry: the feed
 * position, the conversation, and whether it was purged (then it no longer
 * exists; otherwise read it with convlog_conv_get).  Return non-zero to
 * stop (convlog_sync_feed returns that value).
 */
typedef int (*convlog_feed_fn)(void *ud, uint64_t pos, const convlog_uuid *conv, int purged);

/**
 * The change feed: calls fn, in feed order, for every conversation that
 * changed after position `since` (0: every conversation and tombstone),
 * once each, at its latest change.  *head (optional) receives the newest
 * position of the snapshot read: pass it as `since` next time to resume.
 * Reads one snapshot; thread-safe; works on read-only handles.  Errors:
 * CONVLOG_EVERSION (a read-only handle on a store older than format 4),
 * CONVLOG_ECORRUPT, or fn's non-zero return.
 */
CONVLOG_API int convlog_sync_feed(convlog_db *db, uint64_t since, uint64_t *head,
				  convlog_feed_fn fn, void *ud);

/**
 * Sync with a PostgreSQL server of record (sql/convlog-pg.sql loaded in the
 * database `url` names, a libpq connection string or URI).
 *
 * convlog_sync_push_pg() sends the changes the server has not
 * acknowledged (this store's feed after its cursor for the server) in one
 * server transaction, then records the new cursor.  convlog_sync_pull_pg()
 * fetches the server's changes after this store's cursor for it, in one
 * REPEATABLE READ snapshot, and applies them as convlog_sync_apply() does.
 * The server's row-level security applies to the role the URL logs in as:
 * a push of a conversation of another user fails whole, and a pull sees
 * only the role's conversations.  `res` (optional) receives the counts
 * (for a push: conversations, messages and tombstones sent in
 * conversations, messages_added and purged).  Not inside a caller's
 * transaction.  Errors: CONVLOG_EIO (cannot connect, or the server
 * refused: the message has PostgreSQL's), CONVLOG_EINVAL (url NULL or
 * the schema missing), and those of export and apply.
 */
CONVLOG_API int convlog_sync_push_pg(convlog_db *db, const char *url, convlog_sync_result *res);
CONVLOG_API int convlog_sync_pull_pg(convlog_db *db, const char *url, convlog_sync_result *res);

/** This store's replica id, feed head, tombstones and peers.  Free *out
 * with convlog_sync_info_free().  Thread-safe. */
CONVLOG_API int convlog_sync_status(convlog_db *db, convlog_sync_info **out);
CONVLOG_API void convlog_sync_info_free(convlog_sync_info *info);

#ifdef __cplusplus
}
#endif

#endif /* CONVLOG_H */
