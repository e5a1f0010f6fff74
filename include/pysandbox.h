/*
 * pysandbox.h - run untrusted Python from C in a forked, confined child.
 *
 * The whole public API of libpysandbox. A sandbox owns one helper process
 * (spawned once, single-threaded, clean environment); every psb_exec() forks
 * a fresh child from that helper, runs the code there and returns an outcome.
 *
 * Threads: psb_exec() may be called on one sandbox from many threads at once.
 * Everything else takes an object that one thread uses at a time: configs
 * and options while they are being set up (afterwards options may be shared
 * read-only by concurrent psb_exec() calls), outcomes (read from any thread,
 * freed once). The library keeps no global state and never prints, exits or
 * installs signal handlers.
 *
 * Ownership: strings passed in are copied; strings and bytes handed out are
 * owned by the object they came from and live until it is freed. Every
 * *_free(NULL) is a no-op.
 */
#ifndef PYSANDBOX_H
#define PYSANDBOX_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Everything declared here is exported from the shared library. */
#if defined(__GNUC__)
#pragma GCC visibility push(default)
#endif

#define PSB_VERSION_MAJOR 0
#define PSB_VERSION_MINOR 1
#define PSB_VERSION_PATCH 0
#define PSB_VERSION_STRING "0.1.0"

/*
 * The version of the library the program runs against ("0.1.0"), which may
 * be newer than the PSB_VERSION_* it was compiled with: a program can
 * compare the two. ABI rule: within one major version (the SONAME,
 * libpysandbox.so.0) functions and enum values are only ever added; a
 * removal or a changed signature, struct layout (psb_error, psb_stats) or
 * meaning raises the major version and the SONAME. The exported symbols are
 * exactly tests/exports.txt (ctest exports).
 */
const char *psb_version(void);

/*
 * Status of an API call. Values are only ever appended. A failure of the
 * sandboxed code is not an API failure: psb_exec() returns PSB_OK and the
 * outcome says what went wrong.
 */
#define PSB_STATUS_MAP(X)                                                                          \
    X(OK, "success")                                                                               \
    X(EINVAL, "invalid argument")                                                                  \
    X(ENOMEM, "out of memory")                                                                     \
    X(ESYS, "system call failed")                                                                  \
    X(EHELPER, "the sandbox helper process failed")                                                \
    X(EPROTO, "malformed message from the sandbox helper")                                         \
    X(EPOLICY, "invalid sandbox policy")                                                           \
    X(EUNSUPPORTED, "required feature not available on this system")

typedef enum psb_status {
#define PSB__STATUS_ENUM(name, msg) PSB_##name,
    PSB_STATUS_MAP(PSB__STATUS_ENUM)
#undef PSB__STATUS_ENUM
        PSB__STATUS_COUNT
} psb_status;

/* A static, human-readable description of a status ("invalid argument"). */
const char *psb_status_str(psb_status status);

/*
 * Caller-allocated error details. Functions that take a psb_error * fill it
 * on failure (the first error wins; pass NULL to ignore details). `code` is
 * the returned status, `sys_errno` the errno behind an ESYS failure (else 0).
 */
typedef struct psb_error {
    psb_status code;   /* same value the function returned */
    int sys_errno;     /* errno for PSB_ESYS, 0 otherwise */
    char message[512]; /* NUL-terminated, one line, no trailing newline */
} psb_error;

/*
 * The kind of error of a failed execution. The names (psb_error_kind_name)
 * are stable and wire-visible. Values are only ever appended.
 */
#define PSB_KIND_MAP(X)                                                                            \
    X(NONE, "none")                                                                                \
    X(TIMEOUT, "timeout")                                                                          \
    X(MEMORY_LIMIT, "memory_limit")                                                                \
    X(CPU_LIMIT, "cpu_limit")                                                                      \
    X(IMPORT_DENIED, "import_denied")                                                              \
    X(DENIED, "denied")                                                                            \
    X(SYNTAX_ERROR, "syntax_error")                                                                \
    X(EXCEPTION, "exception")                                                                      \
    X(RESULT_NOT_SERIALIZABLE, "result_not_serializable")                                          \
    X(OUTPUT_LIMIT, "output_limit")                                                                \
    X(CRASHED, "crashed")                                                                          \
    X(INVALID_REQUEST, "invalid_request")                                                          \
    X(INTERNAL, "internal")                                                                        \
    X(CANCELLED, "cancelled")                                                                      \
    X(SESSION_LOST, "session_lost")

typedef enum psb_error_kind {
#define PSB__KIND_ENUM(name, str) PSB_KIND_##name,
    PSB_KIND_MAP(PSB__KIND_ENUM)
#undef PSB__KIND_ENUM
        PSB__KIND_COUNT
} psb_error_kind;

