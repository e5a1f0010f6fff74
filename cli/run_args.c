/*
 * run_args.c - the command line of `pysandbox run`, parsed with getopt_long.
 *
 * Parsing only: numbers are checked for syntax here, their ranges by the
 * API setters later. Errors are collected, not printed, so that the caller
 * can report them as JSON when --json appears anywhere on the line.
 */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

enum {
    OPT_INPUTS = 256, /* above every char: getopt_long's optopt tells them apart */
    OPT_INPUTS_FILE,
    OPT_STDIN_FILE,
    OPT_TIMEOUT,
    OPT_MEMORY_MB,
    OPT_CPU_SECONDS,
    OPT_POLICY,
    OPT_ALLOW_IMPORT,
    OPT_DENY_IMPORT,
    OPT_ENV,
    OPT_PRELUDE_FILE,
    OPT_COLD,
    OPT_CONNECT,
    OPT_WAIT_WARM,
    OPT_FILE,
    OPT_OUTPUT_DIR,
    OPT_FIGURES_DIR,
    OPT_RESULT_LIMIT,
    OPT_FIGURES_LIMIT,
    OPT_DISPLAY_LIMIT,
    OPT_DISPLAYS_LIMIT,
    OPT_FILES_LIMIT,
    OPT_STDOUT_LIMIT,
    OPT_STDERR_LIMIT,
    OPT_JSON,
    OPT_VERSION,
    OPT_LAYER,
    OPT_LAYERS_DIR,
    OPT_PYTHON,
};

static const struct option long_options[] = {
    {"inputs", required_argument, NULL, OPT_INPUTS},
    {"inputs-file", required_argument, NULL, OPT_INPUTS_FILE},
    {"stdin-file", required_argument, NULL, OPT_STDIN_FILE},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"memory-mb", required_argument, NULL, OPT_MEMORY_MB},
    {"cpu-seconds", required_argument, NULL, OPT_CPU_SECONDS},
    {"policy", required_argument, NULL, OPT_POLICY},
    {"allow-import", required_argument, NULL, OPT_ALLOW_IMPORT},
    {"deny-import", required_argument, NULL, OPT_DENY_IMPORT},
    {"env", required_argument, NULL, OPT_ENV},
    {"prelude-file", required_argument, NULL, OPT_PRELUDE_FILE},
    {"cold", no_argument, NULL, OPT_COLD},
    {"connect", required_argument, NULL, OPT_CONNECT},
    {"wait-warm", no_argument, NULL, OPT_WAIT_WARM},
    {"file", required_argument, NULL, OPT_FILE},
    {"output-dir", required_argument, NULL, OPT_OUTPUT_DIR},
    {"figures-dir", required_argument, NULL, OPT_FIGURES_DIR},
    {"result-limit-bytes", required_argument, NULL, OPT_RESULT_LIMIT},
    {"figures-limit-bytes", required_argument, NULL, OPT_FIGURES_LIMIT},
    {"display-limit-bytes", required_argument, NULL, OPT_DISPLAY_LIMIT},
    {"displays-limit-bytes", required_argument, NULL, OPT_DISPLAYS_LIMIT},
    {"files-limit-bytes", required_argument, NULL, OPT_FILES_LIMIT},
    {"stdout-limit-bytes", required_argument, NULL, OPT_STDOUT_LIMIT},
    {"stderr-limit-bytes", required_argument, NULL, OPT_STDERR_LIMIT},
    {"layer", required_argument, NULL, OPT_LAYER},
    {"layers-dir", required_argument, NULL, OPT_LAYERS_DIR},
    {"python", required_argument, NULL, OPT_PYTHON},
    {"json", no_argument, NULL, OPT_JSON},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, OPT_VERSION},
    {NULL, 0, NULL, 0},
};

