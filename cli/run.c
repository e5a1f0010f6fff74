/*
 * run.c - `pysandbox run`: reads the code and what goes with it, builds one
 * sandbox and one execution from the flags, runs it and reports the outcome.
 * Every input is checked before the helper is spawned: bad input runs nothing.
 */
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

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
    json_t *request;                /* what the flags describe (request.c) */
    struct cli_run_request decoded; /* its options */
    psb_exec_options *options;      /* decoded.options */
    psb_sandbox *sandbox;
    const char *connect;  /* --connect or $PYSANDBOX_SERVER, or NULL: run here */
    struct cli_view view; /* the outcome, from here or from the server */
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

    if (a->code_text) {
        size_t offset = 0;
        const char *problem = cli_check_text(a->code_text, strlen(a->code_text), &offset);
        rc = problem ? fail(a->json, CLI_EXIT_USAGE, 0, "-c: the code %s (at byte %zu)", problem,
                            offset)
             : (r->code = strdup(a->code_text))
                 ? CLI_EXIT_OK
                 : fail(a->json, CLI_EXIT_INTERNAL, 0, "out of memory");
        r->code_len = r->code ? strlen(r->code) : 0;
    } else {
        rc = read_input(r, "", a->code_path, CLI_CODE_MAX_BYTES, 1, &r->code, &r->code_len);
    }
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
    if (r->args->python != NULL) {
        what = "--python";
        st = psb_config_set_python(r->config, r->args->python, &r->err);
        if (st != PSB_OK)
            goto out;
    }
    if (r->args->layers_dir != NULL) {
        what = "--layers-dir";
        st = psb_config_set_layers_dir(r->config, r->args->layers_dir, &r->err);
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
    if (st != PSB_OK) /* a flag is the user's input; the rest is ours */
        rc = api_fail(r, what, st, what[0] == '-' ? setter_rc(st) : CLI_EXIT_INTERNAL);
    return rc;
}

/* The flag a field of the request came from, for messages. */
static void flag_of(const struct run *r, const char *field, char *buf, size_t size) {
    static const struct {
        const char *prefix, *flag;
    } named[] = {
        {"code", "code"},
        {"inputs", NULL},
        {"stdin", "--stdin-file"},
        {"prelude", "--prelude-file"},
        {"env.", "--env"},
        {"files.", "--file"},
        {"allow_import", "--allow-import"},
        {"deny_import", "--deny-import"},
        {"layers", "--layer"},
    };
    for (size_t i = 0; i < sizeof named / sizeof named[0]; i++) {
        if (strncmp(field, named[i].prefix, strlen(named[i].prefix)) == 0) {
            snprintf(buf, size, "%s",
                     named[i].flag ? named[i].flag
                                   : (r->args->inputs_path ? "--inputs-file" : "--inputs"));
            return;
        }
    }
    snprintf(buf, size, "--%s", field); /* timeout, memory_mb, ...: the flag's own name */
    for (char *p = buf; *p; p++)
        if (*p == '_')
            *p = '-';
}

/* The --inputs or --inputs-file object. NULL with a reported failure in *rc. */
static json_t *parse_inputs(const struct run *r, const char *text, size_t len, int *rc) {
    const char *flag = r->args->inputs_path ? "--inputs-file" : "--inputs";
    json_error_t je;
    json_t *v = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!v) {
        *rc = fail(r->args->json, CLI_EXIT_USAGE, 0, "%s: not valid JSON: %s (line %d, column %d)",
                   flag, je.text, je.line, je.column);
    } else if (!json_is_object(v)) {
        *rc = fail(r->args->json, CLI_EXIT_USAGE, 0, "%s: must be a JSON object", flag);
        json_decref(v);
        v = NULL;
    }
    return v;
}

/* One --file NAME=PATH into files: reads PATH (at most the API's 64 MiB). */
static int add_file(const struct run *r, const char *assignment, json_t *files) {
    const char *eq = strchr(assignment, '='); /* the parser made sure there is one */
    char *name = eq ? strndup(assignment, (size_t)(eq - assignment)) : NULL, *data = NULL;
    size_t len = 0;
    int rc = CLI_EXIT_OK;
    if (!name)
        return fail(r->args->json, CLI_EXIT_INTERNAL, 0, "--file: out of memory");
    rc = read_input(r, "--file", eq + 1, CLI_DATA_MAX_BYTES, 0, &data, &len);
    if (rc == CLI_EXIT_OK && json_object_set_new(files, name, cli_bytes_json(data, len)) != 0)
        rc = fail(r->args->json, CLI_EXIT_USAGE, 0, "--file: '%s' is not a valid name", name);
    free(data);
    free(name);
    return rc;
}