/* The stable wire name of a kind ("timeout"); "internal" for unknown values. */
const char *psb_error_kind_name(psb_error_kind kind);

/* ------------------------------------------------------------------------ */
/* Configuration of a sandbox                                               */
/* ------------------------------------------------------------------------ */

typedef struct psb_config psb_config;

/*
 * A new configuration with the `default` policy and default limits.
 * Returns NULL (and fills err) only when out of memory. Free with
 * psb_config_free(). A config is not thread-safe; a sandbox copies what it
 * needs, so the config may be freed right after psb_sandbox_new().
 */
psb_config *psb_config_new(psb_error *err);

/* Frees a configuration. NULL is a no-op. */
void psb_config_free(psb_config *config);

/*
 * Sets the policy from a preset name ("default", "data-science", "strict"),
 * a path to a JSON policy file (see README "Policy files"), or the JSON
 * document itself (text whose first non-blank character is '{'). On error
 * (unknown preset, unreadable file, bad JSON, unknown key, bad value: the
 * message names the offending key path) the config is unchanged.
 */
psb_status psb_config_set_policy(psb_config *config, const char *name_or_path, psb_error *err);

/* Same as psb_config_set_policy() with the policy document given as JSON. */
psb_status psb_config_set_policy_json(psb_config *config, const char *json, psb_error *err);

/*
 * The configuration's policy as one compact JSON object: the normalized
 * document with every key and its default filled in (what a server shows
 * its clients). A new string; free() it. NULL when out of memory.
 */
char *psb_config_policy_json(const psb_config *config);

/*
 * Path of the helper executable (pysandbox-helper). By default the library
 * uses $PYSANDBOX_HELPER if set, then the installed helper, then the one in
 * the build tree. The string is copied.
 */
psb_status psb_config_set_helper_path(psb_config *config, const char *path, psb_error *err);

/* How a sandbox starts its executions. */
typedef enum psb_mode {
    /*
     * The helper initializes Python once and imports the preload set; each
     * execution forks from that state (copy-on-write). The default.
     */
    PSB_MODE_WARM = 0,
    /* Each execution initializes a fresh interpreter after the fork. */
    PSB_MODE_COLD = 1,
} psb_mode;

/* Chooses warm (default) or cold executions. */
psb_status psb_config_set_mode(psb_config *config, psb_mode mode, psb_error *err);

/*
 * Warm mode: whether psb_sandbox_new() returns before the preload is done
 * (enabled, the default). The helper then answers once a minimal
 * interpreter runs, and executions that arrive while the warm state is
 * being built run from that interpreter, importing on demand under the
 * same confinement (psb_stats.start PSB_START_EARLY); later ones fork from
 * the warm state (PSB_START_WARM). Disabled, psb_sandbox_new() waits for
 * the preload and every execution is warm.
 */
psb_status psb_config_set_early_start(psb_config *config, int enabled, psb_error *err);

/*
 * Where start-up work done once is kept (matplotlib's font list), read by
 * every helper and readable, never writable, by the children. An absolute
 * path; NULL for the default: $XDG_CACHE_HOME/pysandbox, else
 * $HOME/.cache/pysandbox, and /var/cache/pysandbox for root or without a
 * HOME. The directory must be owned by the caller's uid and writable by no
 * one else, or it is not used. The string is copied.
 */
psb_status psb_config_set_cache_dir(psb_config *config, const char *path, psb_error *err);

/*
 * The modules a warm helper imports before forking (dotted names, at most
 * 256). Without this call: numpy, pandas, matplotlib (Agg backend) and the
 * stdlib modules analysis code uses, skipping any that are not installed.
 * With it, a module that cannot be found makes psb_sandbox_new() fail; one
 * that is found but fails to import does so only with early start disabled
 * (otherwise executions stay on the early path).
 * count 0 preloads nothing. The strings are copied.
 */
psb_status psb_config_set_preload(psb_config *config, const char *const *modules, size_t count,
                                  psb_error *err);

/*
 * Runs each execution in the interpreter at `path` (an absolute path: a
 * venv's bin/python, another CPython 3.8 or later) instead of the embedded
 * one: the helper forks and confines the child as for any execution (the
 * same namespaces, uid, rlimits, cgroups; Landlock lets it read that
 * interpreter's libraries and execute only it and its loader; seccomp
 * allows execve and still no process creation), and the child then execs
 * it with a bootstrap that runs the code and answers as the embedded
 * engine does: the same outcome kinds, limits, caps, result shapes,
 * figures and files. Weaker: the audit hook and import filter are
 * installed from Python, not C; nothing is preloaded (every execution
 * starts an interpreter); no sessions (psb_session_new() fails with
 * PSB_EUNSUPPORTED) and no input callback. NULL: the embedded interpreter.
 * The path must name an executable file; the string is copied.
 */
