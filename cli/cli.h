/*
 * cli.h - internal interface of the `pysandbox` command-line tool.
 *
 * The subcommands (run; later serve, mcp, doctor) and the small helpers they
 * share: exit codes, capped file reading, number parsing, text checks, output.
 */
#ifndef PSB_CLI_H
#define PSB_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <pthread.h>
#include <stdint.h>

#include <jansson.h>

#include "pysandbox.h"

#define CLI_PROG "pysandbox"

/* Caps on what the tool reads, the same as the API's (bytes). */
#define CLI_CODE_MAX_BYTES ((size_t)16 << 20) /* code and prelude: 16 MiB */
#define CLI_DATA_MAX_BYTES ((size_t)64 << 20) /* inputs and stdin: 64 MiB */

/* Exit status of the tool; documented in `pysandbox --help`. */
enum cli_exit {
    CLI_EXIT_OK = 0,          /* the code ran and succeeded */
    CLI_EXIT_CODE_FAILED = 1, /* exception, syntax_error, result_not_serializable */
    CLI_EXIT_USAGE = 2,       /* bad flags, unreadable files, invalid_request */
    CLI_EXIT_LIMIT = 3,       /* timeout, memory_limit, cpu_limit, output_limit */
    CLI_EXIT_DENIED = 4,      /* denied, import_denied */
    CLI_EXIT_CRASHED = 5,     /* the child died of a signal */
    CLI_EXIT_INTERNAL = 6,    /* kind internal, or the API call itself failed */
    CLI_EXIT_CANCELLED = 130, /* kind cancelled: SIGINT/SIGTERM, as shells report it */
};

/* The exit status table, printed by the help texts. */
extern const char cli_exit_status_help[];

/* Prints "pysandbox VERSION" on stdout (main.c). */
void cli_print_version(void);

/* ---- subcommands (one file each) ---------------------------------------- */

/* `pysandbox run`: argv[0] is "run". Returns an exit status (enum cli_exit). */
int cli_cmd_run(int argc, char **argv);

/* `pysandbox layer`: argv[0] is "layer". Module layers: create, install, list, remove. */
int cli_cmd_layer(int argc, char **argv);

/* `pysandbox doctor`: argv[0] is "doctor". 0 when the policy's layers all hold. */
int cli_cmd_doctor(int argc, char **argv);

/* The helper next to this executable (for the build tree), or NULL (run.c). */
const char *cli_helper_path(void);

/* ---- run_args.c: the command line of `pysandbox run` ------------------- */

/* A repeatable flag, kept in command-line order (a later --env wins). */
struct cli_run_rule {
    int flag;          /* CLI_RULE_* */
    const char *value; /* points into argv */
};

enum { CLI_RULE_ALLOW_IMPORT, CLI_RULE_DENY_IMPORT, CLI_RULE_ENV, CLI_RULE_FILE, CLI_RULE_LAYER };

/* The default stdout and stderr caps, kept for the one not given (bytes). */
#define CLI_OUTPUT_LIMIT_DEFAULT_BYTES ((uint64_t)1 << 20)

