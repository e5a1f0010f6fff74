/*
 * server.c - the transports of `pysandbox serve`: JSON lines on stdin and
 * stdout, or many clients on a unix socket (mode 0600, each peer's uid
 * checked, one thread per client, so a client that stalls or leaves stalls
 * only itself). EOF on stdin, SIGTERM, SIGINT or a shutdown request drain
 * the executions in flight, then the server exits 0 and its helper with it.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "cli/serve.h"

static const char serve_help[] =
    "Usage: " CLI_PROG " serve [OPTIONS]\n"
    "\n"
    "Runs executions for clients that speak JSON lines: one request per line,\n"
    "one response per line, answered as each finishes (see the README).\n"
    "\n"
    "  --listen unix:PATH      serve clients on a unix socket (mode 0600, same\n"
    "                          user only) instead of stdin and stdout\n"
    "  --listen systemd        the socket systemd passes (socket activation)\n"
    "  --allow-group GROUP     members of GROUP may connect too (a --listen\n"
    "                          socket is then mode 0660, of that group)\n"
    "  --policy NAME|FILE      preset (default, data-science, strict) or JSON file\n"
    "  --max-in-flight N       executions running at once, 1..256 (default 16);\n"
    "                          more is answered with the error busy\n"
    "  --max-sessions N        sessions open at once, 0..256 (default 16; 0: none);\n"
    "                          each holds a process until closed or its client goes\n"
    "  --max-line-bytes N      longest request line (default 134217728)\n"
    "  --no-import-overrides   refuse requests that carry allow_import\n"
    "  --layers-dir DIR        where module layers live (default: $PYSANDBOX_LAYERS,\n"
    "                          else /var/lib/pysandbox/layers for root, else\n"
    "                          ~/.local/share/pysandbox/layers)\n"
    "  --layer-admin           allow layer_create, layer_install and layer_remove\n"
    "                          (layer_list is always allowed)\n"
    "  --python PATH           run every execution in that interpreter (a venv's\n"
    "                          bin/python); sessions need the embedded one\n"
    "  --help                  show this help and exit\n"
    "\n"
    "Stops on EOF (stdio), SIGTERM, SIGINT or a shutdown request, after the\n"
    "executions in flight have answered. Exit status 0, 2 for bad flags, 6 when\n"
    "the sandbox cannot start.\n";

struct transport {
    int sigfd;                 /* SIGTERM, SIGINT */
    int wake[2];               /* request_stop() writes here */
    int listen_fd;             /* -1 for stdio */
    char path[108];            /* the socket's path */
    pthread_mutex_t lock;      /* conns, stopping */
    pthread_cond_t conns_gone; /* conns became empty */
    struct serve_conn *conns;  /* connected clients */
    bool stopping;
    bool allow_group; /* --allow-group: members of allow_gid may connect too */
    gid_t allow_gid;
};

static void request_stop(struct serve *srv) {
    struct transport *t = srv->transport;
    char b = 1;
    ssize_t n = write(t->wake[1], &b, 1);
    (void)n;
}

static void on_conn_gone(struct serve_conn *c) {
    struct transport *t = c->srv->transport;
    pthread_mutex_lock(&t->lock);
    for (struct serve_conn **p = &t->conns; *p; p = &(*p)->next_conn) {
        if (*p == c) {
            *p = c->next_conn;
            break;
        }
    }
    if (!t->conns)
        pthread_cond_broadcast(&t->conns_gone);
    pthread_mutex_unlock(&t->lock);
    if (t->listen_fd >= 0)
        close(c->in_fd); /* the socket (stdio's fds are the process's) */
}

