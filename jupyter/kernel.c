/*
 * kernel.c - `pysandbox kernel -f CONNECTION_FILE`: binds the five
 * channels of a connection file, starts the warm sandbox and the session
 * every cell runs in, and serves: shell on the main thread, control and
 * the heartbeat on their own. SIGINT interrupts the running cell (a
 * kernelspec's interrupt_mode "signal"); SIGTERM shuts the kernel down.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zmq.h>

#include "jupyter/jupyter.h"

/* The kernel's own defaults where a notebook needs more than a one-shot run. */
#define DEFAULT_TIMEOUT_MS (600u * 1000u)    /* a cell: 10 minutes */
#define DEFAULT_CPU_S 3600u                  /* the whole session: 1 hour of CPU */
#define DEFAULT_SESSION_S (7u * 24u * 3600u) /* lifetime and idle time: a week */

static const char kernel_help[] =
    "Usage: " CLI_PROG " kernel -f CONNECTION_FILE [OPTIONS]\n"
    "       " CLI_PROG " kernel install [--user | --prefix DIR] [OPTIONS]\n"
    "\n"
    "A Jupyter kernel (messaging protocol " JK_PROTOCOL_VERSION ") whose cells run in one\n"
    "confined session: variables persist between cells, the kernel's process never\n"
    "runs the code. Jupyter starts it from its kernelspec ('kernel install').\n"
    "\n"
    "  -f, --connection-file FILE  the connection file Jupyter wrote\n"
    "  --policy NAME|FILE      preset (default, data-science, strict) or JSON file\n"
    "  --timeout SECONDS       each cell's wall-clock limit (default 600)\n"
    "  --cpu-seconds N         CPU time of the whole session (default 3600)\n"
    "  --memory-mb N           memory of the session (default: the policy's)\n"
    "  --cold                  a fresh interpreter, not the warm helper\n"
    "  --help                  show this help and exit\n"
    "\n"
    "A restart (or a session that ended: memory, CPU, a crash) gives a fresh session.\n"
    "Run '" CLI_PROG " kernel install --help' for the kernelspec.\n";

/* The signal pipe: SIGINT writes 'I', SIGTERM 'T'; the control thread reads it. */
static int signal_pipe[2] = {-1, -1};

static void on_signal(int sig) {
    int saved = errno;
    char c = sig == SIGINT ? 'I' : 'T';
    ssize_t n = write(signal_pipe[1], &c, 1);
    (void)n;
    errno = saved;
}

static const char *const channel_names[JK_CHANNELS] = {"shell", "iopub", "stdin", "control", "hb"};

int jk_recv(struct jk_kernel *k, enum jk_channel ch, struct jk_msg *m) {
    char why[200];
    int got = jk_msg_recv(&k->conn, k->sock[ch], m, why, sizeof why);
    if (got == 1)
        fprintf(stderr, CLI_PROG " kernel: %s: message dropped: %s\n", channel_names[ch], why);
    return got;
}

int jk_publish(struct jk_kernel *k, const struct jk_msg *parent, const char *type,
               json_t *content) {
    char topic[128];
    snprintf(topic, sizeof topic, "kernel.%s.%s", k->conn.session, type);
    pthread_mutex_lock(&k->iopub_lock);
    int rc = jk_msg_send(&k->conn, k->sock[JK_IOPUB], parent, type, content, topic);
    pthread_mutex_unlock(&k->iopub_lock);
    return rc;
}

void jk_status(struct jk_kernel *k, const struct jk_msg *parent, const char *state) {
    jk_publish(k, parent, "status", json_pack("{s:s}", "execution_state", state));
}

int jk_session_ensure(struct jk_kernel *k, psb_error *err) {
    if (k->session && psb_session_alive(k->session))
        return 0;
    psb_session_free(k->session);
    k->session = NULL;
    return psb_session_new(k->sandbox, k->session_options, &k->session, err) == PSB_OK ? 0 : -1;
}

/* Interrupts the running cell, if any. */
static void interrupt(struct jk_kernel *k) {
    pthread_mutex_lock(&k->cell_lock);
    psb_cancel_fire(k->cancel);
    pthread_mutex_unlock(&k->cell_lock);
}

static void wake_shell(struct jk_kernel *k) {
    char c = 'w';
    ssize_t n = write(k->wake[1], &c, 1);
    (void)n;
}