/* `pysandbox run --help` (the exit status table follows it). */
const char cli_run_help[] =
    "Usage: " CLI_PROG " run [OPTIONS] [FILE|-]\n"
    "       " CLI_PROG " run [OPTIONS] -c CODE\n"
    "\n"
    "Runs the Python code in FILE (standard input when FILE is '-' or absent; the\n"
    "string CODE with -c, as python3 -c) in a fresh, confined child process. The\n"
    "code's `result` global is sent back as JSON; the `inputs` global holds the\n"
    "--inputs object.\n"
    "\n"
    "Input:\n"
    "  --inputs JSON          a JSON object bound to the `inputs` global\n"
    "  --inputs-file PATH     read that JSON object from PATH ('-': stdin)\n"
    "  --stdin-file PATH      data the code reads on its stdin (default: none)\n"
    "  --prelude-file PATH    code run first, in the same globals\n"
    "  --env NAME=VALUE       add a variable to the code's environment (repeatable)\n"
    "  --file NAME=PATH       a read-only copy of PATH named NAME (relative, may hold\n"
    "                         '/') in the code's working directory (repeatable;\n"
    "                         64 MiB in all)\n"
    "Limits (default: the policy's):\n"
    "  --timeout SECONDS      wall-clock limit; decimals allowed, e.g. 0.5\n"
    "  --memory-mb N          memory limit in MiB\n"
    "  --cpu-seconds N        CPU time limit in seconds\n"
    "  --result-limit-bytes N      largest `result` JSON; more is output_limit\n"
    "  --files-limit-bytes N       most bytes of files the code may leave in its\n"
    "                              working directory; more is output_limit\n"
    "  --figures-limit-bytes N     most PNG bytes of figures; later ones are dropped\n"
    "  --stdout-limit-bytes N      most stdout kept; the rest is dropped and\n"
    "                              stdout_truncated set (default 1 MiB)\n"
    "  --stderr-limit-bytes N      the same for stderr; when only one of the two\n"
    "                              is given the other is 1 MiB\n"
    "Execution:\n"
    "  --python PATH          run the code in that interpreter (a venv's bin/python,\n"
    "                         another CPython) under the same confinement\n"
    "  --cold                 initialize a fresh interpreter for this run instead of\n"
    "                         forking the warm helper (slower; nothing preloaded)\n"
    "  --connect unix:PATH    run through the `pysandbox serve --listen` at PATH,\n"
    "                         which keeps its helper warm (default:\n"
    "                         $PYSANDBOX_SERVER; the server's policy applies)\n"
    "  --wait-warm            run once the preload set is imported, not from the\n"
    "                         minimal interpreter that answers first (importing on\n"
    "                         demand)\n"
    "Policy:\n"
    "  --policy NAME|FILE|JSON  preset (default, data-science, strict), a JSON policy\n"
    "                         file, or the policy itself ('{\"network\": false}')\n"
    "  --allow-import MOD     allow module MOD and its submodules (repeatable)\n"
    "  --deny-import MOD      deny module MOD and its submodules (repeatable)\n"
    "  --layer NAME           mount module layer NAME: its packages first on sys.path,\n"
    "                         read-only (repeatable; see `pysandbox layer`)\n"
    "  --layers-dir DIR       where module layers live (default: $PYSANDBOX_LAYERS,\n"
    "                         else /var/lib/pysandbox/layers for root, else\n"
    "                         ~/.local/share/pysandbox/layers)\n"
    "Output:\n"
    "  --json                 print the outcome as one JSON object on stdout:\n"
    "                         status, result, stdout, stderr, error, stats,\n"
    "                         figures, files\n"
    "  --output-dir DIR       write the files the code left in its working\n"
    "                         directory under DIR (created if missing)\n"
    "  --figures-dir DIR      write the captured figures as DIR/figure-1.png,\n"
    "                         figure-2.png, ... (created if missing)\n"
    "  --help                 show this help and exit\n"
    "  --version              show the version and exit\n"
    "\n"
    "Without --json, the code's stdout and stderr are written to the tool's,\n"
    "then `result: <JSON>` on stdout and any error on stderr.\n"
    "A file or figure that cannot be written to its directory is reported on\n"
    "stderr and makes an otherwise successful run exit 6.\n"
    "Flags take their value as `--flag VALUE` or `--flag=VALUE`.\n"
    "\n";

/* Records a usage error unless an earlier one was recorded (first wins). */
__attribute__((format(printf, 2, 3))) static void set_error(struct cli_run_args *args,
                                                            const char *fmt, ...) {
    if (args->error[0] == '\0') {
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(args->error, sizeof(args->error), fmt, ap);
        va_end(ap);
    }
}