psb_status psb_config_set_python(psb_config *config, const char *path, psb_error *err);

/*
 * How many executions may run at once on one sandbox (default 16, range
 * 1..1024). Further psb_exec() calls wait for a free slot.
 */
psb_status psb_config_set_max_concurrency(psb_config *config, unsigned count, psb_error *err);

/* ------------------------------------------------------------------------ */
/* Sandbox                                                                  */
/* ------------------------------------------------------------------------ */

typedef struct psb_sandbox psb_sandbox;

/*
 * Creates a sandbox and spawns its helper process. On success *ret_sandbox
 * is set; on failure it is untouched and err says why. The library never
 * forks the calling process: the helper is started with posix_spawn() in a
 * clean environment. Thread-safe with respect to other sandboxes.
 */
psb_status psb_sandbox_new(const psb_config *config, psb_sandbox **ret_sandbox, psb_error *err);

/*
 * Stops the helper (killing any running execution), reaps it and frees the
 * sandbox. NULL is a no-op. No psb_exec() on this sandbox may be running or
 * start during or after the call.
 */
void psb_sandbox_free(psb_sandbox *sandbox);

/* ------------------------------------------------------------------------ */
/* Per-execution options                                                    */
/* ------------------------------------------------------------------------ */

typedef struct psb_exec_options psb_exec_options;

/*
 * New options: every value falls back to the sandbox policy's default.
 * Not thread-safe; may be shared read-only by concurrent psb_exec() calls
 * once set up. Returns NULL only when out of memory.
 */
psb_exec_options *psb_exec_options_new(psb_error *err);

/* Frees options. NULL is a no-op. */
void psb_exec_options_free(psb_exec_options *options);

/* Wall-clock limit, 1 ms .. 24 h (default 30 s). */
psb_status psb_exec_options_set_timeout_ms(psb_exec_options *options, uint64_t timeout_ms,
                                           psb_error *err);

/* Memory limit in MiB, 32 .. 1048576 (default 512). */
psb_status psb_exec_options_set_memory_limit_mib(psb_exec_options *options, uint64_t memory_mib,
                                                 psb_error *err);

/* CPU time limit in seconds, 1 .. 86400 (default 30). */
psb_status psb_exec_options_set_cpu_limit_s(psb_exec_options *options, uint64_t cpu_s,
                                            psb_error *err);

/*
 * Caps on captured stdout and stderr in bytes, 0 .. 1 GiB each (default
 * 1 MiB). Output past a cap is discarded and the truncated flag is set.
 */
psb_status psb_exec_options_set_output_limits(psb_exec_options *options, uint64_t stdout_bytes,
                                              uint64_t stderr_bytes, psb_error *err);

/*
 * Cap on the size of the `result` JSON in bytes, 2 .. 1 GiB (default
 * 16 MiB). A larger result ends the execution with kind output_limit.
 */
psb_status psb_exec_options_set_result_limit_bytes(psb_exec_options *options, uint64_t result_bytes,
                                                   psb_error *err);

/*
 * Data the child reads on stdin (copied; at most 64 MiB). Without it stdin
 * is /dev/null.
 */
psb_status psb_exec_options_set_stdin(psb_exec_options *options, const void *data, size_t len,
                                      psb_error *err);

/*
 * Adds NAME=VALUE to the child's environment (replacing an earlier value of
 * NAME). The child sees only the policy's environment plus these, and
 * HOME/TMPDIR pointing at its scratch dir unless set. NAME must match
 * [A-Za-z_][A-Za-z0-9_]*; at most 256 variables, 64 KiB in all.
 */
psb_status psb_exec_options_set_env(psb_exec_options *options, const char *name, const char *value,
                                    psb_error *err);

/*
 * Code run in the same globals before the user's code (so user code can use
 * the names it defines), under the same policy. UTF-8 without NUL, copied.
 */
psb_status psb_exec_options_set_prelude(psb_exec_options *options, const char *code, size_t len,
                                        psb_error *err);

/*
 * Allows or denies a module (and its submodules) to user code, on top of the
 * policy: a rule here replaces the policy's rule for the same module. The
 * most specific rule wins; deny wins a tie. At most 256 rules. Only the
 * Python-level filter reads these: the kernel layers still refuse what the
 * module would do (allowing `socket` does not open the network).
 */
psb_status psb_exec_options_allow_import(psb_exec_options *options, const char *module,
                                         psb_error *err);
psb_status psb_exec_options_deny_import(psb_exec_options *options, const char *module,
                                        psb_error *err);

/*
 * The `inputs` global: a JSON object (at most 64 MiB, 200 levels of
 * nesting, 4 Mi values). Validated here: malformed JSON, a non-object or
 * a cap passed is PSB_EINVAL and nothing changes. Tagged
 * values ({"$type": ...}, as results write them; README "Value types") are
 * decoded in the child before the code runs: a malformed or refused tag is
 * an outcome of kind PSB_KIND_EXCEPTION naming the tag, not an API error.
 */
