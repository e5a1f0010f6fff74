/*
 * base/wire.h - the wire protocol between the three processes: how the
 * library starts the helper (flags, ready message), the frames on every
 * channel, the fds passed with them, the request's and the reply's keys,
 * files and the STATUS frame of kernel facts. The one place these are
 * written down; see HACKING.md for who sends what to whom.
 */
#ifndef PSB_BASE_WIRE_H
#define PSB_BASE_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"

/* ---- starting the helper ---- */

/*
 * The library runs `pysandbox-helper FLAGS` with the control socket as the
 * only fd beyond 0..2; the helper answers PSB__READY_MSG on it once it can
 * take executions, or a line saying why it cannot and exits.
 */
#define PSB__FLAG_CONTROL_FD "--control-fd" /* N: the control socket's fd */
#define PSB__FLAG_COLD "--cold"             /* a fresh interpreter per execution */
#define PSB__FLAG_WARM "--warm"             /* fork a preloaded interpreter (default) */
#define PSB__FLAG_WAIT_WARM "--wait-warm"   /* answer ready only once preloaded */
#define PSB__FLAG_CACHE_DIR "--cache-dir"   /* PATH: the start-up cache, owned by the host user */
#define PSB__FLAG_NETWORK "--network"       /* sockets allowed, no network namespace */
#define PSB__FLAG_PRELOAD "--preload"       /* LIST: comma-separated modules to import */
#define PSB__FLAG_UID "--uid"               /* N: what a root helper's children run as */
#define PSB__FLAG_GID "--gid"               /* N */
#define PSB__FLAG_LAYERS "--layers"         /* BITS: tests only, layers to turn on */
#define PSB__FLAG_REQUIRE "--require"       /* NAME: fail unless this layer works */
#define PSB__FLAG_PYTHON "--python" /* PATH: run each execution in this interpreter (exec) */
#define PSB__FLAG_SITE "--site"     /* DIR: a module layer, first on sys.path (repeatable) */
/*
 * In warm mode (without --wait-warm) ready comes once a minimal interpreter
 * runs; the helper then forks a warm zygote that preloads, says
 * PSB__READY_MSG to the helper on a socket of their own, and from then on
 * gets the executions' sockets passed on from the helper.
 */
#define PSB__READY_MSG "psb-ready"

/* ---- frames ---- */

/*
 * A frame is a 16-byte header {u32 type, u32 zero, u64 length} in host byte
 * order (both ends run on one machine) followed by `length` bytes.
 */
#define PSB__FRAME_HEADER 16
enum psb__frame_type {
    PSB__FRAME_CONTROL = 0x4354524cu, /* JSON control (limits, readable paths): library -> helper */
    PSB__FRAME_STATUS = 0x53544154u,  /* JSON kernel facts of one execution: helper -> library */
    PSB__FRAME_REQUEST = 0x52455131u, /* JSON request, library -> child */
    PSB__FRAME_STDIN = 0x53544449u,   /* raw stdin bytes, library -> child */
    PSB__FRAME_FILE = 0x46494c45u,    /* a file: name, NUL, bytes (both ways) */
    PSB__FRAME_REPLY = 0x52504c59u,   /* JSON {"status","error"}, child -> library */
    PSB__FRAME_RESULT = 0x52534c54u,  /* JSON text of `result`, child -> library */
    PSB__FRAME_FIGURE = 0x46494752u,  /* PNG bytes of one figure, child -> library */
    PSB__FRAME_DISPLAY = 0x44535059u, /* one MIME bundle (display.c), child -> library */
    PSB__FRAME_OP = 0x4f505331u,      /* JSON: a session operation and its answer (below) */
    PSB__FRAME_INPUT = 0x494e5054u,   /* input(): the prompt, child -> library; the line back */
};

/*
 * input() when the request has "input": the child sends INPUT {u8 password,
 * prompt (UTF-8, no NUL)} before its REPLY and waits; the library answers
 * INPUT {PSB__INPUT_LINE, the line's bytes} or {PSB__INPUT_EOF}.
 */
#define PSB__INPUT_LINE 'L'
#define PSB__INPUT_EOF 'E'
/* Longest prompt the library takes, and longest line it hands back. */
#define PSB__MAX_PROMPT_BYTES ((size_t)64 << 10)
#define PSB__MAX_INPUT_LINE_BYTES ((size_t)1 << 20)

/*
 * Bytes a library sends the helper on an execution's socket after the
 * CONTROL frame, and what they mean. Anything else is ignored.
 */
#define PSB__HOST_KILL 'K'      /* stop the child now: its output broke a cap */
#define PSB__HOST_INTERRUPT 'I' /* a session's cell was cancelled: interrupt it */

