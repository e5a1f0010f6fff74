/*
 * repl.c - `pysandbox repl`: a prompt for a person, each entry a cell of one
 * session. At a terminal it edits lines (libedit, where built with it) and
 * a line ending in ':' opens a block that a blank line ends; from a pipe
 * every line is a cell. Either way a line ending in '\' continues the cell,
 * and a line starting with ':' is a command.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef PSB_HAVE_LIBEDIT
#include <editline/readline.h>
#endif

#include "base/base.h"
#include "cli/cli.h"

static const char repl_help[] =
    "Usage: " CLI_PROG " repl [OPTIONS]\n"
    "\n"
    "An interactive Python prompt whose every entry runs as a cell of one\n"
    "confined session: variables, imports and files persist between cells.\n"
    "A cell's output is printed as it comes, then the value of its last\n"
    "expression, then its error with the kind and traceback.\n"
    "\n"
    "Input: one cell per line; a line ending in '\\' continues the cell. At a\n"
    "terminal, a line ending in ':' opens a block that an empty line ends.\n"
    "Commands: :snapshot (prints 'snapshot N'), :restore N, :help, :quit (or\n"
    "end of input). Ctrl-C interrupts a cell.\n"
    "\n"
    "  --policy NAME|FILE  preset (default, data-science, strict) or JSON file\n"
    "  --cold              a fresh interpreter instead of the warm one\n"
    "  --timeout SECONDS   each cell's wall-clock limit (default: the policy's)\n"
    "  --memory-mb N       the session's memory limit in MiB\n"
    "  --cpu-seconds N     the session's CPU time, all cells together\n"
    "  --help              show this help and exit\n"
    "\n"
    "Exit status: 0 at :quit or the end of input; that of the kind (5 for\n"
    "session_lost) when the session ended; 2 for bad flags.\n";

/* The cell running now, for SIGINT (psb_cancel_fire is async-signal-safe). */
static psb_cancel *volatile running_token;

static void on_sigint(int sig) {
    (void)sig;
    psb_cancel *t = running_token;
    if (t)
        psb_cancel_fire(t);
}

static void on_output(void *user, int stream, const char *data, size_t len) {
    (void)user;
    fwrite(data, 1, len, stream == 1 ? stdout : stderr);
    fflush(stream == 1 ? stdout : stderr);
}

struct repl {
    psb_session *session;
    psb_snapshot *snaps[256]; /* :snapshot's, numbered from 1 */
    unsigned n_snaps;
    bool tty;         /* a person at a terminal */
    uint64_t timeout; /* ms, 0: the policy's */
    unsigned cells;   /* run so far */
    int status;       /* exit status once the session ended */
};

/* Prints what a notebook would show after the streamed output. */
static void show(const psb_outcome *o) {
    for (size_t i = 0; i < psb_outcome_display_count(o); i++) {
        const char *text = psb_outcome_display_find(o, i, "text/plain", NULL);
        if (text)
            printf("%s\n", text);
    }
    size_t figures = psb_outcome_figure_count(o), files = psb_outcome_file_count(o);
    if (figures || files)
        fprintf(stderr, "[pysandbox: %zu figure(s) and %zu file(s) not shown]\n", figures, files);
    if (!psb_outcome_ok(o)) {
        const char *tb = psb_outcome_error_traceback(o);
        const char *type = psb_outcome_error_type(o), *msg = psb_outcome_error_message(o);
        if (tb && *tb)
            fputs(tb, stderr);
        fprintf(stderr, "error: %s%s%s%s%s\n", psb_error_kind_name(psb_outcome_error_kind(o)),
                type ? ": " : "", type ? type : "", msg ? ": " : "", msg ? msg : "");
    }
    fflush(stdout);
    fflush(stderr);
}

/* Runs one cell. false once the session has ended. */
static bool run_cell(struct repl *r, const char *code, size_t len) {
    psb_error err = {0};
    psb_exec_options *o = psb_exec_options_new(&err);
    psb_cancel *token = psb_cancel_new(&err);
    psb_outcome *out = NULL;
    bool alive = true;
    if (!o || !token || psb_exec_options_set_cancel(o, token, &err) != PSB_OK ||
        psb_exec_options_set_output_callback(o, on_output, NULL, &err) != PSB_OK ||
        (r->timeout && psb_exec_options_set_timeout_ms(o, r->timeout, &err) != PSB_OK)) {
        fprintf(stderr, CLI_PROG ": error: %s\n", err.message);
        goto out;
    }
    running_token = token;
    psb_status st = psb_session_exec(r->session, code, len, o, &out, &err);
    running_token = NULL;
    r->cells++;
    if (st != PSB_OK) {
        fprintf(stderr, "error: %s\n", err.message); /* the cell was refused; nothing ran */
        goto out;
    }
    show(out);
    if (psb_outcome_error_kind(out) != PSB_KIND_CANCELLED && !psb_session_alive(r->session)) {
        alive = false;
        r->status = cli_exit_for_kind(psb_outcome_error_kind(out));
    }
out:
    psb_outcome_free(out);
    psb_exec_options_free(o);
    psb_cancel_free(token);
    return alive;
}

