/*
 * cli.h - internal interface of the `pysandbox` command-line tool.
 *
 * The subcommands (run; later serve, mcp, doctor) and the small helpers they
 * share: exit codes, capped file reading, number parsing, text checks, output.
 */
#ifndef PSB_CLI_H
#define PSB_CLI_H

#include <stddef.h>
#include <stdint.h>

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
};

/* The exit status table, printed by the help texts. */
extern const char cli_exit_status_help[];

/* Prints "pysandbox VERSION" on stdout (main.c). */
void cli_print_version(void);

/* ---- subcommands (one file each) ---------------------------------------- */

/* `pysandbox run`: argv[0] is "run". Returns an exit status (enum cli_exit). */
int cli_cmd_run(int argc, char **argv);

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

enum { CLI_RULE_ALLOW_IMPORT, CLI_RULE_DENY_IMPORT, CLI_RULE_ENV, CLI_RULE_FILE };

/* The default stdout and stderr caps, kept for the one not given (bytes). */
#define CLI_OUTPUT_LIMIT_DEFAULT_BYTES ((uint64_t)1 << 20)

/* The parsed command line. Strings point into argv. */
struct cli_run_args {
    const char *code_path;        /* FILE, "-" (stdin) when absent */
    const char *inputs_json;      /* --inputs, or NULL */
    const char *inputs_path;      /* --inputs-file, or NULL */
    const char *stdin_path;       /* --stdin-file, or NULL */
    const char *prelude_path;     /* --prelude-file, or NULL */
    const char *policy;           /* --policy, or NULL */
    int has_timeout;              /* --timeout given */
    uint64_t timeout_ms;          /* --timeout, milliseconds */
    int has_memory;               /* --memory-mb given */
    uint64_t memory_mib;          /* --memory-mb, MiB */
    int has_cpu;                  /* --cpu-seconds given */
    uint64_t cpu_s;               /* --cpu-seconds, seconds */
    int has_result_limit;         /* --result-limit-bytes given */
    uint64_t result_limit_bytes;  /* --result-limit-bytes, bytes */
    int has_figures_limit;        /* --figures-limit-bytes given */
    uint64_t figures_limit_bytes; /* --figures-limit-bytes, bytes */
    int has_files_limit;          /* --files-limit-bytes given */
    uint64_t files_limit_bytes;   /* --files-limit-bytes, bytes */
    int has_stdout_limit;         /* --stdout-limit-bytes given */
    uint64_t stdout_limit_bytes;  /* --stdout-limit-bytes, bytes */
    int has_stderr_limit;         /* --stderr-limit-bytes given */
    uint64_t stderr_limit_bytes;  /* --stderr-limit-bytes, bytes */
    int cold;                     /* --cold: a fresh interpreter, not the warm helper */
    int wait_warm;                /* --wait-warm: run only once the preload is done */
    const char *output_dir;       /* --output-dir, or NULL */
    const char *figures_dir;      /* --figures-dir, or NULL */
    struct cli_run_rule *rules;   /* --allow-import, --deny-import, --env, --file */
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

/* Frees what cli_run_args_parse() allocated. */
void cli_run_args_release(struct cli_run_args *args);

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
size_t cli_write_files(int dirfd, const char *dir_name, const psb_outcome *outcome);

/*
 * Writes each figure of the outcome as dirfd/figure-N.png (N from 1), with
 * the same care as cli_write_files(). Returns the number not written.
 */
size_t cli_write_figures(int dirfd, const char *dir_name, const psb_outcome *outcome);

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
int cli_print_outcome(const psb_outcome *outcome, int json, unsigned saved);

/*
 * Prints a failure that happened before or instead of an execution as one
 * JSON object of the --json shape (status "error", error kind `kind`, null
 * result, empty output, zero stats, no figures or files) on stdout.
 */
void cli_print_failure_json(psb_error_kind kind, const char *message);

#endif /* PSB_CLI_H */
