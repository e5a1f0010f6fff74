/*
 * run.c - `pysandbox run`: reads the code and what goes with it, builds one
 * sandbox and one execution from the flags, runs it and reports the outcome.
 * Every input is checked before the helper is spawned: bad input runs nothing.
 */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

static const char run_help[] =
    "Usage: " CLI_PROG " run [OPTIONS] [FILE|-]\n"
    "\n"
    "Runs the Python code in FILE (standard input when FILE is '-' or absent) in\n"
    "a fresh, confined child process. The code's `result` global is sent back as\n"
    "JSON; the `inputs` global holds the --inputs object.\n"
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
    "  --cold                 initialize a fresh interpreter for this run instead of\n"
    "                         forking the warm helper (slower; nothing preloaded)\n"
    "  --wait-warm            run once the preload set is imported, not from the\n"
    "                         minimal interpreter that answers first (importing on\n"
    "                         demand)\n"
    "Policy:\n"
    "  --policy NAME|FILE     preset (default, data-science, strict) or JSON file\n"
    "  --allow-import MOD     allow module MOD and its submodules (repeatable)\n"
    "  --deny-import MOD      deny module MOD and its submodules (repeatable)\n"
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

/* Everything one run owns; released by run_release(). */
struct run {
    const struct cli_run_args *args;
    char *code; /* the code, NUL-terminated */
    size_t code_len;
    char *inputs; /* --inputs-file contents, or NULL */
    size_t inputs_len;
    char *stdin_data; /* --stdin-file contents, or NULL */
    size_t stdin_len;
    char *prelude; /* --prelude-file contents, or NULL */
    size_t prelude_len;
    psb_config *config;
    psb_exec_options *options;
    psb_sandbox *sandbox;
    psb_outcome *outcome;
    int files_dirfd;   /* --output-dir, opened before the run; -1 when absent */
    int figures_dirfd; /* --figures-dir, opened before the run; -1 when absent */
    psb_error err;     /* details of the first failed API call */
};

/*
 * Reports a failure that stops the run, as `pysandbox: error: ...` on stderr
 * or, with --json, as the JSON outcome shape. Returns rc.
 */