/* The repeatable flags, in command-line order (a later --env or --file NAME wins). */
static int add_rules(const struct run *r, json_t *req) {
    const struct cli_run_args *a = r->args;
    json_t *env = json_object(), *files = json_object();
    json_t *allow = json_array(), *deny = json_array(), *layers = json_array();
    int rc = CLI_EXIT_OK;
    for (size_t i = 0; i < a->n_rules && rc == CLI_EXIT_OK; i++) {
        const char *v = a->rules[i].value, *eq = strchr(v, '=');
        switch (a->rules[i].flag) {
        case CLI_RULE_ALLOW_IMPORT:
            json_array_append_new(allow, json_string(v));
            break;
        case CLI_RULE_DENY_IMPORT:
            json_array_append_new(deny, json_string(v));
            break;
        case CLI_RULE_LAYER:
            json_array_append_new(layers, json_string(v));
            break;
        case CLI_RULE_FILE:
            rc = add_file(r, v, files);
            break;
        default: {
            char *name = eq ? strndup(v, (size_t)(eq - v)) : NULL;
            if (!name || json_object_set_new(env, name, json_string(eq + 1)) != 0)
                rc = fail(a->json, CLI_EXIT_USAGE, 0, "--env: '%s' is not NAME=VALUE", v);
            free(name);
        }
        }
    }
    static const char *const keys[] = {"env", "files", "allow_import", "deny_import", "layers"};
    json_t *vals[] = {env, files, allow, deny, layers};
    for (int k = 0; k < 5; k++) {
        if (json_is_object(vals[k]) ? json_object_size(vals[k]) == 0
                                    : json_array_size(vals[k]) == 0)
            json_decref(vals[k]);
        else
            json_object_set_new(req, keys[k], vals[k]);
    }
    return rc;
}

/* Sets key to an integer when the flag was given. */
static void add_number(json_t *req, const char *key, int has, uint64_t value) {
    if (has)
        json_object_set_new(req, key, json_integer((json_int_t)value));
}

/* The request the flags describe: what `serve` would be sent. NULL with *rc reported. */
static json_t *build_request(const struct run *r, int *rc) {
    const struct cli_run_args *a = r->args;
    json_t *req = json_object(), *inputs = NULL;
    *rc = CLI_EXIT_OK;
    if (!req || json_object_set_new(req, "code", json_stringn(r->code, r->code_len)) != 0) {
        *rc = fail(a->json, CLI_EXIT_INTERNAL, 0, "out of memory");
        json_decref(req);
        return NULL;
    }
    const char *itext = a->inputs_json ? a->inputs_json : r->inputs;
    if (itext &&
        !(inputs = parse_inputs(r, itext, a->inputs_json ? strlen(itext) : r->inputs_len, rc))) {
        json_decref(req);
        return NULL;
    }
    if (inputs)
        json_object_set_new(req, "inputs", inputs);
    if (r->stdin_data)
        json_object_set_new(req, "stdin", cli_bytes_json(r->stdin_data, r->stdin_len));
    if (r->prelude)
        json_object_set_new(req, "prelude", json_stringn(r->prelude, r->prelude_len));
    if (a->has_timeout)
        json_object_set_new(req, "timeout", json_real((double)a->timeout_ms / 1000.0));
    add_number(req, "memory_mb", a->has_memory, a->memory_mib);
    add_number(req, "cpu_seconds", a->has_cpu, a->cpu_s);
    add_number(req, "result_limit_bytes", a->has_result_limit, a->result_limit_bytes);
    add_number(req, "files_limit_bytes", a->has_files_limit, a->files_limit_bytes);
    add_number(req, "figures_limit_bytes", a->has_figures_limit, a->figures_limit_bytes);
    add_number(req, "display_limit_bytes", a->has_display_limit, a->display_limit_bytes);
    add_number(req, "displays_limit_bytes", a->has_displays_limit, a->displays_limit_bytes);
    add_number(req, "stdout_limit_bytes", a->has_stdout_limit, a->stdout_limit_bytes);
    add_number(req, "stderr_limit_bytes", a->has_stderr_limit, a->stderr_limit_bytes);
    if (a->cold)
        json_object_set_new(req, "cold", json_true());
    if ((*rc = add_rules(r, req)) != CLI_EXIT_OK) {
        json_decref(req);
        return NULL;
    }
    return req;
}