/* Where a flag that takes a number goes. */
struct number_flag {
    const char *name; /* as typed, for messages */
    int seconds;      /* seconds with a fraction, stored as milliseconds */
    int *has;         /* set to 1 once a valid value is stored */
    uint64_t *value;  /* the value */
};

/* The number_flag for opt; 0 when opt takes no number. */
static int number_flag(struct cli_run_args *a, int opt, struct number_flag *ret) {
    struct number_flag f = {NULL, 0, NULL, NULL};

    switch (opt) {
    case OPT_TIMEOUT:
        f = (struct number_flag){"--timeout", 1, &a->has_timeout, &a->timeout_ms};
        break;
    case OPT_MEMORY_MB:
        f = (struct number_flag){"--memory-mb", 0, &a->has_memory, &a->memory_mib};
        break;
    case OPT_CPU_SECONDS:
        f = (struct number_flag){"--cpu-seconds", 0, &a->has_cpu, &a->cpu_s};
        break;
    case OPT_RESULT_LIMIT:
        f = (struct number_flag){"--result-limit-bytes", 0, &a->has_result_limit,
                                 &a->result_limit_bytes};
        break;
    case OPT_FIGURES_LIMIT:
        f = (struct number_flag){"--figures-limit-bytes", 0, &a->has_figures_limit,
                                 &a->figures_limit_bytes};
        break;
    case OPT_DISPLAY_LIMIT:
        f = (struct number_flag){"--display-limit-bytes", 0, &a->has_display_limit,
                                 &a->display_limit_bytes};
        break;
    case OPT_DISPLAYS_LIMIT:
        f = (struct number_flag){"--displays-limit-bytes", 0, &a->has_displays_limit,
                                 &a->displays_limit_bytes};
        break;
    case OPT_FILES_LIMIT:
        f = (struct number_flag){"--files-limit-bytes", 0, &a->has_files_limit,
                                 &a->files_limit_bytes};
        break;
    case OPT_STDOUT_LIMIT:
        f = (struct number_flag){"--stdout-limit-bytes", 0, &a->has_stdout_limit,
                                 &a->stdout_limit_bytes};
        break;
    case OPT_STDERR_LIMIT:
        f = (struct number_flag){"--stderr-limit-bytes", 0, &a->has_stderr_limit,
                                 &a->stderr_limit_bytes};
        break;
    default:
        break;
    }
    *ret = f;
    return f.name != NULL;
}

/*
 * A flag that takes a number (see number_flag()): syntax only, the ranges
 * are the API's. A later valid value replaces an earlier one.
 */
static void parse_number(struct cli_run_args *args, const struct number_flag *f,
                         const char *value) {
    uint64_t v = 0;
    enum cli_num r;

    r = f->seconds ? cli_parse_seconds_ms(value, &v) : cli_parse_u64(value, &v);
    if (r == CLI_NUM_OK) {
        *f->value = v;
        *f->has = 1;
    } else if (r == CLI_NUM_SYNTAX) {
        set_error(args, "%s: '%s' is not a %s", f->name, value,
                  f->seconds ? "positive number of seconds (e.g. 2 or 0.5)"
                             : "positive whole number");
    } else {
        set_error(args, "%s: '%s' is out of range", f->name, value);
    }
}

/* getopt_long's '?' and ':' returns, worded for the user. */
static void bad_option(struct cli_run_args *args, int c, char **argv) {
    const char *arg = optind > 0 ? argv[optind - 1] : "";

    if (c == ':')
        set_error(args, "option '%s' requires a value", arg);
    else if (optopt >= OPT_INPUTS)
        set_error(args, "option '%s' does not take a value", arg);
    else if (optopt > 0)
        set_error(args, "unknown option '-%c'", optopt);
    else
        set_error(args, "unknown or ambiguous option '%s'", arg);
}

/* Appends a repeatable flag; rules has room for one per argv element. */
static void add_rule(struct cli_run_args *args, int flag, const char *value) {
    args->rules[args->n_rules].flag = flag;
    args->rules[args->n_rules].value = value;
    args->n_rules++;
}