__attribute__((format(printf, 4, 5))) static int fail(int json, int rc, int hint, const char *fmt,
                                                      ...) {
    char message[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    if (json) {
        cli_print_failure_json(rc == CLI_EXIT_USAGE ? PSB_KIND_INVALID_REQUEST : PSB_KIND_INTERNAL,
                               message);
    } else {
        fprintf(stderr, CLI_PROG ": error: %s\n", message);
        if (hint)
            fputs("Try '" CLI_PROG " run --help' for more information.\n", stderr);
    }
    return rc;
}

/* A failed API call, reported with the library's message. Returns rc. */
static int api_fail(const struct run *r, const char *what, psb_status status, int rc) {
    const char *detail = r->err.message[0] != '\0' ? r->err.message : psb_status_str(status);

    return fail(r->args->json, rc, 0, "%s: %s", what, detail);
}

/* The exit status for a failed setter: only running out of memory is ours. */
static int setter_rc(psb_status status) {
    return status == PSB_ENOMEM ? CLI_EXIT_INTERNAL : CLI_EXIT_USAGE;
}

/* Reads one input file; text files (code, prelude) must be UTF-8 without NUL. */
static int read_input(const struct run *r, const char *flag, const char *path, size_t max_bytes,
                      int text, char **ret_data, size_t *ret_len) {
    char message[768];
    const char *problem;
    size_t offset = 0;
    int rc = CLI_EXIT_USAGE;

    if (cli_read_file(path, max_bytes, ret_data, ret_len, message, sizeof(message)) != 0) {
        fail(r->args->json, rc, 0, "%s%s%s", flag, flag[0] != '\0' ? ": " : "", message);
        goto out;
    }
    problem = text ? cli_check_text(*ret_data, *ret_len, &offset) : NULL;
    if (problem != NULL) {
        fail(r->args->json, rc, 0, "%s%s'%s' %s (at byte %zu)", flag,
             flag[0] != '\0' ? ": " : "code in ", strcmp(path, "-") == 0 ? "standard input" : path,
             problem, offset);
        goto out;
    }
    rc = CLI_EXIT_OK;
out:
    return rc;
}

static int read_inputs(struct run *r) {
    const struct cli_run_args *a = r->args;
    int rc;

    rc = read_input(r, "", a->code_path, CLI_CODE_MAX_BYTES, 1, &r->code, &r->code_len);
    if (rc == CLI_EXIT_OK && a->inputs_path != NULL)
        rc = read_input(r, "--inputs-file", a->inputs_path, CLI_DATA_MAX_BYTES, 0, &r->inputs,
                        &r->inputs_len);
    if (rc == CLI_EXIT_OK && a->stdin_path != NULL)
        rc = read_input(r, "--stdin-file", a->stdin_path, CLI_DATA_MAX_BYTES, 0, &r->stdin_data,
                        &r->stdin_len);
    if (rc == CLI_EXIT_OK && a->prelude_path != NULL)
        rc = read_input(r, "--prelude-file", a->prelude_path, CLI_CODE_MAX_BYTES, 1, &r->prelude,
                        &r->prelude_len);
    return rc;
}

/*
 * The pysandbox-helper next to this executable, so that a CLI in a build
 * tree works from anywhere. Returns 0 and fills buf when there is one.
 */
static int find_own_helper(char *buf, size_t size) {
    char exe[PATH_MAX];
    char *slash;
    ssize_t n;
    int rc = -1, len;

    n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n <= 0)
        goto out;
    exe[n] = '\0';
    slash = strrchr(exe, '/');
    if (slash == NULL)
        goto out;
    *slash = '\0';
    /* The build tree keeps them side by side; an install puts the helper in
     * PREFIX/libexec/pysandbox next to PREFIX/bin. */
    static const char *const places[] = {"/pysandbox-helper",
                                         "/../libexec/pysandbox/pysandbox-helper"};
    for (size_t i = 0; i < sizeof(places) / sizeof(places[0]) && rc != 0; i++) {
        len = snprintf(buf, size, "%s%s", exe, places[i]);
        if (len >= 0 && (size_t)len < size && access(buf, X_OK) == 0)
            rc = 0;
    }
out:
    return rc;
}

static int configure_sandbox(struct run *r) {
    char helper[PATH_MAX + 32];
    psb_status st = PSB_OK;
    const char *what = "creating the configuration";
    int rc = CLI_EXIT_OK;

    r->config = psb_config_new(&r->err);
    if (r->config == NULL) {
        st = PSB_ENOMEM;
        goto out;
    }
    if (r->args->policy != NULL) {
        what = "--policy";
        st = psb_config_set_policy(r->config, r->args->policy, &r->err);
        if (st != PSB_OK)
            goto out;
    }
    if (r->args->cold) {
        what = "--cold";
        st = psb_config_set_mode(r->config, PSB_MODE_COLD, &r->err);
        if (st != PSB_OK)
            goto out;
    }
    if (r->args->wait_warm) {
        what = "--wait-warm";
        st = psb_config_set_early_start(r->config, 0, &r->err);
        if (st != PSB_OK)
            goto out;
    }
    /* $PYSANDBOX_HELPER, when set, is the library's to honour. */
    if (getenv("PYSANDBOX_HELPER") == NULL && find_own_helper(helper, sizeof(helper)) == 0) {
        what = "helper path";
        st = psb_config_set_helper_path(r->config, helper, &r->err);
    }
out:
    if (st != PSB_OK) /* only --policy is the user's input */
        rc = api_fail(r, what, st,
                      strcmp(what, "--policy") == 0 ? setter_rc(st) : CLI_EXIT_INTERNAL);
    return rc;
}