psb_status psb_exec_options_set_inputs_json(psb_exec_options *options, const char *json, size_t len,
                                            psb_error *err);

/*
 * Places a read-only copy of data under `name` in the execution's working
 * directory before the code runs (the data is copied). name is relative:
 * '/'-separated parts, none empty, "." or ".."; at most 1000 files and
 * 64 MiB in all. Adding a name twice replaces the earlier file.
 */
psb_status psb_exec_options_add_file(psb_exec_options *options, const char *name, const void *data,
                                     size_t len, psb_error *err);

/*
 * Cap on the PNG bytes of captured figures (default 16 MiB, 0 .. 256 MiB);
 * figures past it are dropped and psb_outcome_figures_truncated() says so.
 */
psb_status psb_exec_options_set_figures_limit_bytes(psb_exec_options *options,
                                                    uint64_t figures_bytes, psb_error *err);

/*
 * Caps on display bundles (display() and the value of the last
 * expression): the bytes of one bundle (default 4 MiB, 0 .. 256 MiB; a
 * larger one loses its richest entries, then its text/plain is cut) and of
 * all of them (default 16 MiB, 0 .. 256 MiB; later bundles are dropped).
 * psb_outcome_displays_truncated() says when either cut something.
 */
psb_status psb_exec_options_set_display_limit_bytes(psb_exec_options *options,
                                                    uint64_t bundle_bytes, psb_error *err);
psb_status psb_exec_options_set_displays_limit_bytes(psb_exec_options *options,
                                                     uint64_t total_bytes, psb_error *err);

/*
 * Cap on the files the code leaves in its working directory (default
 * 16 MiB in all, 0 .. 256 MiB). More ends the execution with kind
 * output_limit.
 */
psb_status psb_exec_options_set_files_limit_bytes(psb_exec_options *options, uint64_t files_bytes,
                                                  psb_error *err);

/*
 * Streams the output as it arrives: fn(user, stream, data, len) is called on
 * the thread inside psb_exec() with each chunk of stdout (stream 1) or
 * stderr (stream 2), in order, and only with bytes within the output caps,
 * so the chunks of a stream add up to what the outcome holds. fn must not
 * call back into the sandbox. NULL fn turns streaming off.
 */
typedef void (*psb_output_fn)(void *user, int stream, const char *data, size_t len);
psb_status psb_exec_options_set_output_callback(psb_exec_options *options, psb_output_fn fn,
                                                void *user, psb_error *err);

/*
 * Answers input() (and getpass.getpass(), with password 1) in the code:
 * fn(user, prompt, password) is called on the thread inside psb_exec() or
 * psb_session_exec() each time the code asks for a line, after the output
 * printed before it went to the output callback. It returns the line
 * without its newline in malloc()ed memory, which the library frees (at
 * most 1 MiB of it is passed on), or NULL for the end of input (EOFError
 * in the code). The prompt is UTF-8 without NUL, at most 64 KiB; the code
 * does not print it. The execution's time limit runs meanwhile. Exclusive
 * with stdin (PSB_EINVAL); NULL fn: input() reads stdin.
 */
typedef char *(*psb_input_fn)(void *user, const char *prompt, int password);
psb_status psb_exec_options_set_input_callback(psb_exec_options *options, psb_input_fn fn,
                                               void *user, psb_error *err);

/* ------------------------------------------------------------------------ */
/* Cancellation                                                             */
/* ------------------------------------------------------------------------ */

/*
 * A cancellation token: an execution whose options name a token stops soon
 * after the token fires (its child is killed at once, then reaped) and ends
 * with kind cancelled; one waiting for a concurrency slot gives up. A token
 * that has fired stays fired. One token may serve many executions.
 */
typedef struct psb_cancel psb_cancel;

/* A new token that has not fired. NULL when out of memory or out of fds. */
psb_cancel *psb_cancel_new(psb_error *err);

/* Frees a token no execution uses any more. NULL is a no-op. */
void psb_cancel_free(psb_cancel *cancel);

/* Fires the token. Thread-safe and async-signal-safe (a signal handler may call it). */
void psb_cancel_fire(psb_cancel *cancel);

/* 1 once the token has fired, else 0. */
int psb_cancel_fired(const psb_cancel *cancel);

/* The token this execution obeys (not copied: it must outlive psb_exec()); NULL for none. */
psb_status psb_exec_options_set_cancel(psb_exec_options *options, psb_cancel *cancel,
                                       psb_error *err);

/* ------------------------------------------------------------------------ */
/* Execution and outcome                                                    */
/* ------------------------------------------------------------------------ */