/* The control channel, and the signals: interrupts and shutdowns. */
static void *control_thread(void *arg) {
    struct jk_kernel *k = arg;
    pid_t parent = getppid();
    while (!atomic_load(&k->stop)) {
        if (getppid() != parent) { /* whoever started the kernel is gone: so is its client */
            fprintf(stderr, CLI_PROG " kernel: the process that started the kernel exited\n");
            atomic_store(&k->stop, true);
            interrupt(k);
            wake_shell(k);
            break;
        }
        zmq_pollitem_t items[2] = {{k->sock[JK_CONTROL], 0, ZMQ_POLLIN, 0},
                                   {NULL, signal_pipe[0], ZMQ_POLLIN, 0}};
        int rc = zmq_poll(items, 2, 200);
        if (rc < 0 && errno != EINTR)
            break;
        if (items[1].revents & ZMQ_POLLIN) {
            char c;
            while (read(signal_pipe[0], &c, 1) == 1) {
                if (c == 'I') {
                    interrupt(k);
                } else {
                    atomic_store(&k->stop, true);
                    interrupt(k);
                    wake_shell(k);
                }
            }
        }
        if (!(items[0].revents & ZMQ_POLLIN))
            continue;
        struct jk_msg m;
        int got = jk_recv(k, JK_CONTROL, &m);
        if (got != 0)
            continue;
        jk_control_handle(k, &m);
        jk_msg_release(&m);
        if (atomic_load(&k->stop)) {
            interrupt(k);
            wake_shell(k);
        }
    }
    return NULL;
}

/* The heartbeat: every message comes straight back. */
static void *heartbeat_thread(void *arg) {
    struct jk_kernel *k = arg;
    while (!atomic_load(&k->stop)) {
        zmq_pollitem_t item = {k->sock[JK_HB], 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&item, 1, 200) <= 0 || !(item.revents & ZMQ_POLLIN))
            continue;
        zmq_msg_t msg;
        zmq_msg_init(&msg);
        if (zmq_msg_recv(&msg, k->sock[JK_HB], 0) >= 0)
            (void)zmq_msg_send(&msg, k->sock[JK_HB], 0);
        zmq_msg_close(&msg);
    }
    return NULL;
}

/* Binds every channel. 0, or -1 with a message on stderr. */
static int bind_channels(struct jk_kernel *k) {
    static const int types[JK_CHANNELS] = {ZMQ_ROUTER, ZMQ_PUB, ZMQ_ROUTER, ZMQ_ROUTER, ZMQ_REP};
    int linger = 1000;
    int64_t max = JK_MAX_PART_BYTES;
    for (int i = 0; i < JK_CHANNELS; i++) {
        char ep[300];
        jk_conn_endpoint(&k->conn, (enum jk_channel)i, ep, sizeof ep);
        k->sock[i] = zmq_socket(k->zmq, types[i]);
        if (!k->sock[i] || zmq_setsockopt(k->sock[i], ZMQ_LINGER, &linger, sizeof linger) != 0 ||
            zmq_setsockopt(k->sock[i], ZMQ_MAXMSGSIZE, &max, sizeof max) != 0 ||
            zmq_bind(k->sock[i], ep) != 0) {
            fprintf(stderr, CLI_PROG " kernel: error: %s channel at %s: %s\n", channel_names[i], ep,
                    zmq_strerror(errno));
            return -1;
        }
    }
    return 0;
}

struct kernel_args {
    const char *conn_file, *policy;
    uint64_t timeout_ms, cpu_s, memory_mib;
    bool cold, help;
};