/* One --env NAME=VALUE (the parser made sure there is a '='). */
static psb_status set_env(struct run *r, const char *assignment) {
    const char *eq = strchr(assignment, '=');
    char *name = NULL;
    psb_status st = PSB_ENOMEM;

    if (eq == NULL) { /* unreachable after parsing; keeps the contract local */
        st = PSB_EINVAL;
        goto out;
    }
    name = strndup(assignment, (size_t)(eq - assignment));
    if (name == NULL)
        goto out;
    st = psb_exec_options_set_env(r->options, name, eq + 1, &r->err);
out:
    free(name);
    return st;
}

/* The repeatable flags but --file, in command-line order. */
static psb_status apply_rules(struct run *r, const char **ret_what) {
    const struct cli_run_args *a = r->args;
    psb_status st = PSB_OK;
    size_t i;

    for (i = 0; i < a->n_rules && st == PSB_OK; i++) {
        switch (a->rules[i].flag) {
        case CLI_RULE_ALLOW_IMPORT:
            *ret_what = "--allow-import";
            st = psb_exec_options_allow_import(r->options, a->rules[i].value, &r->err);
            break;
        case CLI_RULE_DENY_IMPORT:
            *ret_what = "--deny-import";
            st = psb_exec_options_deny_import(r->options, a->rules[i].value, &r->err);
            break;
        case CLI_RULE_FILE: /* add_files(): it reads a file first */
            break;
        default:
            *ret_what = "--env";
            st = set_env(r, a->rules[i].value);
            break;
        }
    }
    return st;
}

/*
 * One --file NAME=PATH (the parser made sure there is a '='): reads PATH
 * (at most the API's 64 MiB) and hands a copy to the options. Returns an
 * exit status; a failure is reported.
 */
static int add_file(struct run *r, const char *assignment) {
    const char *eq = strchr(assignment, '=');
    char *name = NULL, *data = NULL;
    size_t len = 0;
    psb_status st;
    int rc = CLI_EXIT_USAGE;

    if (eq == NULL) { /* unreachable after parsing; keeps the contract local */
        rc = fail(r->args->json, rc, 0, "--file: '%s' is not NAME=PATH", assignment);
        goto out;
    }
    name = strndup(assignment, (size_t)(eq - assignment));
    if (name == NULL) {
        rc = fail(r->args->json, CLI_EXIT_INTERNAL, 0, "--file: out of memory");
        goto out;
    }
    rc = read_input(r, "--file", eq + 1, CLI_DATA_MAX_BYTES, 0, &data, &len);
    if (rc != CLI_EXIT_OK)
        goto out;
    st = psb_exec_options_add_file(r->options, name, data, len, &r->err);
    if (st != PSB_OK)
        rc = api_fail(r, "--file", st, setter_rc(st));
out:
    free(data);
    free(name);
    return rc;
}

/* Every --file, in command-line order (a later NAME replaces an earlier one). */
static int add_files(struct run *r) {
    const struct cli_run_args *a = r->args;
    int rc = CLI_EXIT_OK;
    size_t i;

    for (i = 0; i < a->n_rules && rc == CLI_EXIT_OK; i++) {
        if (a->rules[i].flag == CLI_RULE_FILE)
            rc = add_file(r, a->rules[i].value);
    }
    return rc;
}