/* One line of input without its newline (malloc'd), or NULL at the end. */
static char *read_line(const struct repl *r, bool more) {
    const char *prompt = more ? "... " : ">>> ";
#ifdef PSB_HAVE_LIBEDIT
    if (r->tty) {
        char *line = readline(prompt);
        if (line && *line)
            add_history(line);
        return line;
    }
#else
    if (r->tty) {
        fputs(prompt, stdout);
        fflush(stdout);
    }
#endif
    char *line = NULL;
    size_t cap = 0;
    ssize_t n = getline(&line, &cap, stdin);
    if (n < 0) {
        free(line);
        return NULL;
    }
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    return line;
}

/* A ':' command. false to stop. */
static bool command(struct repl *r, const char *line) {
    psb_error err = {0};
    uint64_t n = 0;
    if (strcmp(line, ":quit") == 0 || strcmp(line, ":q") == 0)
        return false;
    if (strcmp(line, ":help") == 0) {
        fputs(":snapshot   keep the session's state as it is now: prints 'snapshot N'\n"
              ":restore N  go back to snapshot N (it stays for another :restore)\n"
              ":help       this list\n"
              ":quit       end the session\n",
              stdout);
    } else if (strcmp(line, ":snapshot") == 0) {
        psb_snapshot *snap = NULL;
        if (r->n_snaps == sizeof r->snaps / sizeof r->snaps[0])
            fprintf(stderr, "error: %u snapshots are the most a repl keeps\n", r->n_snaps);
        else if (psb_session_snapshot(r->session, &snap, &err) != PSB_OK)
            fprintf(stderr, "error: %s\n", err.message);
        else {
            r->snaps[r->n_snaps++] = snap;
            printf("snapshot %u\n", r->n_snaps);
        }
    } else if (strncmp(line, ":restore ", 9) == 0) {
        if (cli_parse_u64(line + 9, &n) != CLI_NUM_OK || n < 1 || n > r->n_snaps)
            fprintf(stderr, "error: no snapshot '%s' (:snapshot prints their numbers)\n", line + 9);
        else if (psb_session_restore(r->session, r->snaps[n - 1], &err) != PSB_OK) {
            fprintf(stderr, "error: %s\n", err.message);
            if (!psb_session_alive(r->session)) {
                r->status = cli_exit_for_kind(PSB_KIND_SESSION_LOST);
                return false;
            }
        }
    } else {
        fprintf(stderr, "error: unknown command '%s' (:help lists them)\n", line);
    }
    fflush(stdout);
    fflush(stderr);
    return true;
}

static int repl_loop(struct repl *r) {
    psb__buf cell = {0};
    bool block = false, go = true;
    while (go) {
        char *line = read_line(r, cell.len > 0);
        if (!line)
            break;
        size_t n = strlen(line);
        if (cell.len == 0 && line[0] == ':') {
            go = command(r, line);
            free(line);
            continue;
        }
        bool more = n > 0 && line[n - 1] == '\\';
        if (more)
            line[--n] = '\0';
        if (r->tty && cell.len == 0 && n > 0 && line[n - 1] == ':')
            block = true; /* def f():, for x in y: ... until an empty line */
        bool ends_block = block && n == 0;
        if (!ends_block &&
            (psb__buf_append(&cell, line, n) != 0 || psb__buf_append(&cell, "\n", 1) != 0)) {
            free(line);
            fprintf(stderr, CLI_PROG ": error: out of memory\n");
            r->status = CLI_EXIT_INTERNAL;
            break;
        }
        free(line);
        if (more || (block && !ends_block))
            continue;
        block = false;
        if (cell.len > 1 || (cell.len == 1 && cell.data[0] != '\n'))
            go = run_cell(r, cell.data, cell.len);
        psb__buf_free(&cell);
    }
    /* The end of the input runs what the last lines held. */
    if (go && cell.len > 0)
        (void)run_cell(r, cell.data, cell.len);
    psb__buf_free(&cell);
    return r->status;
}