typedef struct psb_outcome psb_outcome;

/*
 * Runs `code` (len bytes of UTF-8 without NUL, at most 16 MiB) in a fresh
 * child. options may be NULL. On PSB_OK *ret_outcome holds the outcome (free
 * it with psb_outcome_free), whatever the code did. Bad input (code not
 * UTF-8 or with NUL, too large) returns PSB_EINVAL and runs nothing.
 * Thread-safe: many threads may call psb_exec() on one sandbox at once.
 * If the helper dies during the execution (or stops answering), the outcome
 * is kind internal and the next call starts a new helper; PSB_EHELPER is
 * returned only when no helper can be started at all.
 */
psb_status psb_exec(psb_sandbox *sandbox, const char *code, size_t len,
                    const psb_exec_options *options, psb_outcome **ret_outcome, psb_error *err);

/* Frees an outcome and every string it handed out. NULL is a no-op. */
void psb_outcome_free(psb_outcome *outcome);

/* 1 if the execution succeeded (status "ok"), 0 if it failed. */
int psb_outcome_ok(const psb_outcome *outcome);

/* PSB_KIND_NONE when ok, else why the execution failed. */
psb_error_kind psb_outcome_error_kind(const psb_outcome *outcome);

/*
 * Details of a failure; NULL when not known. `type` is the Python exception
 * type, `message` its text, `traceback` the formatted traceback of user
 * code, `module` the denied module, `event` the denied audit event or
 * syscall. Owned by the outcome.
 */
const char *psb_outcome_error_type(const psb_outcome *outcome);
const char *psb_outcome_error_message(const psb_outcome *outcome);
const char *psb_outcome_error_traceback(const psb_outcome *outcome);
const char *psb_outcome_error_module(const psb_outcome *outcome);
const char *psb_outcome_error_event(const psb_outcome *outcome);

/* The `result` global as compact JSON ("null" when unset or on error). */
const char *psb_outcome_result_json(const psb_outcome *outcome);

/*
 * Captured output (bytes, NUL-terminated for convenience; may hold NULs).
 * *ret_len gets the length; *ret_truncated (may be NULL) whether the cap cut
 * it. Owned by the outcome.
 */
const char *psb_outcome_stdout(const psb_outcome *outcome, size_t *ret_len, int *ret_truncated);
const char *psb_outcome_stderr(const psb_outcome *outcome, size_t *ret_len, int *ret_truncated);

/* What an execution's child was forked from (psb_stats.start). Values are only appended. */
typedef enum psb_start {
    PSB_START_NONE = 0,  /* no child ran: the helper could not start one */
    PSB_START_WARM = 1,  /* the warm state: the preload set already imported */
    PSB_START_EARLY = 2, /* a minimal interpreter, while the warm state was being built */
    PSB_START_COLD = 3,  /* a fresh interpreter (PSB_MODE_COLD) */
} psb_start;

/* "none", "warm", "early", "cold" (the JSON form); "unknown" for other values. */
const char *psb_start_name(psb_start start);

typedef struct psb_stats {
    uint64_t wall_ms;      /* fork to reap, milliseconds */
    uint64_t cpu_ms;       /* user + system CPU of the child, milliseconds */
    uint64_t peak_rss_kib; /* peak resident set of the child, KiB */
    /* Peak of the execution's memory cgroup (its pages, scratch files, stdin,
     * pipe and kernel buffers), KiB; 0 where no memory cgroup was writable. */
    uint64_t peak_memory_kib;
    psb_start start; /* warm, early (before the warm state was ready) or cold */
} psb_stats;

/*
 * Figures: every matplotlib figure shown or still open when the code ended,
 * as PNG. psb_outcome_figure() fills what is asked (pointers may be NULL)
 * and returns 0, or -1 when index is out of range. Owned by the outcome.
 */
size_t psb_outcome_figure_count(const psb_outcome *outcome);
int psb_outcome_figure(const psb_outcome *outcome, size_t index, const void **ret_data,
                       size_t *ret_len, const char **ret_mime, unsigned *ret_width,
                       unsigned *ret_height);
/* 1 if the figure cap dropped figures. */
int psb_outcome_figures_truncated(const psb_outcome *outcome);

/*
 * Files the code wrote in its working directory (regular files, sorted by
 * name, input files left unchanged are not repeated). Names are relative
 * and validated like psb_exec_options_add_file() names. Returns 0, or -1
 * when index is out of range. Owned by the outcome.
 */
size_t psb_outcome_file_count(const psb_outcome *outcome);
int psb_outcome_file(const psb_outcome *outcome, size_t index, const char **ret_name,
                     const void **ret_data, size_t *ret_len);