/* The byte caps on what comes back: result, files, figures, stdout, stderr. */
static psb_status set_output_caps(struct run *r, const char **ret_what) {
    const struct cli_run_args *a = r->args;
    psb_status st = PSB_OK;

    *ret_what = "--result-limit-bytes";
    if (a->has_result_limit && (st = psb_exec_options_set_result_limit_bytes(
                                    r->options, a->result_limit_bytes, &r->err)) != PSB_OK)
        goto out;
    *ret_what = "--files-limit-bytes";
    if (a->has_files_limit && (st = psb_exec_options_set_files_limit_bytes(
                                   r->options, a->files_limit_bytes, &r->err)) != PSB_OK)
        goto out;
    *ret_what = "--figures-limit-bytes";
    if (a->has_figures_limit && (st = psb_exec_options_set_figures_limit_bytes(
                                     r->options, a->figures_limit_bytes, &r->err)) != PSB_OK)
        goto out;
    /* One setter for both: the one not given keeps the documented 1 MiB. */
    *ret_what = !a->has_stderr_limit   ? "--stdout-limit-bytes"
                : !a->has_stdout_limit ? "--stderr-limit-bytes"
                                       : "--stdout-limit-bytes/--stderr-limit-bytes";
    if (a->has_stdout_limit || a->has_stderr_limit)
        st = psb_exec_options_set_output_limits(
            r->options,
            a->has_stdout_limit ? a->stdout_limit_bytes : CLI_OUTPUT_LIMIT_DEFAULT_BYTES,
            a->has_stderr_limit ? a->stderr_limit_bytes : CLI_OUTPUT_LIMIT_DEFAULT_BYTES, &r->err);
out:
    return st;
}

static int configure_options(struct run *r) {
    const struct cli_run_args *a = r->args;
    psb_status st = PSB_OK;
    const char *what = "creating the options";
    int rc = CLI_EXIT_OK;

    r->options = psb_exec_options_new(&r->err);
    if (r->options == NULL) {
        st = PSB_ENOMEM;
        goto out;
    }
    what = "--timeout";
    if (a->has_timeout &&
        (st = psb_exec_options_set_timeout_ms(r->options, a->timeout_ms, &r->err)) != PSB_OK)
        goto out;
    what = "--memory-mb";
    if (a->has_memory &&
        (st = psb_exec_options_set_memory_limit_mib(r->options, a->memory_mib, &r->err)) != PSB_OK)
        goto out;
    what = "--cpu-seconds";
    if (a->has_cpu &&
        (st = psb_exec_options_set_cpu_limit_s(r->options, a->cpu_s, &r->err)) != PSB_OK)
        goto out;
    what = "--inputs";
    if (a->inputs_json != NULL &&
        (st = psb_exec_options_set_inputs_json(r->options, a->inputs_json, strlen(a->inputs_json),
                                               &r->err)) != PSB_OK)
        goto out;
    what = "--inputs-file";
    if (r->inputs != NULL && (st = psb_exec_options_set_inputs_json(
                                  r->options, r->inputs, r->inputs_len, &r->err)) != PSB_OK)
        goto out;
    what = "--stdin-file";
    if (r->stdin_data != NULL && (st = psb_exec_options_set_stdin(r->options, r->stdin_data,
                                                                  r->stdin_len, &r->err)) != PSB_OK)
        goto out;
    what = "--prelude-file";
    if (r->prelude != NULL && (st = psb_exec_options_set_prelude(
                                   r->options, r->prelude, r->prelude_len, &r->err)) != PSB_OK)
        goto out;
    st = set_output_caps(r, &what);
    if (st != PSB_OK)
        goto out;
    st = apply_rules(r, &what);
out:
    if (st != PSB_OK)
        rc = api_fail(r, what, st, setter_rc(st));
    if (rc == CLI_EXIT_OK)
        rc = add_files(r);
    return rc;
}

/*
 * Creates and opens --output-dir and --figures-dir before the run, so that
 * a directory that cannot be made runs nothing, and so that what is written
 * afterwards lands in the directory that was checked.
 */
static int open_out_dirs(struct run *r) {
    const struct cli_run_args *a = r->args;
    char message[768];
    int rc = CLI_EXIT_OK;

    if (a->output_dir != NULL &&
        cli_open_out_dir(a->output_dir, &r->files_dirfd, message, sizeof(message)) != 0) {
        rc = fail(a->json, CLI_EXIT_USAGE, 0, "--output-dir: %s", message);
        goto out;
    }
    if (a->figures_dir != NULL &&
        cli_open_out_dir(a->figures_dir, &r->figures_dirfd, message, sizeof(message)) != 0)
        rc = fail(a->json, CLI_EXIT_USAGE, 0, "--figures-dir: %s", message);
out:
    return rc;
}