/* The parsed command line. Strings point into argv. */
struct cli_run_args {
    const char *code_path;         /* FILE, "-" (stdin) when absent */
    const char *code_text;         /* -c CODE, or NULL */
    const char *inputs_json;       /* --inputs, or NULL */
    const char *inputs_path;       /* --inputs-file, or NULL */
    const char *stdin_path;        /* --stdin-file, or NULL */
    const char *prelude_path;      /* --prelude-file, or NULL */
    const char *policy;            /* --policy, or NULL */
    int has_timeout;               /* --timeout given */
    uint64_t timeout_ms;           /* --timeout, milliseconds */
    int has_memory;                /* --memory-mb given */
    uint64_t memory_mib;           /* --memory-mb, MiB */
    int has_cpu;                   /* --cpu-seconds given */
    uint64_t cpu_s;                /* --cpu-seconds, seconds */
    int has_result_limit;          /* --result-limit-bytes given */
    uint64_t result_limit_bytes;   /* --result-limit-bytes, bytes */
    int has_figures_limit;         /* --figures-limit-bytes given */
    uint64_t figures_limit_bytes;  /* --figures-limit-bytes, bytes */
    int has_display_limit;         /* --display-limit-bytes given */
    uint64_t display_limit_bytes;  /* --display-limit-bytes: one display bundle, bytes */
    int has_displays_limit;        /* --displays-limit-bytes given */
    uint64_t displays_limit_bytes; /* --displays-limit-bytes: all bundles, bytes */
    int has_files_limit;           /* --files-limit-bytes given */
    uint64_t files_limit_bytes;    /* --files-limit-bytes, bytes */
    int has_stdout_limit;          /* --stdout-limit-bytes given */
    uint64_t stdout_limit_bytes;   /* --stdout-limit-bytes, bytes */
    int has_stderr_limit;          /* --stderr-limit-bytes given */
    uint64_t stderr_limit_bytes;   /* --stderr-limit-bytes, bytes */
    int cold;                      /* --cold: a fresh interpreter, not the warm helper */
    const char *connect;           /* --connect unix:PATH, or NULL */
    int wait_warm;                 /* --wait-warm: run only once the preload is done */
    const char *output_dir;        /* --output-dir, or NULL */
    const char *figures_dir;       /* --figures-dir, or NULL */
    const char *layers_dir;        /* --layers-dir, or NULL */
    const char *python;            /* --python, or NULL */
    struct cli_run_rule *rules;    /* --allow-import, --deny-import, --env, --file, --layer */
    size_t n_rules;
    int json;        /* --json */
    int help;        /* --help */
    int version;     /* --version */
    char error[512]; /* the first usage error, "" when none */
};

/*
 * Parses the arguments of `run` (argv[0] is "run"). Returns 0 when they are
 * valid; -1 on a usage error, described in args->error (parsing goes on
 * past it so that --json is still seen); -2 when out of memory. In every
 * case args must be released with cli_run_args_release().
 */
int cli_run_args_parse(int argc, char **argv, struct cli_run_args *args);

/* The help text of `pysandbox run` (without the exit status table). */
extern const char cli_run_help[];

/* Frees what cli_run_args_parse() allocated. */
void cli_run_args_release(struct cli_run_args *args);

/* ---- request.c: one execution as a JSON object ------------------------ */

/* Longest field path a fault names ("files.data/in.csv"), with its NUL. */
#define CLI_FIELD_MAX 256

/*
 * Why a request (or a line of a protocol) was refused: a code from the
 * protocol's list (README: `pysandbox serve`), the field it concerns ("" for
 * the request as a whole) and a message for people.
 */
struct cli_fault {
    const char *code; /* static: "wrong_type", "unknown_field", ...; NULL: no fault */
    char field[CLI_FIELD_MAX];
    char message[512];
};

/* Records a fault unless one is recorded (the first is reported). Returns -1. */
__attribute__((format(printf, 4, 5))) int cli_fault_set(struct cli_fault *f, const char *code,
                                                        const char *field, const char *fmt, ...);

/* What a caller lets a request carry besides an execution's own fields. */
enum {
    CLI_REQ_ENVELOPE = 1u << 0, /* id, op and stream: a request of `serve` */
    CLI_REQ_WIDEN = 1u << 1,    /* allow_import: rules that widen the policy */
    CLI_REQ_NO_CODE = 1u << 2,  /* code is optional (a session's creation) */
};

/* A decoded run request. code points into the JSON it came from. */
struct cli_run_request {
    psb_exec_options *options; /* every field but code, cold and stream */
    const char *code;
    size_t code_len;
    bool cold;   /* "cold": true */
    bool stream; /* "stream": true (serve only) */
};