static int parse_args(int argc, char **argv, struct kernel_args *a) {
    enum { O_POLICY = 256, O_TIMEOUT, O_CPU, O_MEMORY, O_COLD };
    static const struct option opts[] = {
        {"connection-file", required_argument, NULL, 'f'},
        {"policy", required_argument, NULL, O_POLICY},
        {"timeout", required_argument, NULL, O_TIMEOUT},
        {"cpu-seconds", required_argument, NULL, O_CPU},
        {"memory-mb", required_argument, NULL, O_MEMORY},
        {"cold", no_argument, NULL, O_COLD},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    memset(a, 0, sizeof *a);
    a->timeout_ms = DEFAULT_TIMEOUT_MS;
    a->cpu_s = DEFAULT_CPU_S;
    optind = 0;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "+hf:", opts, NULL)) != -1) {
        const char *bad = NULL;
        if (c == 'h')
            a->help = true;
        else if (c == 'f')
            a->conn_file = optarg;
        else if (c == O_POLICY)
            a->policy = optarg;
        else if (c == O_COLD)
            a->cold = true;
        else if (c == O_TIMEOUT && (cli_parse_seconds_ms(optarg, &a->timeout_ms) != CLI_NUM_OK ||
                                    !a->timeout_ms || a->timeout_ms > 86400000u))
            bad = "--timeout: must be between 0.001 and 86400 seconds";
        else if (c == O_CPU &&
                 (cli_parse_u64(optarg, &a->cpu_s) != CLI_NUM_OK || !a->cpu_s || a->cpu_s > 86400))
            bad = "--cpu-seconds: must be between 1 and 86400";
        else if (c == O_MEMORY && (cli_parse_u64(optarg, &a->memory_mib) != CLI_NUM_OK ||
                                   a->memory_mib < 32 || a->memory_mib > 1048576))
            bad = "--memory-mb: must be between 32 and 1048576";
        else if (c == '?' || c == ':')
            bad = "unknown option, or an option without its value";
        if (bad) {
            fprintf(stderr,
                    CLI_PROG " kernel: error: %s ('%s')\nTry '" CLI_PROG
                             " kernel --help' for more information.\n",
                    bad, argv[optind - 1]);
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, CLI_PROG " kernel: error: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    if (!a->help && !a->conn_file) {
        fprintf(stderr, CLI_PROG " kernel: error: -f CONNECTION_FILE is required\n");
        return -1;
    }
    return 0;
}

/* The session's options from the flags. 0, or -1 with err. */
static int session_options(const struct kernel_args *a, psb_exec_options *o, psb_error *err) {
    return psb_exec_options_set_cpu_limit_s(o, a->cpu_s, err) != PSB_OK ||
                   psb_exec_options_set_session_lifetime_s(o, DEFAULT_SESSION_S, err) != PSB_OK ||
                   psb_exec_options_set_session_idle_s(o, DEFAULT_SESSION_S, err) != PSB_OK ||
                   (a->memory_mib &&
                    psb_exec_options_set_memory_limit_mib(o, a->memory_mib, err) != PSB_OK)
               ? -1
               : 0;
}

/* The sandbox's Python version, asked of the session. */
static void learn_version(struct jk_kernel *k) {
    static const char expr[] = "{\"v\": \"'%d.%d.%d' % __import__('sys').version_info[:3]\"}";
    psb_outcome *o = NULL;
    psb_error err = {0};
    snprintf(k->language_version, sizeof k->language_version, "3");
    if (psb_session_ask(k->session, PSB_ASK_EXPRESSIONS, expr, sizeof expr - 1, 0, NULL, &o,
                        &err) != PSB_OK)
        return;
    json_t *j = psb_outcome_ok(o) ? json_loads(psb_outcome_result_json(o), 0, NULL) : NULL;
    const char *v = json_string_value(
        json_object_get(json_object_get(json_object_get(j, "v"), "data"), "text/plain"));
    if (v && strlen(v) > 2 && strlen(v) < sizeof k->language_version)
        snprintf(k->language_version, sizeof k->language_version, "%.*s", (int)strlen(v) - 2,
                 v + 1); /* repr(): without its quotes */
    json_decref(j);
    psb_outcome_free(o);
}

/* The shell loop: one request at a time, until a shutdown. */
static void serve(struct jk_kernel *k) {
    while (!atomic_load(&k->stop)) {
        zmq_pollitem_t items[2] = {{k->sock[JK_SHELL], 0, ZMQ_POLLIN, 0},
                                   {NULL, k->wake[0], ZMQ_POLLIN, 0}};
        int rc = zmq_poll(items, 2, -1);
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc < 0)
            break;
        if (items[1].revents & ZMQ_POLLIN) {
            char c;
            while (read(k->wake[0], &c, 1) == 1) {
            }
        }
        if (!(items[0].revents & ZMQ_POLLIN))
            continue;
        struct jk_msg m;
        int got = jk_recv(k, JK_SHELL, &m);
        if (got < 0)
            break;
        if (got != 0)
            continue;
        jk_shell_handle(k, &m);
        jk_msg_release(&m);
    }
}