/*
 * Writes the outcome's files and figures where the flags say. Returns the
 * number that could not be written (each reported on stderr).
 */
static size_t save_outputs(const struct run *r) {
    size_t failed = 0;

    if (r->files_dirfd >= 0)
        failed += cli_write_files(r->files_dirfd, r->args->output_dir, r->outcome);
    if (r->figures_dirfd >= 0)
        failed += cli_write_figures(r->figures_dirfd, r->args->figures_dir, r->outcome);
    return failed;
}

static int execute(struct run *r) {
    psb_status st;
    size_t failed;
    int rc;

    st = psb_sandbox_new(r->config, &r->sandbox, &r->err);
    if (st != PSB_OK) {
        rc = api_fail(r, "starting the sandbox", st, CLI_EXIT_INTERNAL);
        goto out;
    }
    st = psb_exec(r->sandbox, r->code, r->code_len, r->options, &r->outcome, &r->err);
    if (st != PSB_OK) {
        rc = api_fail(r, "running the code", st,
                      st == PSB_EINVAL ? CLI_EXIT_USAGE : CLI_EXIT_INTERNAL);
        goto out;
    }
    failed = save_outputs(r);
    rc = cli_print_outcome(r->outcome, r->args->json,
                           (r->figures_dirfd >= 0 ? CLI_SAVED_FIGURES : 0u) |
                               (r->files_dirfd >= 0 ? CLI_SAVED_FILES : 0u));
    /* The code succeeded but what it made was lost: not a success. */
    if (failed > 0 && rc == CLI_EXIT_OK)
        rc = CLI_EXIT_INTERNAL;
out:
    return rc;
}

static void run_release(struct run *r) {
    if (r->files_dirfd >= 0)
        close(r->files_dirfd);
    if (r->figures_dirfd >= 0)
        close(r->figures_dirfd);
    psb_outcome_free(r->outcome);
    psb_sandbox_free(r->sandbox);
    psb_exec_options_free(r->options);
    psb_config_free(r->config);
    free(r->code);
    free(r->inputs);
    free(r->stdin_data);
    free(r->prelude);
}

int cli_cmd_run(int argc, char **argv) {
    struct cli_run_args args;
    struct run r;
    int rc, parsed;

    memset(&r, 0, sizeof(r));
    r.args = &args;
    r.files_dirfd = -1;
    r.figures_dirfd = -1;
    parsed = cli_run_args_parse(argc, argv, &args);
    if (parsed == -2) {
        rc = fail(args.json, CLI_EXIT_INTERNAL, 0, "out of memory");
        goto out;
    }
    if (parsed != 0) {
        rc = fail(args.json, CLI_EXIT_USAGE, 1, "%s", args.error);
        goto out;
    }
    if (args.help || args.version) {
        if (args.help) {
            fputs(run_help, stdout);
            fputs(cli_exit_status_help, stdout);
        } else {
            cli_print_version();
        }
        rc = CLI_EXIT_OK;
        goto out;
    }
    rc = read_inputs(&r);
    if (rc == CLI_EXIT_OK)
        rc = configure_sandbox(&r);
    if (rc == CLI_EXIT_OK)
        rc = configure_options(&r);
    if (rc == CLI_EXIT_OK)
        rc = open_out_dirs(&r);
    if (rc == CLI_EXIT_OK)
        rc = execute(&r);
out:
    run_release(&r);
    cli_run_args_release(&args);
    return rc;
}

const char *cli_helper_path(void) {
    static char buf[PATH_MAX + 32];
    if (getenv("PYSANDBOX_HELPER") != NULL)
        return NULL;
    return find_own_helper(buf, sizeof(buf)) == 0 ? buf : NULL;
}