/*
 * Checks a run request (a JSON object: README, `pysandbox serve`) and builds
 * its options. Unknown fields, wrong types and values out of range are
 * faults, never ignored. 0 on success (release r with cli_request_release());
 * -1 with *f filled and nothing to release.
 */
int cli_request_decode(const json_t *req, unsigned allow, struct cli_run_request *r,
                       struct cli_fault *f);
void cli_request_release(struct cli_run_request *r);

/* Bytes as a request carries them: a string when UTF-8 without NUL, else tagged base64. */
json_t *cli_bytes_json(const char *data, size_t len);

/* ---- lines.c: a protocol's lines --------------------------------------- */

/* Reads lines of at most max bytes from fd (blocking unless nonblocking). */
struct cli_lines {
    int fd;
    size_t max;       /* longest line kept, without its newline */
    bool nonblocking; /* read only when readable is set (then clear it): else CLI_LINE_AGAIN */
    bool readable;    /* nonblocking: poll said the fd has data (or EOF) */
    char *buf;        /* bytes read, from start on not yet returned */
    size_t len, cap, start;
    bool dropping; /* inside a line past the cap */
    bool eof;
};

enum cli_line {
    CLI_LINE_OK,       /* *ret_line: the line, NUL-terminated, valid until the next call */
    CLI_LINE_TOO_LONG, /* a line past the cap was read and dropped */
    CLI_LINE_AGAIN,    /* nonblocking: no whole line yet */
    CLI_LINE_EOF,
    CLI_LINE_ERROR, /* a read failed, or out of memory */
};

void cli_lines_init(struct cli_lines *l, int fd, size_t max_bytes);
enum cli_line cli_lines_next(struct cli_lines *l, char **ret_line, size_t *ret_len);
void cli_lines_release(struct cli_lines *l);

/* A stream that many threads write whole lines to. */
struct cli_out {
    int fd;
    bool socket;          /* send() with MSG_NOSIGNAL */
    bool broken;          /* a write failed: the rest is dropped */
    pthread_mutex_t lock; /* one line at a time */
};

void cli_out_init(struct cli_out *o, int fd);
void cli_out_release(struct cli_out *o);
/* Writes text (a whole line with its newline). 0, or -1 once the reader is gone. */
int cli_out_text(struct cli_out *o, const char *text, size_t len);
/* Writes doc as one compact JSON line and releases it (NULL: out of memory). 0 or -1. */
int cli_out_json(struct cli_out *o, json_t *doc);

/* ---- engine.c: executions in flight (serve, mcp) ----------------------- */

struct cli_engine {
    psb_config *config;   /* the server's (not owned) */
    const char *policy;   /* its --policy (NAME or FILE), or NULL: the default */
    psb_sandbox *warm;    /* every execution but cold ones */
    psb_sandbox *cold;    /* started on the first cold request */
    pthread_mutex_t lock; /* running, in_flight */
    pthread_mutex_t cold_lock;
    pthread_cond_t idle;          /* in_flight dropped to 0 */
    unsigned running;             /* executions holding a slot: more than max is busy */
    unsigned in_flight;           /* their threads, until the answer is out (drain waits) */
    unsigned max_in_flight;       /* more is busy */
    struct cli_session *sessions; /* open sessions, each its owner's (under lock) */
    unsigned n_sessions;          /* entries in sessions */
    unsigned max_sessions;        /* more is refused; 0: no sessions */
    unsigned long session_serial; /* names the next one */
};

/* A session of a server's client: cells run one at a time, named by the client. */
struct cli_session {
    char *name;               /* the client's id for it */
    const void *owner;        /* the connection it belongs to (closes with it) */
    psb_session *s;           /* NULL until created */
    struct cli_exec *running; /* the cell (or creation) in flight, or NULL */
    bool held;                /* a snapshot operation has it (cli_session_hold) */
    unsigned pins;            /* answers still being sent that name it */
    bool closed;              /* unlinked: freed once nothing runs */
    psb_snapshot *snaps[64];  /* by the number clients use, minus 1; NULL when dropped */
    unsigned n_snaps;         /* numbers used so far */
    struct cli_session *next; /* the engine's list */
};