/* The command line of `repl`. */
struct repl_args {
    const char *policy;
    bool cold, help;
    uint64_t timeout_ms, memory_mib, cpu_s; /* 0: the policy's */
};

/* Parses the flags: 0, or -1 after printing the usage error. */
static int parse_repl_args(int argc, char **argv, struct repl_args *a) {
    enum { O_POLICY = 256, O_COLD, O_TIMEOUT, O_MEMORY, O_CPU };
    static const struct option opts[] = {
        {"policy", required_argument, NULL, O_POLICY},
        {"cold", no_argument, NULL, O_COLD},
        {"timeout", required_argument, NULL, O_TIMEOUT},
        {"memory-mb", required_argument, NULL, O_MEMORY},
        {"cpu-seconds", required_argument, NULL, O_CPU},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    memset(a, 0, sizeof *a);
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
        bool bad = false;
        if (c == 'h')
            a->help = true;
        else if (c == O_POLICY)
            a->policy = optarg;
        else if (c == O_COLD)
            a->cold = true;
        else if (c == O_TIMEOUT)
            bad = cli_parse_seconds_ms(optarg, &a->timeout_ms) != CLI_NUM_OK || !a->timeout_ms;
        else if (c == O_MEMORY)
            bad = cli_parse_u64(optarg, &a->memory_mib) != CLI_NUM_OK || !a->memory_mib;
        else if (c == O_CPU)
            bad = cli_parse_u64(optarg, &a->cpu_s) != CLI_NUM_OK || !a->cpu_s;
        else
            bad = true;
        if (bad) {
            fprintf(stderr,
                    CLI_PROG ": error: bad option '%s'\nTry '" CLI_PROG
                             " repl --help' for more information.\n",
                    argv[optind - 1]);
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, CLI_PROG ": error: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    return 0;
}

/* The session's options from the flags: 0, or -1 with err. */
static int session_options(const struct repl_args *a, psb_exec_options *o, psb_error *err) {
    return (a->memory_mib && psb_exec_options_set_memory_limit_mib(o, a->memory_mib, err)) ||
                   (a->cpu_s && psb_exec_options_set_cpu_limit_s(o, a->cpu_s, err)) ||
                   (a->timeout_ms && psb_exec_options_set_timeout_ms(o, a->timeout_ms, err))
               ? -1
               : 0;
}

int cli_cmd_repl(int argc, char **argv) {
    struct repl_args a;
    struct repl r = {.tty = isatty(STDIN_FILENO) == 1, .status = CLI_EXIT_OK};
    if (parse_repl_args(argc, argv, &a) != 0)
        return CLI_EXIT_USAGE;
    if (a.help) {
        fputs(repl_help, stdout);
        return CLI_EXIT_OK;
    }
    r.timeout = a.timeout_ms;
    psb_error err = {0};
    psb_config *config = psb_config_new(&err);
    psb_exec_options *o = psb_exec_options_new(&err);
    psb_sandbox *sb = NULL;
    const char *helper = cli_helper_path();
    int rc = CLI_EXIT_INTERNAL;
    if (!config || !o)
        goto fail;
    if (a.policy && psb_config_set_policy(config, a.policy, &err) != PSB_OK) {
        fprintf(stderr, CLI_PROG ": error: --policy: %s\n", err.message);
        rc = CLI_EXIT_USAGE;
        goto out;
    }
    if (session_options(&a, o, &err) != 0) {
        fprintf(stderr, CLI_PROG ": error: %s\n", err.message);
        rc = CLI_EXIT_USAGE;
        goto out;
    }
    if ((helper && psb_config_set_helper_path(config, helper, &err) != PSB_OK) ||
        (a.cold && psb_config_set_mode(config, PSB_MODE_COLD, &err) != PSB_OK) ||
        psb_sandbox_new(config, &sb, &err) != PSB_OK ||
        psb_session_new(sb, o, &r.session, &err) != PSB_OK)
        goto fail;
    struct sigaction sa = {.sa_handler = on_sigint};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    if (r.tty)
        fprintf(stderr, "pysandbox %s: Python in a confined session (:help, :quit)\n",
                PSB_VERSION_STRING);
    rc = repl_loop(&r);
    goto out;
fail:
    fprintf(stderr, CLI_PROG ": error: %s\n", err.message[0] ? err.message : "out of memory");
out:
    psb_session_free(r.session);
    for (unsigned i = 0; i < r.n_snaps; i++)
        psb_snapshot_free(r.snaps[i]);
    psb_sandbox_free(sb);
    psb_exec_options_free(o);
    psb_config_free(config);
    return rc;
}