/* The connection file and the sandbox's configuration. CLI_EXIT_OK, or the status to exit with. */
static int configure(struct jk_kernel *k, const struct kernel_args *a, psb_exec_options *so) {
    char msg[600];
    psb_error err = {0};
    if (jk_conn_load(&k->conn, a->conn_file, msg, sizeof msg) != 0) {
        fprintf(stderr, CLI_PROG " kernel: error: %s\n", msg);
        return CLI_EXIT_USAGE;
    }
    k->config = psb_config_new(&err);
    const char *helper = cli_helper_path();
    if (!so || !k->config || session_options(a, so, &err) != 0 ||
        (helper && psb_config_set_helper_path(k->config, helper, &err) != PSB_OK) ||
        (a->cold && psb_config_set_mode(k->config, PSB_MODE_COLD, &err) != PSB_OK)) {
        fprintf(stderr, CLI_PROG " kernel: error: %s\n", err.message);
        return CLI_EXIT_INTERNAL;
    }
    if (a->policy && psb_config_set_policy(k->config, a->policy, &err) != PSB_OK) {
        fprintf(stderr, CLI_PROG " kernel: error: --policy: %s\n", err.message);
        return CLI_EXIT_USAGE;
    }
    return CLI_EXIT_OK;
}

static int run_kernel(const struct kernel_args *a) {
    struct jk_kernel k;
    memset(&k, 0, sizeof k);
    k.wake[0] = k.wake[1] = -1;
    k.timeout_ms = a->timeout_ms;
    pthread_mutex_init(&k.iopub_lock, NULL);
    pthread_mutex_init(&k.cell_lock, NULL);
    int rc;
    psb_error err = {0};
    psb_exec_options *so = psb_exec_options_new(&err);
    pthread_t control, heartbeat;
    bool threads = false;
    rc = configure(&k, a, so);
    if (rc != CLI_EXIT_OK)
        goto out;
    rc = CLI_EXIT_INTERNAL;
    k.session_options = so;
    if (pipe2(k.wake, O_CLOEXEC | O_NONBLOCK) != 0 ||
        pipe2(signal_pipe, O_CLOEXEC | O_NONBLOCK) != 0 || !(k.zmq = zmq_ctx_new()) ||
        bind_channels(&k) != 0)
        goto out;
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    /* The heartbeat answers while the sandbox starts. */
    if (pthread_create(&heartbeat, NULL, heartbeat_thread, &k) != 0)
        goto out;
    if (pthread_create(&control, NULL, control_thread, &k) != 0) {
        atomic_store(&k.stop, true);
        pthread_join(heartbeat, NULL);
        goto out;
    }
    threads = true;
    jk_status(&k, NULL, "starting");
    if (psb_sandbox_new(k.config, &k.sandbox, &err) != PSB_OK || jk_session_ensure(&k, &err) != 0) {
        fprintf(stderr, CLI_PROG " kernel: error: the sandbox did not start: %s\n", err.message);
        goto out;
    }
    learn_version(&k);
    jk_status(&k, NULL, "idle");
    serve(&k);
    rc = CLI_EXIT_OK;
out:
    atomic_store(&k.stop, true);
    if (threads) {
        pthread_join(control, NULL);
        pthread_join(heartbeat, NULL);
    }
    psb_session_free(k.session);
    psb_sandbox_free(k.sandbox);
    psb_exec_options_free(so);
    psb_config_free(k.config);
    for (int i = 0; i < JK_CHANNELS; i++)
        if (k.sock[i])
            zmq_close(k.sock[i]);
    if (k.zmq)
        zmq_ctx_term(k.zmq);
    for (size_t i = 0; i < k.n_history; i++)
        free(k.history[i].code);
    free(k.history);
    for (int i = 0; i < 2; i++) {
        if (k.wake[i] >= 0)
            close(k.wake[i]);
        if (signal_pipe[i] >= 0)
            close(signal_pipe[i]);
        signal_pipe[i] = -1;
    }
    jk_conn_release(&k.conn);
    pthread_mutex_destroy(&k.cell_lock);
    pthread_mutex_destroy(&k.iopub_lock);
    return rc;
}

int cli_cmd_kernel(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "install") == 0)
        return jk_cmd_install(argc - 1, argv + 1);
    struct kernel_args a;
    if (parse_args(argc, argv, &a) != 0)
        return CLI_EXIT_USAGE;
    if (a.help) {
        fputs(kernel_help, stdout);
        return CLI_EXIT_OK;
    }
    return run_kernel(&a);
}