struct cli_exec;

/* The start of a UTF-8 character a chunk of output split, kept for the next. */
struct cli_chunk_tail {
    char bytes[4];
    size_t len;
};

/*
 * A chunk of a stream as a JSON string (invalid bytes become U+FFFD), with
 * the character the last chunk left open first and the one this chunk
 * leaves open kept back; NULL when nothing is whole yet (or out of
 * memory). data NULL flushes what is kept.
 */
json_t *cli_chunk_text(struct cli_chunk_tail *t, const char *data, size_t len);

/* How a surface hears of an execution: called on the execution's thread. */
struct cli_exec_ops {
    /* A chunk of stdout (1) or stderr (2) as a JSON string; only with "stream". */
    void (*output)(struct cli_exec *x, int stream, json_t *text);
    /* The end: outcome, or NULL with err when the library failed. Then x is freed. */
    void (*done)(struct cli_exec *x, const psb_outcome *outcome, const psb_error *err);
};

/* One execution. The surface may use owner, id, key and next (its list). */
struct cli_exec {
    struct cli_engine *engine;
    const struct cli_exec_ops *ops;
    void *owner;
    json_t *id; /* the client's id (owned), or NULL */
    char *key;  /* the id as compact JSON text (owned), or NULL */
    struct cli_exec *next;
    json_t *req; /* the request it came from (holds the code) */
    struct cli_run_request request;
    psb_cancel *cancel;          /* psb_cancel_fire() stops it */
    struct cli_session *session; /* runs as a cell of it (taken: cli_session_take), or NULL */
    bool create; /* creates session first (its request's options are the session's) */
    struct cli_chunk_tail tail[2]; /* per stream */
};

/* Starts the warm sandbox. 0, or -1 with err. Release even on failure. */
int cli_engine_init(struct cli_engine *e, psb_config *config, const char *policy,
                    unsigned max_in_flight, psb_error *err);
/* Waits for every execution, then stops the sandboxes. */
void cli_engine_release(struct cli_engine *e);
void cli_engine_drain(struct cli_engine *e);
unsigned cli_engine_in_flight(struct cli_engine *e);

/* An execution for request req (allow: CLI_REQ_*). NULL with *f filled. */
struct cli_exec *cli_exec_new(struct cli_engine *e, json_t *req, unsigned allow,
                              const struct cli_exec_ops *ops, void *owner, struct cli_fault *f);
/*
 * Runs x on its own thread: 0, and x belongs to the engine (ops->done is
 * called, then x is freed). -1 with *f filled ("busy") and x still the caller's.
 */
int cli_exec_start(struct cli_exec *x, struct cli_fault *f);
void cli_exec_free(struct cli_exec *x);

/*
 * The session owner calls name, made free for x to use: x->session is set
 * and the session is busy until x ends. create: made now (name NULL: named
 * by the server) and created on x's thread before its code runs (if any);
 * otherwise it must exist. -1 with *f: unknown_session, session_busy,
 * duplicate_session, or too_many_sessions.
 */
int cli_session_take(struct cli_engine *e, const void *owner, const char *name, bool create,
                     struct cli_exec *x, struct cli_fault *f);
/* Closes owner's session name (a cell in flight is cancelled). -1 with *f: unknown_session. */
int cli_session_close(struct cli_engine *e, const void *owner, const char *name,
                      struct cli_fault *f);
/*
 * owner's session name, held for a snapshot operation (no cell may start
 * meanwhile), or NULL with *f (unknown_session, session_busy).
 * cli_session_unhold() lets it go (and frees it if it was closed).
 */