/* stdio: one connection, read between signals and stop requests. */
static void serve_stdio(struct serve *srv, struct transport *t) {
    struct serve_conn *c = serve_conn_new(srv, STDIN_FILENO, STDOUT_FILENO, false);
    if (!c)
        return;
    t->conns = c;
    cli_out_json(&c->out, serve_hello(srv));
    struct cli_lines lines;
    cli_lines_init(&lines, STDIN_FILENO, srv->max_line);
    lines.nonblocking = true;
    for (bool done = false; !done && cli_wait_input(STDIN_FILENO, t->sigfd, t->wake[0]);) {
        lines.readable = true;
        char *line;
        size_t len;
        for (;;) {
            enum cli_line k = cli_lines_next(&lines, &line, &len);
            if (k == CLI_LINE_AGAIN)
                break;
            if (k == CLI_LINE_EOF || k == CLI_LINE_ERROR) {
                done = true;
                break;
            }
            serve_line(c, k, line, len);
            struct pollfd wake = {.fd = t->wake[0], .events = POLLIN};
            if (poll(&wake, 1, 0) > 0) { /* a shutdown: nothing after it is read */
                done = true;
                break;
            }
        }
    }
    cli_lines_release(&lines);
    serve_conn_close(c, false); /* stdio drains: EOF is not a disconnect */
}

/* One socket client, on its own thread: its lines until EOF. */
static void *client_thread(void *arg) {
    struct serve_conn *c = arg;
    struct cli_lines lines;
    cli_lines_init(&lines, c->in_fd, c->srv->max_line);
    cli_out_json(&c->out, serve_hello(c->srv));
    char *line;
    size_t len;
    enum cli_line k;
    while ((k = cli_lines_next(&lines, &line, &len)) == CLI_LINE_OK || k == CLI_LINE_TOO_LONG)
        serve_line(c, k, line, len);
    cli_lines_release(&lines);
    /* A client that went away (not a server stopping) takes its executions with it. */
    pthread_mutex_lock(&((struct transport *)c->srv->transport)->lock);
    bool stopping = ((struct transport *)c->srv->transport)->stopping;
    pthread_mutex_unlock(&((struct transport *)c->srv->transport)->lock);
    serve_conn_close(c, !stopping);
    return NULL;
}

/* A peer of our uid, or (--allow-group) of that group, primary or supplementary. */
static bool peer_allowed(int fd, const struct transport *t) {
    struct ucred cred;
    socklen_t n = sizeof cred;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &n) != 0)
        return false;
    if (cred.uid == geteuid())
        return true;
    if (!t->allow_group)
        return false;
    if (cred.gid == t->allow_gid)
        return true;
    gid_t groups[1024];
    socklen_t len = sizeof groups;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) != 0)
        return false;
    for (size_t i = 0; i < len / sizeof groups[0]; i++)
        if (groups[i] == t->allow_gid)
            return true;
    return false;
}

/* Accepts one client if peer_allowed(); a stranger is closed unanswered. */
static void accept_client(struct serve *srv, struct transport *t) {
    struct sockaddr_un peer;
    socklen_t peer_len = sizeof peer;
    int fd = accept4(t->listen_fd, (struct sockaddr *)&peer, &peer_len, SOCK_CLOEXEC);
    if (fd < 0)
        return;
    if (!peer_allowed(fd, t)) {
        close(fd);
        return;
    }
    struct timeval tv = {.tv_sec = 30}; /* a client that stops reading loses its answers */
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    struct serve_conn *c = serve_conn_new(srv, fd, fd, true);
    pthread_t th;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_mutex_lock(&t->lock);
    if (c) {
        c->next_conn = t->conns;
        t->conns = c;
    }
    pthread_mutex_unlock(&t->lock);
    if (!c || pthread_create(&th, &attr, client_thread, c) != 0) {
        if (c)
            serve_conn_close(c, true); /* closes fd through on_conn_gone() */
        else
            close(fd);
    }
    pthread_attr_destroy(&attr);
}

/*
 * --listen systemd: the listening socket systemd passed (socket activation,
 * sd_listen_fds(3)'s protocol: fd 3, LISTEN_FDS=1, LISTEN_PID ours). Its
 * path, mode and owner are the socket unit's; it is not removed at exit.
 */