/*
 * The byte that carries fds says what they are for. On a new socket to the
 * helper: an execution's channels (PSB__TAG_EXEC) or a session's first
 * (PSB__TAG_SESSION); on a session's socket, the next cell's
 * (PSB__TAG_CELL). Each is followed by a CONTROL frame.
 */
#define PSB__TAG_EXEC 'F'
#define PSB__TAG_SESSION 'S'
#define PSB__TAG_CELL 'C'
/* What a session child tells the helper on its control socket: the cell ended. */
#define PSB__CHILD_CELL_DONE 'D'
/* The child's seccomp listener, sent once with this byte (a session's forks ask for it). */
#define PSB__CHILD_LISTENER 'L'

/*
 * A session's snapshots. Between cells the library sends PSB__TAG_OP (with
 * no fd, or with the new session's socket for "branch") and an OP frame
 * {"op": "snapshot" | "restore" | "branch" | "drop", "snapshot": ID}; the
 * helper answers with an OP frame {"snapshot": ID} or {"ok": true}, or
 * {"error": MESSAGE, "lost": BOOL} (lost: the session's process is gone).
 * To the session's processes the helper sends PSB__TO_SNAPSHOT (to the live
 * process: fork a snapshot; with its socket), PSB__TO_FORK (to a snapshot:
 * fork a live process; with its control socket) and PSB__TO_DROP, each
 * but the last followed by an OP frame {"dir": NAME}, the directory of
 * the copy's files ("snap-N", "work-N") in the scratch dir.
 */
#define PSB__TAG_OP 'O'
#define PSB__TO_SNAPSHOT 'P'
#define PSB__TO_FORK 'F'
#define PSB__TO_DROP 'X'

/* Largest frame either side accepts (request with 64 MiB stdin etc.). */
#define PSB__FRAME_MAX ((uint64_t)256 << 20)

/*
 * Writes a whole frame to a blocking fd, retrying on EINTR and short writes.
 * Returns 0, or -1 with errno set. Uses MSG_NOSIGNAL on sockets.
 */
int psb__frame_write(int fd, uint32_t type, const void *data, size_t len);
/*
 * Reads one frame (blocking, with an overall deadline: deadline_ns on
 * CLOCK_MONOTONIC, 0 for none). On success *ret_type and *ret_buf hold it.
 * Returns 0; -1 with errno (EPROTO for a bad header or too large a frame,
 * ETIMEDOUT at the deadline, ECONNRESET at EOF).
 */
int psb__frame_read(int fd, uint32_t *ret_type, psb__buf *ret_buf, uint64_t deadline_ns,
                    uint64_t max_len);
/* The header of a frame only (as psb__frame_read); the payload follows on fd. */
int psb__frame_read_header(int fd, uint32_t *ret_type, uint64_t *ret_len, uint64_t deadline_ns,
                           uint64_t max_len);

/* ---- fd passing (fdpass.c) ---- */

/*
 * An execution's channels go library -> helper -> child as three fds with
 * one byte: the request/reply socket and the stdout and stderr pipes'
 * write ends, in this order.
 */
enum { PSB__CHAN_DATA, PSB__CHAN_STDOUT, PSB__CHAN_STDERR, PSB__CHAN_COUNT };

/* Sends fd with one byte over a unix socket. 0, or -1 with errno. */
int psb__send_fd(int sock, int fd);
/* Sends n (1..4) fds with one byte (PSB__TAG_EXEC). 0, or -1 with errno. */
int psb__send_fds(int sock, const int *fds, size_t n);
/* The same with another byte. */
int psb__send_fds_tagged(int sock, char tag, const int *fds, size_t n);
/*
 * Receives one byte carrying exactly n (1..4) fds (close-on-exec) into
 * ret_fds. 0; 1 at EOF; -1 with errno (EPROTO: other fds or none, all
 * closed). Blocks up to deadline_ns (CLOCK_MONOTONIC, 0 = no deadline).
 */
int psb__recv_fds(int sock, int *ret_fds, size_t n, uint64_t deadline_ns);
/*
 * One byte and 0..max fds (close-on-exec): *ret_n of them in ret_fds, the
 * byte in *ret_tag. 0; 1 at EOF; -1 with errno (EPROTO: more than max).
 */
int psb__recv_fds_any(int sock, int *ret_fds, size_t max, size_t *ret_n, char *ret_tag,
                      uint64_t deadline_ns);
/* The same, with the byte that carried them in *ret_tag. */
int psb__recv_fds_tagged(int sock, int *ret_fds, size_t n, uint64_t deadline_ns, char *ret_tag);
/*
 * Receives one byte and the fd it carries (close-on-exec). 0 with *ret_fd
 * set; 1 at EOF; 2 for a byte without an fd or no data yet; -1 with errno.
 */