/*
 * Display outputs, as a notebook shows them: one MIME bundle per display()
 * call in the code, in order, and last the value of the code's last
 * expression statement when it is not None (as `df.head()` alone on the
 * last line; a trailing `;` hides it). psb_outcome_display() gives a
 * bundle's type, "display_data" or "execute_result" (the last
 * expression), as Jupyter names them, and how many entries it has;
 * psb_outcome_display_entry() one entry: its MIME type and value. Every
 * bundle has "text/plain"; "text/html" comes from _repr_html_ (pandas
 * DataFrames), "image/png" (base64) from matplotlib figures and _repr_png_,
 * "application/json" (JSON text) for plain dicts and lists and _repr_json_.
 * Values are UTF-8 text (len bytes, NUL-terminated). 0, or -1 when an index
 * is out of range. Owned by the outcome.
 */
size_t psb_outcome_display_count(const psb_outcome *outcome);
int psb_outcome_display(const psb_outcome *outcome, size_t index, const char **ret_type,
                        size_t *ret_entries);
int psb_outcome_display_entry(const psb_outcome *outcome, size_t index, size_t entry,
                              const char **ret_mime, const char **ret_data, size_t *ret_len);
/* The value of bundle `index` for `mime`, or NULL when it has none. */
const char *psb_outcome_display_find(const psb_outcome *outcome, size_t index, const char *mime,
                                     size_t *ret_len);
/* 1 if the display caps dropped bundles or cut one. */
int psb_outcome_displays_truncated(const psb_outcome *outcome);

/* Copies the execution statistics into *ret_stats. */
void psb_outcome_stats(const psb_outcome *outcome, psb_stats *ret_stats);

/*
 * The whole outcome as one compact JSON object, the CLI's --json shape:
 * {"status","result","stdout","stdout_truncated","stderr",
 *  "stderr_truncated","error","stats","figures","figures_truncated","files",
 *  "displays_truncated","displays"}
 * with figures as {"mime","width","height","base64"} and files as
 * {"name","size","base64"}, displays as {"type","data":{MIME: value}}
 * (JSON types as JSON, the rest as strings). Output that is not valid UTF-8 is
 * decoded with U+FFFD replacements. Owned by the outcome; NULL only when
 * out of memory.
 */
const char *psb_outcome_json(const psb_outcome *outcome);

/* ------------------------------------------------------------------------ */
/* Sessions: state across cells                                             */
/* ------------------------------------------------------------------------ */

/*
 * A session is one confined child, forked from the helper like an
 * execution's and confined by the same layers, that runs cells one after
 * another in the same interpreter: variables, imports, functions and the
 * files in its working directory persist. It never serves another session.
 * Each cell's outcome is an outcome like psb_exec()'s (the last
 * expression's value among its displays, files written by that cell only,
 * `result` as that cell set it: a `result` from an earlier cell stays a
 * variable but is not returned again).
 */
typedef struct psb_session psb_session;

/*
 * Starts a session on sandbox. options (may be NULL) set what holds for
 * the whole session: memory (across cells, and the scratch files), CPU
 * (the total of all cells), threads, scratch size, open files, file size,
 * env, import rules, the prelude (run once, now), the `inputs` every cell
 * starts with, the lifetime and the idle time (below); stdin is refused.
 * On failure *ret_session is untouched: PSB_EINVAL when the prelude
 * failed (the message says how), PSB_EHELPER when the child could not
 * start. The session holds a process until psb_session_free().
 */
psb_status psb_session_new(psb_sandbox *sandbox, const psb_exec_options *options,
                           psb_session **ret_session, psb_error *err);

/*
 * Runs one cell. options (may be NULL) may set only what belongs to a cell:
 * the timeout, the output, result, figure, file and display caps, inputs
 * (rebinding `inputs`), files placed before it runs, the output and input
 * callbacks and a cancellation token; anything else is PSB_EINVAL. A cell that
 * passes its timeout (or is cancelled) gets KeyboardInterrupt, ends with
 * kind timeout (cancelled) and its traceback, and the session goes on; if
 * it does not stop within the grace, or the process dies, the session ends
 * and the outcome says so (kind session_lost with the reason; memory_limit
 * or cpu_limit when a session limit ended it). Once ended, every cell
 * returns kind session_lost at once. Thread-safe: a cell started while
 * another of the same session runs waits for it; different sessions run
 * in parallel (each cell counts against the sandbox's concurrency).
 */
psb_status psb_session_exec(psb_session *session, const char *code, size_t len,
                            const psb_exec_options *options, psb_outcome **ret_outcome,
                            psb_error *err);