/* The request, checked and turned into options as `serve` would. */
static int configure_options(struct run *r) {
    struct cli_fault fault = {0};
    int rc;
    r->request = build_request(r, &rc);
    if (!r->request)
        return rc;
    if (cli_request_decode(r->request, CLI_REQ_WIDEN, &r->decoded, &fault) != 0) {
        char flag[CLI_FIELD_MAX + 2];
        flag_of(r, fault.field, flag, sizeof flag);
        return fail(r->args->json,
                    strcmp(fault.code, "internal") == 0 ? CLI_EXIT_INTERNAL : CLI_EXIT_USAGE, 0,
                    "%s: %s", flag, fault.message);
    }
    r->options = r->decoded.options;
    return CLI_EXIT_OK;
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
        failed += cli_write_files(r->files_dirfd, r->args->output_dir, &r->view);
    if (r->figures_dirfd >= 0)
        failed += cli_write_figures(r->figures_dirfd, r->args->figures_dir, &r->view);
    return failed;
}

/* Fired by SIGINT and SIGTERM while the code runs (psb_cancel_fire is async-signal-safe). */
static psb_cancel *interrupt_token;

static void on_interrupt(int sig) {
    (void)sig;
    psb_cancel_fire(interrupt_token);
}

/* SIGINT and SIGTERM cancel the run: the child is stopped and the outcome says cancelled. */
static void cancel_on_signals(struct run *r) {
    struct sigaction sa;
    if (!(interrupt_token = psb_cancel_new(&r->err)) ||
        psb_exec_options_set_cancel(r->options, interrupt_token, &r->err) != PSB_OK)
        return; /* then the signals keep their default: the helper goes with this process */
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_interrupt;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

/* The run, here: a sandbox of its own. */
static int run_here(struct run *r) {
    cancel_on_signals(r); /* from here: a signal during the helper's start runs nothing */
    psb_status st = psb_sandbox_new(r->config, &r->sandbox, &r->err);
    if (st != PSB_OK)
        return api_fail(r, "starting the sandbox", st, CLI_EXIT_INTERNAL);
    st = psb_exec(r->sandbox, r->code, r->code_len, r->options, &r->outcome, &r->err);
    if (st != PSB_OK)
        return api_fail(r, "running the code", st,
                        st == PSB_EINVAL ? CLI_EXIT_USAGE : CLI_EXIT_INTERNAL);
    if (cli_view_from_outcome(&r->view, r->outcome) != 0)
        return fail(r->args->json, CLI_EXIT_INTERNAL, 0, "out of memory");
    return CLI_EXIT_OK;
}

/* The run, at a server: the same request, its outcome. */
static int run_there(struct run *r) {
    char message[1024];
    int rc;
    if (cli_connect_run(r->connect, r->request, &r->view, &rc, message, sizeof message) != 0)
        return fail(r->args->json, rc, 0, "%s", message);
    return CLI_EXIT_OK;
}

static int execute(struct run *r) {
    int rc = r->connect ? run_there(r) : run_here(r);
    if (rc != CLI_EXIT_OK)
        return rc;
    size_t failed = save_outputs(r);
    rc = cli_print_outcome(&r->view, r->args->json,
                           (r->figures_dirfd >= 0 ? CLI_SAVED_FIGURES : 0u) |
                               (r->files_dirfd >= 0 ? CLI_SAVED_FILES : 0u));
    /* The code succeeded but what it made was lost: not a success. */
    if (failed > 0 && rc == CLI_EXIT_OK)
        rc = CLI_EXIT_INTERNAL;
    return rc;
}

static void run_release(struct run *r) {
    if (r->files_dirfd >= 0)
        close(r->files_dirfd);
    if (r->figures_dirfd >= 0)
        close(r->figures_dirfd);
    cli_view_release(&r->view);
    psb_outcome_free(r->outcome);
    psb_sandbox_free(r->sandbox);
    signal(SIGINT, SIG_DFL); /* the token goes: a late signal must not reach it */
    signal(SIGTERM, SIG_DFL);
    cli_request_release(&r->decoded);
    psb_cancel_free(interrupt_token);
    interrupt_token = NULL;
    json_decref(r->request);
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
            fputs(cli_run_help, stdout);
            fputs(cli_exit_status_help, stdout);
        } else {
            cli_print_version();
        }
        rc = CLI_EXIT_OK;
        goto out;
    }
    r.connect = args.connect ? args.connect : getenv("PYSANDBOX_SERVER");
    if (r.connect && r.connect[0] == '\0')
        r.connect = NULL; /* PYSANDBOX_SERVER= turns it off */
    if (r.connect && (args.policy || args.layers_dir || args.python)) {
        const char *flag = args.policy ? "--policy" : args.layers_dir ? "--layers-dir" : "--python";
        rc = fail(args.json, CLI_EXIT_USAGE, 1,
                  "%s: a run through a server (--connect, "
                  "$PYSANDBOX_SERVER) has the server's own",
                  flag);
        goto out;
    }
    rc = read_inputs(&r);
    if (rc == CLI_EXIT_OK && !r.connect)
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