int psb__recv_fd(int sock, int *ret_fd);

/* ---- the request's keys (REQUEST and CONTROL frames) ---- */

#define PSB__KEY_CODE "code"                             /* string: the user's code */
#define PSB__KEY_PRELUDE "prelude"                       /* string or absent */
#define PSB__KEY_INPUTS "inputs"                         /* object or absent: the `inputs` global */
#define PSB__KEY_LIMITS "limits"                         /* object: every limit, by key */
#define PSB__KEY_ENV "env"                               /* object NAME -> string */
#define PSB__KEY_IMPORTS "imports"                       /* {"default_allow", "rules"} */
#define PSB__KEY_DEFAULT_ALLOW "default_allow"           /* bool */
#define PSB__KEY_RULES "rules"                           /* array of {"module", "allow"} */
#define PSB__KEY_DENIED_EVENTS "denied_events"           /* array of audit event names */
#define PSB__KEY_USER_DENIED_EVENTS "user_denied_events" /* array: the policy's own */
#define PSB__KEY_READABLE_PATHS "readable_paths"         /* array of paths (also CONTROL) */
#define PSB__KEY_NETWORK "network"                       /* bool */
#define PSB__KEY_HAS_STDIN "has_stdin"                   /* bool: a STDIN frame follows */
#define PSB__KEY_FILES "files"                           /* array of names: FILE frames follow */
#define PSB__KEY_SESSION "session"                       /* bool or absent: more cells follow */
#define PSB__KEY_INPUT "input"   /* bool or absent: input() asks the library (INPUT frames) */
#define PSB__KEY_ASK "ask"       /* string or absent: a question about code (psb_ask), no cell */
#define PSB__KEY_CURSOR "cursor" /* integer: the question's cursor, in code points */
#define PSB__KEY_SITES "sites"   /* array of dirs: module layers, first on sys.path */
#define PSB__KEY_WRITABLE                                                                          \
    "writable" /* dir or absent: writable beside the scratch dir (also                             \
                  CONTROL; a module layer's install) */

/* Largest code, prelude, stdin and inputs a request may carry. */
#define PSB__MAX_CODE_BYTES ((size_t)16 << 20)
#define PSB__MAX_DATA_BYTES ((size_t)64 << 20)
/*
 * Deepest nesting and most JSON values of `inputs`: checked by the library
 * before anything forks, and again by the child's decoder (embed/inputs.c),
 * which must never recurse or allocate without bound. The depth is the
 * result's own cap, so any result can come back as inputs.
 */
#define PSB__MAX_INPUTS_DEPTH 200
#define PSB__MAX_INPUTS_VALUES (1 << 22)

/* ---- files (files.c) ---- */

/* Longest file name in and out of an execution (psb__file_name_valid). */
#define PSB__MAX_FILE_NAME 1024
/* Most files given to or taken from an execution. */
#define PSB__MAX_FILES 1000
/* Most figures one execution hands back. */
#define PSB__MAX_FIGURES 64

/* A named file going into or coming out of an execution. */
struct psb__file {
    char *name;    /* relative name (psb__file_name_valid) */
    psb__buf data; /* contents */
};

/*
 * true if name is a safe relative file name for files in and out of the
 * scratch dir: UTF-8, components separated by '/', none empty, "." or "..",
 * no leading '/', at most PSB__MAX_FILE_NAME bytes.
 */
bool psb__file_name_valid(const char *name);
/* Frees an array of files and their contents. */
void psb__files_free(struct psb__file *files, size_t n);
/* Encodes a FILE frame payload (name, NUL, bytes) into *ret. 0 or -1 (ENOMEM). */
int psb__file_frame(const char *name, const void *data, size_t len, psb__buf *ret);
/* Splits a FILE frame payload; 0, or -1 when malformed (bad name). Steals nothing. */
int psb__file_frame_parse(const psb__buf *payload, const char **ret_name, const char **ret_data,
                          size_t *ret_len);

/* ---- display bundles (display.c) ---- */

/*
 * A DISPLAY frame is one MIME bundle: what display(obj) showed, or the
 * value of the code's last expression. Payload: 'D' (display_data) or 'R'
 * (execute_result), then per entry the MIME type, NUL, a u64 length in host
 * order and that many bytes: UTF-8 text, or JSON text for application/json
 * and "+json" types; binary types (image/png) as base64. text/plain is
 * always there.
 */
#define PSB__MAX_DISPLAYS 256  /* most bundles one execution hands back */
#define PSB__MAX_MIMES 16      /* most entries in one bundle */
#define PSB__MAX_MIME_NAME 127 /* longest MIME type */