/*
 * Questions an editor or a notebook asks about code without running it as
 * a cell, answered inside the session's process from its own namespace
 * (so they may run the code's properties and __getattr__, under the
 * cell's limits in options, which may set what psb_session_exec() allows).
 * The answer is the outcome's result, a JSON object; cursor counts Unicode
 * code points into code (Jupyter's convention):
 *   PSB_ASK_COMPLETE     {"matches": [...], "cursor_start", "cursor_end", "metadata": {}}
 *   PSB_ASK_INSPECT      {"found": bool, "data": {"text/plain": ...}, "metadata": {}}
 *                        (the name at or before cursor: type, value, signature, docstring;
 *                        PSB_ASK_INSPECT_DETAIL adds its source)
 *   PSB_ASK_IS_COMPLETE  {"status": "complete" | "incomplete" | "invalid", "indent"}
 *   PSB_ASK_EXPRESSIONS  code is a JSON object NAME -> expression; the answer maps each
 *                        NAME to {"status": "ok", "data": MIME bundle, "metadata": {}} or
 *                        {"status": "error", "ename", "evalue", "traceback": [...]}
 * Nothing of the session changes but what the code's own properties change;
 * no displays, figures or files come back. A question that fails (the
 * session ended, a time limit) is an outcome with that kind, as a cell's.
 */
typedef enum psb_ask {
    PSB_ASK_COMPLETE,
    PSB_ASK_INSPECT,
    PSB_ASK_INSPECT_DETAIL,
    PSB_ASK_IS_COMPLETE,
    PSB_ASK_EXPRESSIONS,
} psb_ask;
psb_status psb_session_ask(psb_session *session, psb_ask question, const char *code, size_t len,
                           size_t cursor, const psb_exec_options *options,
                           psb_outcome **ret_outcome, psb_error *err);

/*
 * Snapshots. psb_session_snapshot() freezes a copy-on-write fork of the
 * session's process as it is between cells, with a copy of its working
 * directory, confined like the session; a snapshot costs the memory the
 * session changes after it (counted against the session's memory limit)
 * and its copy of the files (against the scratch size), and a session
 * keeps at most `snapshots` of them (default 16). psb_session_restore()
 * continues the session from a snapshot: its current process is discarded
 * (if the snapshot's process is gone, so is the session) and the snapshot
 * stays for another restore. psb_session_branch() starts a new session
 * from a snapshot, beside the first: the two go on independently, in
 * processes of their own, sharing the first session's scratch space (a
 * branch can read the other's working directory) and never anything of
 * another session. A snapshot belongs to its session: freeing the session
 * stops its snapshots' processes (their handles then only free memory).
 * PSB_EINVAL for a NULL argument, another session's snapshot, an ended
 * session or a snapshot past the limit; PSB_EHELPER when the fork failed
 * (the session goes on unless the message says it ended). Thread-safe like
 * psb_session_exec(): an operation waits for a running cell.
 */
typedef struct psb_snapshot psb_snapshot;
psb_status psb_session_snapshot(psb_session *session, psb_snapshot **ret_snapshot, psb_error *err);
psb_status psb_session_restore(psb_session *session, const psb_snapshot *snapshot, psb_error *err);
psb_status psb_session_branch(psb_snapshot *snapshot, psb_session **ret_session, psb_error *err);
/* Stops the snapshot's process and frees it. NULL is a no-op. */
void psb_snapshot_free(psb_snapshot *snapshot);
/* How many snapshots a session keeps at once (default 16, 0 .. 256), an option of
 * psb_session_new(). */
psb_status psb_exec_options_set_max_snapshots(psb_exec_options *options, uint64_t count,
                                              psb_error *err);

/* 1 while the session's process runs (waits for a running cell), 0 once it ended. */
int psb_session_alive(psb_session *session);

/*
 * Stops the session's process and frees the session. NULL is a no-op. No
 * cell of it may be running. Free sessions before their sandbox.
 */
void psb_session_free(psb_session *session);

/*
 * A session's lifetime (default 24 h, 1 s .. 7 days) and how long it may
 * wait for a cell (default 15 min, 1 s .. 7 days); then the helper stops it
 * and the next cell returns session_lost saying which. Options of
 * psb_session_new(); ignored by psb_exec().
 */
psb_status psb_exec_options_set_session_lifetime_s(psb_exec_options *options, uint64_t lifetime_s,
                                                   psb_error *err);
psb_status psb_exec_options_set_session_idle_s(psb_exec_options *options, uint64_t idle_s,
                                               psb_error *err);

/* ------------------------------------------------------------------------ */
/* Module layers: your own packages, installed once, mounted read-only      */
/* ------------------------------------------------------------------------ */

/*
 * A module layer is a directory of installed packages (a site dir), owned
 * by the host user, in a layers dir; an execution that names it finds its
 * packages first on sys.path, readable and never writable. Not to be
 * confused with the confinement layers below (psb_layer, psb_layer_name).
 *
 * The layers dir of sandboxes created from config and of the psb_layer_*
 * calls: an absolute path; NULL for the default, $PYSANDBOX_LAYERS, else
 * /var/lib/pysandbox/layers for root (whose children run as another uid),
 * else $XDG_DATA_HOME/pysandbox/layers, else
 * $HOME/.local/share/pysandbox/layers.
 * It must be owned by the caller's uid and writable by no one else. The
 * string is copied.
 */