/* The checks that need the whole command line. */
static void check_combination(struct cli_run_args *args) {
    int readers = (!args->code_text && strcmp(args->code_path, "-") == 0) +
                  (args->inputs_path != NULL && strcmp(args->inputs_path, "-") == 0) +
                  (args->stdin_path != NULL && strcmp(args->stdin_path, "-") == 0);

    if (args->inputs_json != NULL && args->inputs_path != NULL)
        set_error(args, "--inputs and --inputs-file cannot be used together");
    if (readers > 1)
        set_error(args, "only one of FILE, --inputs-file and --stdin-file can read "
                        "standard input ('-'; FILE defaults to it)");
}

/* Where a flag that takes a string goes; NULL when opt takes none. */
static const char **text_flag(struct cli_run_args *a, int opt) {
    switch (opt) {
    case OPT_INPUTS:
        return &a->inputs_json;
    case OPT_INPUTS_FILE:
        return &a->inputs_path;
    case OPT_STDIN_FILE:
        return &a->stdin_path;
    case OPT_PRELUDE_FILE:
        return &a->prelude_path;
    case OPT_POLICY:
        return &a->policy;
    case OPT_CONNECT:
        return &a->connect;
    case OPT_OUTPUT_DIR:
        return &a->output_dir;
    case OPT_FIGURES_DIR:
        return &a->figures_dir;
    case OPT_LAYERS_DIR:
        return &a->layers_dir;
    case OPT_PYTHON:
        return &a->python;
    default:
        return NULL;
    }
}

int cli_run_args_parse(int argc, char **argv, struct cli_run_args *args) {
    struct number_flag number;
    const char **text;
    int rc = -2, c;

    memset(args, 0, sizeof(*args));
    args->code_path = "-";
    args->rules = calloc((size_t)(argc > 0 ? argc : 1), sizeof(*args->rules));
    if (args->rules == NULL)
        goto out;
    opterr = 0; /* errors are reported by the caller, as text or JSON */
    optind = 1;
    while ((c = getopt_long(argc, argv, ":hc:", long_options, NULL)) != -1) {
        switch (c) {
        case 'c': /* as python3 -c */
            args->code_text = optarg;
            break;
        case OPT_COLD:
        case OPT_WAIT_WARM:
            *(c == OPT_COLD ? &args->cold : &args->wait_warm) = 1;
            break;
        case OPT_FILE:
            if (strchr(optarg, '=') == NULL || optarg[0] == '=')
                set_error(args, "--file: '%s' is not NAME=PATH", optarg);
            add_rule(args, CLI_RULE_FILE, optarg);
            break;
        case OPT_ENV:
            if (strchr(optarg, '=') == NULL || optarg[0] == '=')
                set_error(args, "--env: '%s' is not NAME=VALUE", optarg);
            add_rule(args, CLI_RULE_ENV, optarg);
            break;
        case OPT_ALLOW_IMPORT:
            add_rule(args, CLI_RULE_ALLOW_IMPORT, optarg);
            break;
        case OPT_DENY_IMPORT:
            add_rule(args, CLI_RULE_DENY_IMPORT, optarg);
            break;
        case OPT_LAYER:
            add_rule(args, CLI_RULE_LAYER, optarg);
            break;
        case OPT_JSON:
            args->json = 1;
            break;
        case 'h':
            args->help = 1;
            break;
        case OPT_VERSION:
            args->version = 1;
            break;
        default:
            if ((text = text_flag(args, c)) != NULL)
                *text = optarg; /* a later one wins */
            else if (number_flag(args, c, &number))
                parse_number(args, &number, optarg);
            else
                bad_option(args, c, argv);
            break;
        }
    }
    if (optind < argc && args->code_text)
        set_error(args, "-c CODE and FILE '%s' cannot be used together", argv[optind]);
    else if (optind < argc)
        args->code_path = argv[optind++];
    if (optind < argc)
        set_error(args, "unexpected argument '%s' (only one FILE can be run)", argv[optind]);
    check_combination(args);
    rc = args->error[0] != '\0' ? -1 : 0;
out:
    return rc;
}

void cli_run_args_release(struct cli_run_args *args) {
    free(args->rules);
    args->rules = NULL;
    args->n_rules = 0;
}