struct cli_session *cli_session_hold(struct cli_engine *e, const void *owner, const char *name,
                                     struct cli_fault *f);
void cli_session_unhold(struct cli_engine *e, struct cli_session *cs);
/*
 * A new session of owner named name (NULL: named by the server) that runs
 * in s (adopted: freed with it). 0 with its name in *ret_name, or -1 with
 * *f (duplicate_session, too_many_sessions); then s is the caller's.
 */
int cli_session_adopt(struct cli_engine *e, const void *owner, const char *name, psb_session *s,
                      const char **ret_name, struct cli_fault *f);
/* Gives back a session x took but that never started (cli_exec_start failed). */
void cli_session_untake(struct cli_engine *e, struct cli_exec *x);
/* Closes every session of owner (its client went away); NULL: every session. */
void cli_sessions_close_owner(struct cli_engine *e, const void *owner);

/* Unlinks x from a surface's list of executions (under the surface's lock). */
void cli_exec_unlink(struct cli_exec **list, struct cli_exec *x);

/*
 * Blocks SIGTERM, SIGINT and SIGPIPE in the calling thread (call it before
 * starting any) and returns a signalfd that reads the first two, or -1.
 */
int cli_stop_signals(void);

/* Waits until fd is readable (1) or stop_a or stop_b (-1: none) is, or poll fails (0). */
int cli_wait_input(int fd, int stop_a, int stop_b);

/* ---- serve.c, mcp.c ----------------------------------------------------- */

/* `pysandbox serve` and `pysandbox mcp`: argv[0] is the command. */
int cli_cmd_serve(int argc, char **argv);
int cli_cmd_mcp(int argc, char **argv);
/* `pysandbox kernel` and `kernel install` (jupyter/kernel.c). */
int cli_cmd_kernel(int argc, char **argv);
/* `pysandbox repl` (repl.c). */
int cli_cmd_repl(int argc, char **argv);

/* ---- readfile.c --------------------------------------------------------- */

/*
 * Reads all of `path` ("-" means stdin) into a new NUL-terminated buffer of
 * at most max_bytes bytes (plus the NUL). On success returns 0 and sets
 * *ret_data (free() it) and *ret_len. On failure returns -1, writes a
 * one-line message naming the file into errbuf and sets nothing else.
 */
int cli_read_file(const char *path, size_t max_bytes, char **ret_data, size_t *ret_len,
                  char *errbuf, size_t errbuf_size);

/* ---- numparse.c --------------------------------------------------------- */

/* Results of the number parsers. */
enum cli_num {
    CLI_NUM_OK = 0,
    CLI_NUM_SYNTAX = -1, /* not a plain non-negative decimal number */
    CLI_NUM_RANGE = -2,  /* does not fit in 64 bits */
};

/*
 * Parses a plain decimal integer ("42": digits only, no sign, no spaces).
 * Sets *ret only on CLI_NUM_OK.
 */
enum cli_num cli_parse_u64(const char *s, uint64_t *ret);

/*
 * Parses seconds with an optional fraction ("2", "0.5", ".25") into
 * milliseconds; digits past the millisecond are dropped. Sets *ret_ms only
 * on CLI_NUM_OK.
 */
enum cli_num cli_parse_seconds_ms(const char *s, uint64_t *ret_ms);

/* ---- view.c: an outcome, local or from a server ----------------------- */

/* A figure or file: data (and a file's name), owned by the view. */
struct cli_blob {
    const char *name; /* files only */
    const void *data;
    size_t len;
    void *owned; /* what to free, or NULL */
};

/* What `run` reports of an outcome. Strings are NULL when absent. */
struct cli_view {
    bool ok;
    psb_error_kind kind; /* PSB_KIND_NONE when ok */
    const char *type, *message, *traceback, *module, *event;
    const char *result_json; /* compact JSON text ("null" when none) */
    const char *out, *err;   /* captured stdout and stderr */
    size_t out_len, err_len;
    bool out_trunc, err_trunc;
    struct cli_blob *figures, *files;
    size_t n_figures, n_files;
    const char **shown; /* text/plain of each display() bundle (not the last expression's) */
    size_t n_shown;
    const char *json_text; /* the whole outcome as `run --json` prints it */
    /* What the view owns: */
    json_t *doc;
    char *result_owned, *json_owned;
};