psb_status psb_config_set_layers_dir(psb_config *config, const char *path, psb_error *err);

/*
 * Mounts module layer `name` for this execution (or session), besides the
 * policy's "layers"; at most 16 in all. The name is checked here; that the
 * layer exists, when the execution starts (PSB_EINVAL if not).
 */
psb_status psb_exec_options_add_layer(psb_exec_options *options, const char *name, psb_error *err);

/*
 * Creates an empty module layer (the layers dir too, 0755, if missing).
 * Names are 1 to 64 ASCII letters, digits, '_' and '-', starting with a
 * letter or digit. PSB_EINVAL if it exists.
 */
psb_status psb_layer_create(const psb_config *config, const char *name, psb_error *err);

/*
 * Removes a module layer and every generation of it. A sandbox that
 * preloaded from it keeps what it imported, but cannot import more.
 */
psb_status psb_layer_remove(const psb_config *config, const char *name, psb_error *err);

/*
 * The module layers as a JSON array (malloc'd; free() it), sorted by name:
 * [{"name", "path" (its current generation), "packages": [{"name",
 * "version"}]}]. An empty array when the layers dir does not exist.
 */
char *psb_layer_list_json(const psb_config *config, psb_error *err);

/*
 * Installs packages into module layer `name` (which must exist): pip runs
 * inside a sandbox whose only writable places are a new generation of the
 * layer and its scratch dir, under config's helper and run_as, and the
 * layer switches to the new generation only if everything succeeded; the
 * old one stays untouched otherwise (and is kept after a switch, for
 * sandboxes that still use it).
 *
 * Each source is a wheel file (.whl: it must match the embedded
 * interpreter's ABI and platform), a directory of wheels (its wheels are
 * installed when no requirement is named, and dependencies come from it),
 * or a requirement ("name", "name==1.2", "name[extra]>=2") resolved from
 * those directories or the index. index_url NULL: no network, local files
 * only (pip --no-index); an http(s) URL of a simple index: needs a config
 * policy with "network": true (PSB_EPOLICY otherwise). options (may be
 * NULL) set the install's limits (default 600 s, 2 GiB, 1 GiB per file),
 * cancellation and output streaming.
 *
 * Returns PSB_OK when the install ran: *ret_outcome says whether it
 * succeeded (its result {"installed": [{"name", "version"}]}, pip's output
 * on stdout and stderr, an error such as exception or timeout). Bad
 * arguments, a missing layer or source, or a source tree (build a wheel
 * first) fail before anything runs.
 */
psb_status psb_layer_install(const psb_config *config, const char *name, const char *const *sources,
                             size_t count, const char *index_url, const psb_exec_options *options,
                             psb_outcome **ret_outcome, psb_error *err);

/* ------------------------------------------------------------------------ */
/* Diagnostics: proving each confinement layer on this machine              */
/* ------------------------------------------------------------------------ */

/* The confinement layers, as bits; their names are the policy's "require" words. */
typedef enum psb_layer {
    PSB_LAYER_SECCOMP = 1u << 0,      /* seccomp-bpf syscall allow-list */
    PSB_LAYER_LANDLOCK = 1u << 1,     /* Landlock: file system, TCP, scopes */
    PSB_LAYER_NAMESPACES = 1u << 2,   /* network, IPC, UTS (and user) namespaces */
    PSB_LAYER_UNPRIVILEGED = 1u << 3, /* never uid 0, no capabilities */
    PSB_LAYER_HOOKS = 1u << 4,        /* audit hook and import filter (not a boundary) */
} psb_layer;
#define PSB_LAYERS_ALL 0x1fu

/* The name of one layer ("seccomp", "landlock", ...), or NULL. */
const char *psb_layer_name(unsigned layer);

/* The layers the config's policy requires (its "require" list), as bits. */
unsigned psb_config_required_layers(const psb_config *config);

/*
 * For diagnostics only (`pysandbox doctor`, a deployment's own checks):
 * sandboxes created from config confine executions with just these layers
 * (PSB_LAYER_* bits, 0 for none), so that an attack run through one proves
 * that layer holds on its own. The policy's "require" list is not enforced
 * then. It weakens confinement: never run untrusted code so. PSB_EINVAL for
 * unknown bits.
 */
psb_status psb_config_set_diagnostic_layers(psb_config *config, unsigned layers, psb_error *err);

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#ifdef __cplusplus
}
#endif

#endif /* PYSANDBOX_H */