static int listen_systemd(struct transport *t) {
    const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
    int on = 0, domain = 0;
    socklen_t n = sizeof on, m = sizeof domain;
    if (!pid || !fds || strtol(pid, NULL, 10) != (long)getpid() || strcmp(fds, "1") != 0 ||
        getsockopt(3, SOL_SOCKET, SO_ACCEPTCONN, &on, &n) != 0 || !on ||
        getsockopt(3, SOL_SOCKET, SO_DOMAIN, &domain, &m) != 0 || domain != AF_UNIX) {
        fprintf(stderr, CLI_PROG ": error: --listen systemd: no listening unix socket was passed "
                                 "(fd 3, LISTEN_FDS=1, LISTEN_PID of this process)\n");
        return -1;
    }
    unsetenv("LISTEN_PID");
    unsetenv("LISTEN_FDS");
    unsetenv("LISTEN_FDNAMES");
    fcntl(3, F_SETFD, FD_CLOEXEC);
    t->listen_fd = 3;
    t->path[0] = '\0';
    return 0;
}

/* Binds PATH: a stale socket (no one listening) is replaced, anything else is an error. */
static int listen_unix(struct transport *t, const char *path) {
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof a.sun_path) {
        fprintf(stderr, CLI_PROG ": error: --listen: the path is longer than %zu bytes\n",
                sizeof a.sun_path - 1);
        return -1;
    }
    snprintf(a.sun_path, sizeof a.sun_path, "%s", path);
    snprintf(t->path, sizeof t->path, "%s", path);
    struct stat st;
    if (lstat(path, &st) == 0) {
        int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        bool live = S_ISSOCK(st.st_mode) && probe >= 0 &&
                    connect(probe, (struct sockaddr *)&a, sizeof a) == 0;
        if (probe >= 0)
            close(probe);
        if (!S_ISSOCK(st.st_mode) || live) {
            fprintf(stderr, CLI_PROG ": error: --listen: %s %s\n", path,
                    live ? "has a server listening already" : "exists and is not a socket");
            return -1;
        }
        unlink(path);
    }
    t->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    mode_t old = umask(0177); /* born 0600: no moment where others may connect */
    int rc = t->listen_fd >= 0 ? bind(t->listen_fd, (struct sockaddr *)&a, sizeof a) : -1;
    umask(old);
    /* --allow-group: the group may connect (0660), and peer_allowed() lets it in. */
    if (rc == 0 && t->allow_group &&
        (chown(path, (uid_t)-1, t->allow_gid) != 0 || chmod(path, 0660) != 0))
        rc = -1;
    if (rc != 0 || (!t->allow_group && chmod(path, 0600) != 0) || listen(t->listen_fd, 64) != 0) {
        fprintf(stderr, CLI_PROG ": error: --listen: %s: %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* The socket: accept until stopped, then end every client's reading and wait for them. */
static void serve_socket(struct serve *srv, struct transport *t) {
    while (cli_wait_input(t->listen_fd, t->sigfd, t->wake[0]))
        accept_client(srv, t);
    close(t->listen_fd);
    unlink(t->path);
    pthread_mutex_lock(&t->lock);
    t->stopping = true;
    for (struct serve_conn *c = t->conns; c; c = c->next_conn)
        shutdown(c->in_fd, SHUT_RD); /* its reader sees EOF; its executions still answer */
    while (t->conns)
        pthread_cond_wait(&t->conns_gone, &t->lock);
    pthread_mutex_unlock(&t->lock);
}

/* The parsed command line of `serve`. */
struct serve_args {
    const char *listen; /* PATH of --listen unix:PATH, or NULL */
    const char *policy;
    uint64_t max_in_flight;
    uint64_t max_sessions;
    uint64_t max_line;
    bool no_overrides;
    bool layer_admin;
    const char *layers_dir;
    const char *python;
    const char *allow_group;
    bool help;
};

/* Prints a usage error; returns -1. */
__attribute__((format(printf, 1, 2))) static int usage_error(const char *fmt, ...) {
    va_list ap;
    fputs(CLI_PROG ": error: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return -1;
}

/* A numeric flag's value within [lo, hi]; 0, or -1 with the message printed. */
static int parse_count(const char *flag, const char *s, uint64_t lo, uint64_t hi, uint64_t *ret) {
    if (cli_parse_u64(s, ret) != CLI_NUM_OK || *ret < lo || *ret > hi) {
        fprintf(stderr, CLI_PROG ": error: %s: '%s' is not a whole number from %llu to %llu\n",
                flag, s, (unsigned long long)lo, (unsigned long long)hi);
        return -1;
    }
    return 0;
}

static int parse_serve_args(int argc, char **argv, struct serve_args *a) {
    enum {
        O_LISTEN = 256,
        O_POLICY,
        O_MAX_IN_FLIGHT,
        O_MAX_SESSIONS,
        O_MAX_LINE,
        O_NO_OVERRIDES,
        O_LAYER_ADMIN,
        O_LAYERS_DIR,
        O_PYTHON,
        O_ALLOW_GROUP
    };
    static const struct option opts[] = {
        {"listen", required_argument, NULL, O_LISTEN},
        {"policy", required_argument, NULL, O_POLICY},
        {"max-in-flight", required_argument, NULL, O_MAX_IN_FLIGHT},
        {"max-sessions", required_argument, NULL, O_MAX_SESSIONS},
        {"max-line-bytes", required_argument, NULL, O_MAX_LINE},
        {"no-import-overrides", no_argument, NULL, O_NO_OVERRIDES},
        {"layer-admin", no_argument, NULL, O_LAYER_ADMIN},
        {"layers-dir", required_argument, NULL, O_LAYERS_DIR},
        {"python", required_argument, NULL, O_PYTHON},
        {"allow-group", required_argument, NULL, O_ALLOW_GROUP},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    *a = (struct serve_args){
        .max_in_flight = 16, .max_sessions = 16, .max_line = SERVE_MAX_LINE_DEFAULT};
    int c, rc = 0;
    optind = 0;
    opterr = 0;
    while (rc == 0 && (c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
        if (c == O_LISTEN && strncmp(optarg, "unix:", 5) == 0 && optarg[5])
            a->listen = optarg + 5;
        else if (c == O_LISTEN && strcmp(optarg, "systemd") == 0)
            a->listen = optarg;
        else if (c == O_LISTEN)
            rc = usage_error("--listen: expected unix:PATH or systemd");
        else if (c == O_ALLOW_GROUP)
            a->allow_group = optarg;
        else if (c == O_POLICY)
            a->policy = optarg;
        else if (c == O_MAX_IN_FLIGHT)
            rc = parse_count("--max-in-flight", optarg, 1, 256, &a->max_in_flight);
        else if (c == O_MAX_SESSIONS)
            rc = parse_count("--max-sessions", optarg, 0, 256, &a->max_sessions);
        else if (c == O_MAX_LINE)
            rc = parse_count("--max-line-bytes", optarg, 1024, (uint64_t)1 << 30, &a->max_line);
        else if (c == O_NO_OVERRIDES)
            a->no_overrides = true;
        else if (c == O_LAYER_ADMIN)
            a->layer_admin = true;
        else if (c == O_LAYERS_DIR)
            a->layers_dir = optarg;
        else if (c == O_PYTHON)
            a->python = optarg;
        else if (c == 'h')
            a->help = true;
        else
            rc = usage_error("unknown or incomplete option '%s'", argv[optind - 1]);
    }
    if (rc == 0 && optind < argc)
        rc = usage_error("unexpected argument '%s'", argv[optind]);
    if (rc != 0)
        fputs("Try '" CLI_PROG " serve --help' for more information.\n", stderr);
    return rc;
}

/* The configuration the flags describe. NULL with the reason printed. */
static psb_config *serve_config(const struct serve_args *a) {
    psb_error err = {0};
    psb_config *config = psb_config_new(&err);
    const char *helper = cli_helper_path();
    const struct {
        const char *flag, *value;
        psb_status (*set)(psb_config *, const char *, psb_error *);
    } flags[] = {{"--policy", a->policy, psb_config_set_policy},
                 {"--layers-dir", a->layers_dir, psb_config_set_layers_dir},
                 {"--python", a->python, psb_config_set_python}};
    for (size_t i = 0; config && i < sizeof flags / sizeof flags[0]; i++)
        if (flags[i].value && flags[i].set(config, flags[i].value, &err) != PSB_OK) {
            fprintf(stderr, CLI_PROG ": error: %s: %s\n", flags[i].flag, err.message);
            psb_config_free(config);
            return NULL;
        }
    if (config && helper && psb_config_set_helper_path(config, helper, &err) != PSB_OK) {
        psb_config_free(config);
        config = NULL;
    }
    if (!config)
        fprintf(stderr, CLI_PROG ": error: %s\n", err.message);
    return config;
}

int cli_cmd_serve(int argc, char **argv) {
    struct serve_args a;
    if (parse_serve_args(argc, argv, &a) != 0)
        return CLI_EXIT_USAGE;
    if (a.help) {
        fputs(serve_help, stdout);
        return CLI_EXIT_OK;
    }
    struct group grbuf, *gr = NULL;
    static char grtext[16384];
    if (a.allow_group &&
        (getgrnam_r(a.allow_group, &grbuf, grtext, sizeof grtext, &gr) != 0 || !gr))
        gr = NULL;
    if (a.allow_group && !gr) {
        fprintf(stderr, CLI_PROG ": error: --allow-group: no group named '%s'\n", a.allow_group);
        return CLI_EXIT_USAGE;
    }
    psb_config *config = serve_config(&a);
    if (!config)
        return a.policy || a.layers_dir || a.python ? CLI_EXIT_USAGE : CLI_EXIT_INTERNAL;
    struct transport t = {.listen_fd = -1,
                          .sigfd = -1,
                          .wake = {-1, -1},
                          .allow_group = gr != NULL,
                          .allow_gid = gr ? gr->gr_gid : 0};
    struct serve srv = {.config = config,
                        .max_line = (size_t)a.max_line,
                        .allow_widen = !a.no_overrides,
                        .layer_admin = a.layer_admin,
                        .request_stop = request_stop,
                        .on_conn_gone = on_conn_gone,
                        .transport = &t};
    pthread_mutex_init(&t.lock, NULL);
    pthread_cond_init(&t.conns_gone, NULL);
    t.sigfd = cli_stop_signals();
    int rc = CLI_EXIT_OK;
    psb_error err = {0};
    if (t.sigfd < 0 || pipe2(t.wake, O_CLOEXEC) != 0) {
        fprintf(stderr, CLI_PROG ": error: %s\n", strerror(errno));
        rc = CLI_EXIT_INTERNAL;
    } else if (a.listen && (strcmp(a.listen, "systemd") == 0 ? listen_systemd(&t)
                                                             : listen_unix(&t, a.listen)) != 0) {
        rc = CLI_EXIT_USAGE;
    } else if (cli_engine_init(&srv.engine, config, a.policy, (unsigned)a.max_in_flight, &err) !=
               0) {
        fprintf(stderr, CLI_PROG ": error: starting the sandbox: %s\n", err.message);
        rc = CLI_EXIT_INTERNAL;
        if (a.listen)
            unlink(t.path);
    } else if (a.listen) {
        srv.engine.max_sessions = (unsigned)a.max_sessions;
        serve_socket(&srv, &t);
    } else {
        srv.engine.max_sessions = (unsigned)a.max_sessions;
        serve_stdio(&srv, &t);
    }
    cli_engine_release(&srv.engine); /* drains: every answer is out before the exit */
    for (int i = 0; i < 2; i++)
        if (t.wake[i] >= 0)
            close(t.wake[i]);
    if (t.sigfd >= 0)
        close(t.sigfd);
    pthread_cond_destroy(&t.conns_gone);
    pthread_mutex_destroy(&t.lock);
    psb_config_free(config);
    return rc;
}