/* A view of a local outcome (which must outlive it). 0, or -1 when out of memory. */
int cli_view_from_outcome(struct cli_view *v, const psb_outcome *outcome);
/* A view of an outcome a server sent. 0, or -1 when it is not an outcome. */
int cli_view_from_json(struct cli_view *v, json_t *doc);
/* Frees what the view owns; a view that failed to build is released too. */
void cli_view_release(struct cli_view *v);

/* ---- connect.c: run --connect ------------------------------------------ */

/*
 * Sends request (a run request, without id and op) to the `serve` at target
 * ("unix:PATH") and fills *v with the outcome it answers. 0; or -1 with a
 * message in errbuf and *ret_rc the exit status (2: the server refused the
 * request; 6: no server, or it broke the protocol).
 */
int cli_connect_run(const char *target, const json_t *request, struct cli_view *v, int *ret_rc,
                    char *errbuf, size_t errbuf_size);

/* ---- outputs.c: writing what the code produced ------------------------- */

/*
 * Creates directory `path` and its missing parents (mode 0755; symlinks in
 * the path the user gave are followed) and opens it. On success returns 0
 * and sets *ret_dirfd (close-on-exec; close() it). On failure returns -1,
 * writes a one-line message naming the directory into errbuf, sets nothing.
 */
int cli_open_out_dir(const char *path, int *ret_dirfd, char *errbuf, size_t errbuf_size);

/*
 * Writes every file of the outcome under dirfd (shown to the user as
 * dir_name), creating subdirectories (0755) as needed. Never follows a
 * symlink below dirfd and never leaves it: a name that is absolute or holds
 * an empty, '.' or '..' part is skipped with a warning on stderr. Returns
 * the number of files that could not be written (each reported on stderr).
 */
size_t cli_write_files(int dirfd, const char *dir_name, const struct cli_view *outcome);

/*
 * Writes each figure of the outcome as dirfd/figure-N.png (N from 1), with
 * the same care as cli_write_files(). Returns the number not written.
 */
size_t cli_write_figures(int dirfd, const char *dir_name, const struct cli_view *outcome);

/* ---- utf8.c ------------------------------------------------------------- */

/*
 * Checks that text is UTF-8 without NUL bytes, as the API requires of code.
 * Returns NULL when it is, else a static description of the first problem
 * and its byte offset in *ret_offset.
 */
const char *cli_check_text(const char *text, size_t len, size_t *ret_offset);

/* ---- report.c ----------------------------------------------------------- */

/* The exit status for a failed execution of this kind (0 for none). */
int cli_exit_for_kind(psb_error_kind kind);

/* What cli_print_outcome() may say was written to disk (bit flags). */
enum {
    CLI_SAVED_FIGURES = 1 << 0, /* --figures-dir was given */
    CLI_SAVED_FILES = 1 << 1,   /* --output-dir was given */
};

/*
 * Prints an outcome: with json, psb_outcome_json() on stdout; else the
 * captured output, the result and a readable error block, with a note on
 * figures and files that no flag in `saved` (CLI_SAVED_*) wrote to disk.
 * Returns the exit status for the outcome.
 */
int cli_print_outcome(const struct cli_view *outcome, int json, unsigned saved);

/*
 * Prints a failure that happened before or instead of an execution as one
 * JSON object of the --json shape (status "error", error kind `kind`, null
 * result, empty output, zero stats, no figures or files) on stdout.
 */
void cli_print_failure_json(psb_error_kind kind, const char *message);

#endif /* PSB_CLI_H */
