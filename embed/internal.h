/*
 * embed/internal.h - the embed module's internal interface: errors, byte
 * buffers, UTF-8 checks, the framing between library and helper, and the
 * pieces shared by the helper, its job loop and the execution child.
 */
#ifndef PSB_EMBED_INTERNAL_H
#define PSB_EMBED_INTERNAL_H

#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include <jansson.h>

#include "include/pysandbox.h"

/* ---- errors (error.c) ---- */

/*
 * Fills err (if not NULL and still empty: the first error wins) and returns
 * code, so an error branch is one line: return psb__err(err, PSB_EINVAL, ...).
 */
psb_status psb__err(psb_error *err, psb_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Same, recording errno_value as sys_errno and appending strerror(). */
psb_status psb__err_sys(psb_error *err, int errno_value, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Clears err to "no error". NULL is a no-op. */
void psb__err_clear(psb_error *err);

/* ---- byte buffers (buf.c) ---- */

typedef struct psb__buf {
    char *data; /* NUL-terminated after every append; NULL when empty */
    size_t len; /* bytes used, excluding the terminating NUL */
    size_t cap; /* bytes allocated */
} psb__buf;

/* Appends n bytes; returns 0, or -1 (buffer unchanged) when out of memory. */
int psb__buf_append(psb__buf *buf, const void *data, size_t n);
/* Frees the storage and empties the buffer. */
void psb__buf_free(psb__buf *buf);
/* Hands the storage to the caller (an empty buffer yields ""); NULL on ENOMEM. */
char *psb__buf_steal(psb__buf *buf);

/* ---- UTF-8 (utf8.c) ---- */

/* true if s[0..len) is valid UTF-8 (no overlongs, no surrogates). */
bool psb__utf8_valid(const char *s, size_t len);
/* true if s[0..len) holds a NUL byte. */
bool psb__has_nul(const char *s, size_t len);
/*
 * A JSON string from arbitrary bytes: invalid UTF-8 sequences become U+FFFD.
 * Returns a new reference or NULL when out of memory.
 */
json_t *psb__json_lossy_string(const char *s, size_t len);

/* ---- JSON text (jsondump.c) ---- */

/*
 * Compact JSON text of v (malloc'd) with floats in their shortest exact
 * form; NULL when out of memory.
 */
char *psb__json_dumps(const json_t *v);
/* Writes the shortest exact text of a finite double into out (NUL-terminated). */
typedef void (*psb__real_format_fn)(double d, char *out, size_t size);
/* Replaces the float formatter (NULL: the built-in one). Not thread-safe. */
void psb__json_set_real_format(psb__real_format_fn fn);

/* ---- untrusted bytes (jsoncheck.c) ---- */

/* Deepest nesting psb__json_text_valid() accepts. */
#define PSB__JSON_MAX_DEPTH 4096
/*
 * true if text[0..len) is exactly one JSON value (RFC 8259, valid UTF-8,
 * surrounding whitespace allowed) nested at most max_depth deep. Builds
 * nothing: O(1) memory.
 */
bool psb__json_text_valid(const char *text, size_t len, unsigned max_depth);
/* true if data is a PNG (signature and IHDR); fills its width and height. */
bool psb__png_size(const void *data, size_t len, unsigned *ret_width, unsigned *ret_height);

/* ---- base64 (base64.c) ---- */

/* base64 text of data (malloc'd, NUL-terminated), NULL when out of memory. */
char *psb__base64_encode(const void *data, size_t len);
/* Decodes padded base64; 0 with *ret filled, or -1 (bad input or ENOMEM). */
int psb__base64_decode(const char *text, size_t len, psb__buf *ret);

/* ---- framing (frame.c) ---- */

/*
 * A frame is a 16-byte header {u32 type, u32 zero, u64 length} in host byte
 * order (both ends run on one machine) followed by `length` bytes.
 */
enum psb__frame_type {
    PSB__FRAME_CONTROL = 0x4354524cu, /* JSON control (limits, readable paths): library -> helper */
    PSB__FRAME_STATUS = 0x53544154u,  /* JSON kernel facts of one execution: helper -> library */
    PSB__FRAME_REQUEST = 0x52455131u, /* JSON request, library -> child */
    PSB__FRAME_STDIN = 0x53544449u,   /* raw stdin bytes, library -> child */
    PSB__FRAME_FILE = 0x46494c45u,    /* a file: name, NUL, bytes (both ways) */
    PSB__FRAME_REPLY = 0x52504c59u,   /* JSON {"status","error"}, child -> library */
    PSB__FRAME_RESULT = 0x52534c54u,  /* JSON text of `result`, child -> library */
    PSB__FRAME_FIGURE = 0x46494752u,  /* PNG bytes of one figure, child -> library */
};

/*
 * Bytes a library sends the helper on an execution's socket after the
 * CONTROL frame, and what they mean. Anything else is ignored.
 */
#define PSB__HOST_KILL 'K' /* stop the child now: its output broke a cap */

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
/* Reads exactly len bytes by the deadline (0: none); 0, or -1/errno (ECONNRESET at EOF). */
int psb__read_exact(int fd, void *dst, size_t len, uint64_t deadline_ns);
/* Writes all of data (EINTR and short writes retried). 0 or -1/errno. */
int psb__write_all(int fd, const void *data, size_t len);

/* Sends fd with one byte over a unix socket. 0, or -1 with errno. */
int psb__send_fd(int sock, int fd);
/* Sends n (1..4) fds with one byte. 0, or -1 with errno. */
int psb__send_fds(int sock, const int *fds, size_t n);
/*
 * Receives one byte carrying exactly n (1..4) fds (close-on-exec) into
 * ret_fds. 0; 1 at EOF; -1 with errno (EPROTO: other fds or none, all
 * closed). Blocks up to deadline_ns (CLOCK_MONOTONIC, 0 = no deadline).
 */
int psb__recv_fds(int sock, int *ret_fds, size_t n, uint64_t deadline_ns);
/*
 * Receives one byte and the fd it carries (close-on-exec). 0 with *ret_fd
 * set; 1 at EOF; 2 for a byte without an fd or no data yet; -1 with errno.
 */
int psb__recv_fd(int sock, int *ret_fd);

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t psb__now_ns(void);

#endif /* PSB_EMBED_INTERNAL_H */

/* ======================================================================== */
/* Library side (config.c, options.c, outcome.c, sandbox.c, request.c)      */
/* ======================================================================== */

#include "policy/policy.h"

struct psb_config {
    psb__policy policy;       /* validated policy (owns its JSON document) */
    char *helper_path;        /* NULL: $PYSANDBOX_HELPER, install, build path */
    unsigned max_concurrency; /* executions in flight per sandbox */
    psb_mode mode;            /* warm (default) or cold */
    char *preload;            /* comma-separated modules; NULL = default set */
    unsigned test_layers;     /* tests only: layers to turn on (0 = all) */
};

/*
 * For the attack suite only: runs executions with just these confinement
 * layers (PSB__LAYER_* bits; PSB__LAYERS_NONE for none at all), to show each
 * one holds on its own. Not part of the public API.
 */
#define PSB__LAYERS_NONE 0x100u
void psb__config_set_test_layers(psb_config *config, unsigned layers);

struct psb_exec_options {
    bool has_limit[PSB__LIMIT_COUNT]; /* which limits override the policy */
    psb__limits limits;               /* units as in psb__limit_key() */
    bool has_stdin;                   /* stdin data given (may be empty) */
    psb__buf stdin_data;              /* bytes for the child's stdin */
    json_t *env;                      /* object NAME -> value, may be NULL */
    char *prelude;                    /* UTF-8 code or NULL */
    json_t *import_rules;             /* array of {"module","allow"} or NULL */
    json_t *inputs;                   /* the `inputs` object or NULL */
    struct psb__file *files;          /* files placed in the scratch dir */
    size_t n_files;                   /* entries in files */
    size_t files_bytes;               /* their total size */
};

/* A named file going into or coming out of an execution. */
struct psb__file {
    char *name;    /* relative name (psb__file_name_valid) */
    psb__buf data; /* contents */
};

/* A PNG captured from matplotlib. */
struct psb__figure {
    char mime[16];   /* "image/png" */
    unsigned width;  /* pixels */
    unsigned height; /* pixels */
    psb__buf data;   /* the encoded image */
};

struct psb_outcome {
    bool ok;                     /* status "ok" */
    psb_error_kind kind;         /* PSB_KIND_NONE when ok */
    char *type;                  /* Python exception type or NULL */
    char *message;               /* error message or NULL */
    char *traceback;             /* formatted user traceback or NULL */
    char *module;                /* denied module or NULL */
    char *event;                 /* denied audit event / syscall or NULL */
    char *result_json;           /* compact JSON of `result` ("null" if none) */
    psb__buf out, err;           /* captured stdout and stderr bytes */
    bool out_trunc, err_trunc;   /* a cap cut the stream */
    psb_stats stats;             /* wall, CPU, peak RSS */
    struct psb__figure *figures; /* captured figures */
    size_t n_figures;            /* entries in figures */
    bool figures_trunc;          /* the figure cap dropped some */
    struct psb__file *files;     /* files the code wrote in its working directory */
    size_t n_files;              /* entries in files */
    char *json;                  /* psb_outcome_json() cache, built on demand */
};

/*
 * What the helper reports about an execution's process: facts from the
 * kernel (wait4, the deadline it kept, the memory cgroup), never from the
 * child. Carried in the STATUS frame.
 */
struct psb__exit {
    psb_error_kind error_kind; /* not NONE: the helper could not run it */
    char error_message[256];   /* why, when error_kind is set */
    int code;                  /* exit status when it exited */
    int signal;                /* the signal that killed it, 0 if none */
    bool timed_out;            /* the deadline passed (interrupt, then kill) */
    bool oom;                  /* the memory cgroup's OOM killer stopped it */
    bool killed;               /* the helper killed it (asked by the library) */
    psb_stats stats;           /* wall and CPU time, peaks */
};

/* How far the child's reply got, as the library read it. */
enum psb__reply_state {
    PSB__REPLY_NONE,      /* no complete REPLY and RESULT frame */
    PSB__REPLY_COMPLETE,  /* REPLY, RESULT and any figures and files, well-formed */
    PSB__REPLY_MALFORMED, /* a frame of the wrong type, size or content */
    PSB__REPLY_TOO_LARGE, /* the result broke its cap */
};

/* Which details of the child's claim an outcome keeps. */
enum psb__verdict_detail {
    PSB__DETAIL_NONE,      /* none: the message is the verdict's */
    PSB__DETAIL_CLAIM,     /* type, message, traceback, module, event */
    PSB__DETAIL_TRACEBACK, /* only the traceback (a timeout) */
    PSB__DETAIL_SIGNAL,    /* none, and the signal name is worth reporting */
};

/*
 * The kind of an execution's outcome (PSB_KIND_NONE for ok): the kernel's
 * facts in x first, then the state of the reply, then claimed_kind (the
 * child's "error.kind", NULL when it claimed ok), which may only name what
 * the code could have caused itself. Writes the message for kinds it
 * decides into msg. Pure.
 */
psb_error_kind psb__verdict(const struct psb__exit *x, enum psb__reply_state reply,
                            const char *claimed_kind, const psb__limits *limits, char *msg,
                            size_t msg_size, enum psb__verdict_detail *ret_detail);
/* Decodes a STATUS frame's JSON into *ret. 0, or -1 when malformed. */
int psb__exit_decode(const char *text, size_t len, struct psb__exit *ret);
/* The JSON text of a STATUS frame (malloc'd), NULL when out of memory. */
char *psb__exit_encode(const struct psb__exit *x);

/* Most figures one execution hands back. */
#define PSB__MAX_FIGURES 64
/* Longest file name in and out of an execution (psb__file_name_valid). */
#define PSB__MAX_FILE_NAME 1024

/*
 * Runs one execution over helper, the execution's socket to the helper
 * (not closed here): hands the child's channels over with the control
 * part of req, sends req_text (the request), stdin and input files straight
 * to the child, reads its output under the caps in limits and decides the
 * outcome. PSB_EHELPER (err->sys_errno ETIMEDOUT for a hung helper) when
 * the helper died or hung; other errors are the library's own.
 */
psb_status psb__exec_run(int helper, const json_t *req, const char *req_text,
                         const psb_exec_options *options, const psb__limits *limits,
                         psb_outcome **ret_outcome, psb_error *err);
/* An outcome with an error of this kind and message; NULL when out of memory. */
psb_outcome *psb__outcome_error(psb_error_kind kind, const char *message);

/* Frees an array of files and their contents. */
void psb__files_free(struct psb__file *files, size_t n);

/* Largest code, prelude, stdin and inputs a request may carry. */
#define PSB__MAX_CODE_BYTES ((size_t)16 << 20)
#define PSB__MAX_DATA_BYTES ((size_t)64 << 20)

/*
 * Builds the request document for one execution: the policy merged with the
 * options (options win), the code and prelude. On error returns NULL and
 * fills err.
 */
json_t *psb__request_build(const psb__policy *policy, const psb_exec_options *options,
                           const char *code, size_t len, psb_error *err);
/*
 * Checks a request document received by the helper (types and ranges), so
 * the child can read it without further checks. 0 if valid, else -1 with a
 * message in msg.
 */
int psb__request_check(const json_t *req, char *msg, size_t msg_size);
/* The same for a CONTROL frame's document {"limits", "readable_paths"}. */
int psb__control_check(const json_t *control, char *msg, size_t msg_size);
/* A request's (or control document's) limits (all present once checked). */
void psb__request_limits(const json_t *req, psb__limits *ret_limits);

/* Encodes a FILE frame payload (name, NUL, bytes) into *ret. 0 or -1 (ENOMEM). */
int psb__file_frame(const char *name, const void *data, size_t len, psb__buf *ret);
/* Splits a FILE frame payload; 0, or -1 when malformed (bad name). Steals nothing. */
int psb__file_frame_parse(const psb__buf *payload, const char **ret_name, const char **ret_data,
                          size_t *ret_len);

/* Validates code for psb_exec()/prelude: UTF-8, no NUL, size cap. */
psb_status psb__code_check(const char *code, size_t len, const char *what, psb_error *err);

/* ======================================================================== */
/* Helper side (helper.c, job.c, child.c, interp.c, convert.c)              */
/* ======================================================================== */

/* The child's request and reply channel, a socket to the library (stdin/out/err are 0..2). */
#define PSB__CHILD_RESULT_FD 3
/* Exit status of a child whose set-up failed (after it sent an internal error). */
#define PSB__CHILD_SETUP_FAILED 125
/* Grace between the interrupt at the deadline and the kill. */
#define PSB__INTERRUPT_GRACE_MS 400

typedef struct psb__job psb__job;

/* How the helper was started; set once in main(), inherited by every child. */
struct psb__helper_conf {
    unsigned layers;           /* PSB__LAYER_* bits in force */
    unsigned uid, gid;         /* what a root helper's children run as */
    bool network;              /* sockets allowed, no network namespace */
    bool scratch_tmpfs;        /* scratch dirs are size-capped tmpfs mounts */
    uint64_t scratch_mib;      /* tmpfs size for the next spare (the last request's) */
    json_t *readable_paths;    /* the last request's; spares confine themselves with it */
    unsigned cgroups;          /* 1 << PSB__CG_* for each controller an execution gets */
    uint64_t threads;          /* pids.max for the next spare (the last request's) */
    psb__seccomp_prog seccomp; /* compiled once, loaded by every child */
};
extern struct psb__helper_conf psb__helper;

/*
 * Takes one execution from sock: the child's three channel ends (passed
 * through, never read) and the CONTROL frame (limits, readable paths: no
 * tenant data), hands the ends to a spare child and starts its clock. On
 * success *ret_job owns sock. When it cannot run the execution it sends a
 * STATUS frame with the error itself and returns 0 with *ret_job NULL.
 * Returns -1 only when sock is unusable (then it is closed).
 */
int psb__job_start(int sock, const char *scratch_root, psb__job **ret_job);
/* Number of pollfds the job watches (fills fds, at most 2). */
int psb__job_pollfds(const psb__job *job, struct pollfd *fds);
/* Handles poll results for the fds from psb__job_pollfds() and timers. */
void psb__job_step(psb__job *job, const struct pollfd *fds, uint64_t now_ns);
/* The next time the job needs attention (CLOCK_MONOTONIC ns), or 0. */
uint64_t psb__job_next_deadline(const psb__job *job);
/* true once the child is reaped. */
bool psb__job_done(const psb__job *job);
/* Sends the STATUS frame (unless the library went away), removes the scratch dir, frees. */
void psb__job_finish(psb__job *job);
/* Kills the job's process group (helper shutdown). */
void psb__job_kill(psb__job *job);

/*
 * What a child is forked with. It prepares what does not depend on a
 * request (Python's fork bookkeeping, or a whole cold interpreter), then
 * waits on ctl_fd for its channels: one byte carrying the request socket
 * and the stdout and stderr pipes. A spare child waits there until an
 * execution needs it; it reads its request from the socket itself.
 */
typedef struct psb__child_spec {
    const char *scratch;          /* the execution's scratch dir (cwd) */
    int ctl_fd;                   /* the channels arrive here */
    const json_t *readable_paths; /* known: confine fully before the request arrives */
    const int *keep_fds;          /* read-only files a warm interpreter holds open (sorted) */
    size_t n_keep_fds;            /* entries in keep_fds */
} psb__child_spec;

/*
 * The read-only regular files a warm helper's interpreter holds open (font
 * files matplotlib keeps, say), sorted: children keep these fd numbers and
 * close every other inherited fd. Set once by the helper after preloading.
 */
extern int psb__keep_fds[64];
extern size_t psb__n_keep_fds;

/* ---- vessel.c: children forked before their request ---- */

/* A forked child waiting for its channels, with its scratch dir and cgroups. */
struct psb__vessel {
    pid_t pid;             /* the child, -1 when none */
    int pidfd;             /* its pidfd */
    int ctl;               /* where its channels go */
    char scratch[4096];    /* its working directory */
    uint64_t scratch_mib;  /* size of the scratch tmpfs */
    json_t *confined_for;  /* readable paths it confined itself with, or NULL */
    struct psb__cgroup cg; /* its cgroups */
    uint64_t threads;      /* pids.max set on it (0: not yet) */
};

/* Forks a child that prepares itself and waits for a request. 0, or -1 + msg. */
int psb__vessel_create(struct psb__vessel *v, const char *scratch_root, uint64_t scratch_mib,
                       char *msg, size_t msg_size);
/*
 * Hands over a ready spare fit for a request (its tmpfs resized to
 * scratch_mib, confined for these readable paths); 0, or -1 when none.
 */
int psb__vessel_take_spare(struct psb__vessel *v, uint64_t scratch_mib, const json_t *readable);
/* Kills and reaps a vessel's child and removes its scratch dir and cgroups. */
void psb__vessel_discard(struct psb__vessel *v);
/* SCHED_IDLE (idle) or back to SCHED_OTHER for a process (0: the caller). */
void psb__vessel_set_idle(pid_t pid, bool idle);
/* Unmounts (if a tmpfs) and removes a scratch dir, whatever its permissions. */
void psb__remove_tree(const char *dir);

/* Keeps the spares ready: forks at most one per call. */
void psb__spare_prepare(const char *scratch_root);
/* Kills and reaps the spare children (helper shutdown). */
void psb__spare_drop(void);
/* true if a spare child is ready. */
bool psb__spare_have(void);
/* true if fewer spares are ready than the helper keeps. */
bool psb__spare_missing(void);

/* ---- files.c: files into and out of the scratch dir, in the child ---- */

/* Identity of an input file as the child wrote it. */
struct psb__input_stat {
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
};

/*
 * Reads one FILE frame per name from sock and writes each into scratch as a
 * read-only file. *ret_stats (free() it) identifies them. 0, or -1 + msg.
 */
int psb__inputs_place(int sock, const char *scratch, const json_t *names, uint64_t deadline,
                      struct psb__input_stat **ret_stats, size_t *ret_n, char *msg,
                      size_t msg_size);
/*
 * The regular files below scratch, sorted by name, leaving out unchanged
 * inputs. 0; 1 when they exceed limit_bytes or PSB__MAX_FILES; -1 when
 * reading failed. Nothing is returned unless 0.
 */
int psb__outputs_collect(const char *scratch, const struct psb__input_stat *inputs, size_t n_inputs,
                         uint64_t limit_bytes, struct psb__file **ret_files, size_t *ret_n);
/* true while the job's child runs (it has not exited yet). */
bool psb__job_running(const psb__job *job);
/* When the last execution ended (CLOCK_MONOTONIC ns). */
extern uint64_t psb__last_response_ns;
/*
 * After an execution ends, spares are refilled only this much later: the
 * host thread woken by the answer often lands on the helper's CPU, and a
 * fork (~2 ms of page-table copying that does not yield) right away would
 * keep it waiting.
 */
#define PSB__REFILL_DELAY_NS 1000000u

/* Runs in the forked child: confine, take the request, run the code, reply. Never returns. */
_Noreturn void psb__child_main(const psb__child_spec *spec);

/* What the child knows of its request beyond the JSON document. */
struct psb__child_run {
    const json_t *req;                    /* the request */
    const char *scratch;                  /* its working directory */
    const struct psb__input_stat *inputs; /* the input files it placed */
    size_t n_inputs;                      /* entries in inputs */
};

/*
 * Writes the child's reply on fd: a REPLY frame {"status", "error",
 * "figures_truncated"} (kind NULL means ok; messages and tracebacks cut to
 * fit the library's cap), a RESULT frame (JSON text, "null" on error), one
 * FIGURE frame per PNG in figures and one FILE frame per file in files.
 */
void psb__child_reply(int fd, const char *kind, const char *type, const char *message,
                      const char *traceback, const char *module, const char *event,
                      const char *result_json, size_t result_len, const psb__buf *figures,
                      size_t n_figures, bool figures_truncated, const struct psb__file *files,
                      size_t n_files);

/*
 * Warm mode, in the helper: initializes Python (audit hook added first,
 * dormant), installs the import filter (dormant) and imports the preload
 * list (comma-separated; NULL = the default set, skipping missing modules).
 * Returns 0, or -1 with a message in msg.
 */
int psb__interp_warm_init(const char *preload, char *msg, size_t msg_size);
/* Around fork() in the helper: Python's fork bookkeeping when warm. */
void psb__interp_before_fork(void);
void psb__interp_after_fork_parent(void);
/* In the child, once confined: loads the seccomp filter when that layer is on. 0 or -1. */
int psb__child_load_seccomp(void);
/*
 * In the child, before its request: Python's after-fork bookkeeping and the
 * request-independent resets (warm), or a whole new interpreter (cold).
 * 0, or -1 with a message.
 */
int psb__interp_prepare(char *msg, size_t msg_size);
/*
 * In the child: configures and arms the hooks, runs the request's code,
 * replies on result_fd. seccomp_done: the filter is already loaded.
 */
_Noreturn void psb__interp_run(const struct psb__child_run *run, int result_fd, bool seccomp_done);