/* One entry of a bundle; pointers borrow from where it came from. */
struct psb__mime_entry {
    const char *mime; /* "text/plain", NUL-terminated */
    const char *data; /* its value, len bytes */
    size_t len;
};

/* true for application/json and the "+json" types (values are JSON text). */
bool psb__mime_is_json(const char *mime);
/* Encodes a DISPLAY frame payload into *ret. 0 or -1 (ENOMEM). */
int psb__display_frame(bool result, const struct psb__mime_entry *e, size_t n, psb__buf *ret);
/*
 * Checks and splits a DISPLAY payload: at most PSB__MAX_MIMES entries,
 * valid and distinct MIME types, text/plain present, text valid UTF-8 and
 * JSON values valid JSON (checked without building them). Entries borrow
 * from payload. 0, or -1 when malformed.
 */
int psb__display_frame_parse(const psb__buf *payload, bool *ret_result,
                             struct psb__mime_entry ret[PSB__MAX_MIMES], size_t *ret_n);

/* Exit status of a child whose set-up failed (after it sent an internal error). */
#define PSB__CHILD_SETUP_FAILED 125

/* ---- the reply (REPLY frame, child -> library) ---- */

#define PSB__KEY_STATUS "status"                         /* "ok" or "error" */
#define PSB__KEY_ERROR "error"                           /* the error's members, when "error" */
#define PSB__KEY_KIND "kind"                             /* its kind's name (psb_error_kind_name) */
#define PSB__KEY_TYPE "type"                             /* the Python exception type */
#define PSB__KEY_MESSAGE "message"                       /* its message */
#define PSB__KEY_TRACEBACK "traceback"                   /* the user's traceback */
#define PSB__KEY_MODULE "module"                         /* a refused import */
#define PSB__KEY_EVENT "event"                           /* a refused audit event or syscall */
#define PSB__KEY_FIGURES_TRUNCATED "figures_truncated"   /* bool: the figure cap dropped some */
#define PSB__KEY_DISPLAYS_TRUNCATED "displays_truncated" /* bool: display caps dropped some */

/*
 * What a child claims in its REPLY frame, decoded. Untrusted: the library
 * believes only what psb__verdict() lets it. Strings borrow from the
 * document psb__claim_decode() returns.
 */
struct psb__claim {
    bool ok;             /* status "ok" */
    psb_error_kind kind; /* the error's kind; PSB_KIND_NONE when ok */
    const char *type;    /* NULL when absent, for each of these */
    const char *message;
    const char *traceback;
    const char *module;
    const char *event;
    bool figures_truncated;  /* the child's figure cap dropped some */
    bool displays_truncated; /* the child's display caps dropped or cut some */
};

/* * Decodes a REPLY frame's JSON: status "ok", or "error" with an object
 * holding the name of a kind other than none; the other members strings
 * when present. On
 * success *ret_doc holds the document (json_decref it) and 0 is returned;
 * -1 when malformed.
 */
int psb__claim_decode(const char *text, size_t len, json_t **ret_doc, struct psb__claim *ret);

/* ---- STATUS frame (status.c), helper -> library ---- */

/* Why the helper ended a session (its lifetime or idle time ran out). */
typedef enum psb__session_end {
    PSB__END_NONE = 0,
    PSB__END_LIFETIME,
    PSB__END_IDLE,
} psb__session_end;

/*
 * What the helper reports about an execution's process: facts from the
 * kernel (wait4, the deadline it kept, the memory cgroup), never from the
 * child. Error kinds travel by name; here they are the enum.
 */
struct psb__exit {
    psb_error_kind error_kind; /* not NONE: the helper could not run it */
    char error_message[256];   /* why, when error_kind is set */
    int code;                  /* exit status when it exited */
    int signal;                /* the signal that killed it, 0 if none */
    bool timed_out;            /* the deadline passed (interrupt, then kill) */
    bool oom;                  /* the memory cgroup's OOM killer stopped it */
    bool killed;               /* the helper killed it (asked by the library) */
    bool alive;                /* a session's cell ended and its process runs on */
    psb__session_end ended;    /* a session the helper ended itself, and why */
    psb_stats stats;           /* wall and CPU time, peaks (a session's cell: its own) */
};

/* Decodes a STATUS frame's JSON into *ret. 0, or -1 when malformed. */
int psb__exit_decode(const char *text, size_t len, struct psb__exit *ret);
/* The JSON text of a STATUS frame (malloc'd), NULL when out of memory. */
char *psb__exit_encode(const struct psb__exit *x);

#endif /* PSB_BASE_WIRE_H */
