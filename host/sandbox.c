/*
 * host/sandbox.c - psb_sandbox: spawns the helper (posix_spawn, clean
 * environment: the host is never forked), hands each execution a socket of
 * its own over the control channel, and restarts a helper that died.
 */
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "host/host.h"

/* A warm helper imports numpy, pandas and matplotlib first. */
#define HELPER_START_TIMEOUT_MS 60000
/* fd number of the control socket in the helper. */
#define HELPER_CONTROL_FD 3
/* How often a caller waiting for a slot looks at its cancellation token. */
#define CANCEL_CHECK_MS 20

struct psb_sandbox {
    psb__policy policy;       /* copied from the config */
    char *helper_path;        /* absolute path of pysandbox-helper */
    pthread_mutex_t lock;     /* guards helper_pid, ctl_fd, running */
    pthread_cond_t slot_free; /* signalled when `running` drops */
    pid_t helper_pid;         /* -1 when no helper runs */
    int ctl_fd;               /* SOCK_SEQPACKET to the helper, -1 if none */
    unsigned running;         /* executions in flight */
    unsigned max_concurrency; /* cap on `running` */
    psb_mode mode;            /* warm or cold */
    unsigned test_layers;     /* tests only: layers to use (0 = all) */
    char *preload;            /* comma-separated preload list or NULL (default) */
    bool wait_warm;           /* the helper answers once preloaded */
    char cache_dir[PATH_MAX]; /* the start-up cache, "" for none */
    char *layers_dir;         /* the module layers' root, NULL when there is none */
    char *python;             /* the external interpreter, or NULL */
    json_t *sites;            /* the policy's module layers' dirs (the helper's --site) */
};

/*
 * The directory of the object this code was linked into: libpysandbox.so,
 * or the program that linked the static library. 0, or -1.
 */
static int own_dir(char *buf, size_t size) {
    Dl_info info;
    char exe[PATH_MAX];
    const char *obj = NULL;
    if (dladdr((void *)(uintptr_t)psb_sandbox_new, &info) && info.dli_fname &&
        info.dli_fname[0] == '/')
        obj = info.dli_fname;
    if (!obj) { /* the main program: dladdr gives its name as it was run */
        ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
        if (n <= 0)
            return -1;
        exe[n] = '\0';
        obj = exe;
    }
    if (!realpath(obj, buf) || strlen(buf) >= size)
        return -1;
    char *slash = strrchr(buf, '/');
    if (!slash)
        return -1;
    *slash = '\0';
    return 0;
}

/*
 * Where the helper is: the configured path, else $PYSANDBOX_HELPER (which
 * must be absolute), else next to this library as it was installed
 * (PREFIX/libexec/pysandbox from PREFIX/lib or PREFIX/bin) or as it was
 * built (side by side). Never a path compiled in: a build tree under /tmp
 * would let anyone who creates that path later run code as the host.
 */
static psb_status find_helper(const psb_config *config, char **ret_path, psb_error *err) {
    static const char *const beside[] = {PSB_HELPER_FROM_LIBDIR, PSB_HELPER_FROM_BINDIR,
                                         "pysandbox-helper"};
    const char *env = getenv("PYSANDBOX_HELPER");
    char dir[PATH_MAX], path[PATH_MAX + 64];
    const char *found = config->helper_path;
    if (!found && env) {
        if (env[0] != '/')
            return psb__err(err, PSB_EINVAL, "PYSANDBOX_HELPER must be an absolute path, got '%s'",
                            env);
        found = env;
    }
    for (size_t i = 0; !found && i < sizeof beside / sizeof beside[0]; i++) {
        if (own_dir(dir, sizeof dir) != 0)
            break;
        snprintf(path, sizeof path, "%s/%s", dir, beside[i]);
        if (access(path, X_OK) == 0)
            found = path;
    }
    if (!found)
        return psb__err(err, PSB_EHELPER,
                        "cannot find pysandbox-helper next to the library; set it with "
                        "psb_config_set_helper_path() or $PYSANDBOX_HELPER");
    if (!(*ret_path = strdup(found)))
        return psb__err(err, PSB_ENOMEM, "out of memory");
    return PSB_OK;
}

/*
 * Refuses a helper that someone other than root or us could have replaced:
 * the file writable by others or owned by another user, or a directory on
 * its path writable by others (a sticky one like /tmp only above its own).
 */
static psb_status helper_trusted(const char *path, psb_error *err) {
    char real[PATH_MAX];
    struct stat st;
    if (!realpath(path, real) || stat(real, &st) != 0)
        return psb__err_sys(err, errno, "helper executable '%s' is not usable", path);
    uid_t me = geteuid();
    if (!S_ISREG(st.st_mode) || (st.st_mode & S_IWOTH) || (st.st_uid != 0 && st.st_uid != me))
        return psb__err(err, PSB_EHELPER,
                        "refusing helper '%s': it must be a regular file owned by root or by "
                        "this user and not writable by others",
                        real);
    bool own = true; /* the helper's own directory first, then its ancestors */
    for (char *slash = strrchr(real, '/'); slash; slash = strrchr(real, '/'), own = false) {
        *slash = '\0';
        const char *dir = real[0] ? real : "/";
        if (stat(dir, &st) != 0)
            return psb__err_sys(err, errno, "helper directory '%s' is not usable", dir);
        /* In a sticky ancestor (/tmp) others cannot rename what lies below. */
        bool others_write = (st.st_mode & S_IWOTH) && (own || !(st.st_mode & S_ISVTX));
        if (others_write || (st.st_uid != 0 && st.st_uid != me))
            return psb__err(err, PSB_EHELPER,
                            "refusing helper '%s': directory '%s' is writable by others or owned "
                            "by another user",
                            path, dir);
        if (!real[0])
            break;
    }
    return PSB_OK;
}

/* Reaps the helper, killing it if it does not exit within wait_ms. */
static void reap_helper(pid_t pid, int wait_ms) {
    for (int waited = 0;; waited++) {
        pid_t r = waitpid(pid, NULL, WNOHANG);
        if (r == pid || (r < 0 && errno != EINTR))
            return;
        if (waited == wait_ms) {
            kill(pid, SIGKILL);
            while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
            }
            return;
        }
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
    }
}

/* Closes the control socket and reaps the helper. Caller holds the lock. */
static void stop_helper(psb_sandbox *sb, int wait_ms) {
    if (sb->ctl_fd >= 0)
        close(sb->ctl_fd);
    sb->ctl_fd = -1;
    if (sb->helper_pid > 0)
        reap_helper(sb->helper_pid, wait_ms);
    sb->helper_pid = -1;
}

/* The helper's command line (base/wire.h's flags) and the strings it points to. */
struct helper_argv {
    char *argv[24 + 2 * PSB__MAX_MODLAYERS];
    char fd[16], uid[16], gid[16], require[128], layers[128];
};

/* Appends a comma and s to a list (truncating at size). */
static void list_add(char *list, size_t size, const char *s) {
    size_t len = strlen(list);
    snprintf(list + len, size - len, "%s%s", len ? "," : "", s);
}

static void helper_argv(const psb_sandbox *sb, struct helper_argv *a) {
    const json_t *doc = sb->policy.doc;
    const json_t *run_as = json_object_get(doc, "run_as");
    size_t i, n = 0;
    json_t *e;
    memset(a, 0, sizeof *a);
    json_array_foreach(json_object_get(doc, "require"), i, e) {
        list_add(a->require, sizeof a->require, json_string_value(e));
    }
    for (unsigned bit = 1; bit <= PSB_LAYERS_ALL; bit <<= 1)
        if (sb->test_layers & bit & PSB_LAYERS_ALL)
            list_add(a->layers, sizeof a->layers, psb_layer_name(bit));
    snprintf(a->fd, sizeof a->fd, "%d", HELPER_CONTROL_FD);
    snprintf(a->uid, sizeof a->uid, "%lld",
             (long long)json_integer_value(json_object_get(run_as, "uid")));
    snprintf(a->gid, sizeof a->gid, "%lld",
             (long long)json_integer_value(json_object_get(run_as, "gid")));
#define ARG(s) (a->argv[n++] = (char *)(uintptr_t)(s))
    ARG(sb->helper_path);
    ARG(PSB__FLAG_CONTROL_FD), ARG(a->fd);
    ARG(sb->mode == PSB_MODE_COLD || sb->python ? PSB__FLAG_COLD : PSB__FLAG_WARM);
    if (sb->python)
        ARG(PSB__FLAG_PYTHON), ARG(sb->python);
    if (sb->mode == PSB_MODE_WARM && sb->preload)
        ARG(PSB__FLAG_PRELOAD), ARG(sb->preload);
    if (sb->mode == PSB_MODE_WARM && sb->wait_warm)
        ARG(PSB__FLAG_WAIT_WARM);
    if (sb->cache_dir[0])
        ARG(PSB__FLAG_CACHE_DIR), ARG(sb->cache_dir);
    ARG(PSB__FLAG_UID), ARG(a->uid);
    ARG(PSB__FLAG_GID), ARG(a->gid);
    /* Diagnostics turn layers off on purpose; requirements do not apply then. */
    if (a->require[0] && !sb->test_layers)
        ARG(PSB__FLAG_REQUIRE), ARG(a->require);
    if (sb->test_layers)
        ARG(PSB__FLAG_LAYERS), ARG(a->layers[0] ? a->layers : "none");
    if (json_is_true(json_object_get(doc, "network")))
        ARG(PSB__FLAG_NETWORK);
    json_array_foreach(sb->sites, i, e) {
        ARG(PSB__FLAG_SITE), ARG(json_string_value(e));
    }
#undef ARG
    a->argv[n] = NULL;
}

/*
 * Spawns the helper with sock as its only fd beyond stdio (at
 * HELPER_CONTROL_FD), a clean environment (the helper's memory is
 * inherited by every child), default signals and a session of its own.
 */
static psb_status spawn_helper(const psb_sandbox *sb, int sock, pid_t *ret_pid, psb_error *err) {
    struct helper_argv a;
    helper_argv(sb, &a);
    char *envp[] = {NULL};
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    if (posix_spawn_file_actions_init(&fa) != 0)
        return psb__err(err, PSB_ENOMEM, "out of memory");
    if (posix_spawnattr_init(&attr) != 0) {
        posix_spawn_file_actions_destroy(&fa);
        return psb__err(err, PSB_ENOMEM, "out of memory");
    }
    psb_status st = PSB_OK;
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    /* dup2 onto fd 3 clears close-on-exec there; every other fd stays closed. */
    if (posix_spawn_file_actions_adddup2(&fa, sock, HELPER_CONTROL_FD) ||
        posix_spawnattr_setsigmask(&attr, &none) || posix_spawnattr_setsigdefault(&attr, &all) ||
        posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
                                            POSIX_SPAWN_SETSID)) {
        st = psb__err(err, PSB_ENOMEM, "cannot prepare the helper's spawn attributes");
    } else {
        int rc = posix_spawn(ret_pid, sb->helper_path, &fa, &attr, a.argv, envp);
        if (rc != 0)
            st = psb__err_sys(err, rc, "cannot start helper '%s'", sb->helper_path);
    }
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    return st;
}

/* Waits for the helper's ready message on sock; its failure text otherwise. */
static psb_status await_ready(const psb_sandbox *sb, int sock, psb_error *err) {
    struct pollfd pfd = {.fd = sock, .events = POLLIN};
    int prc;
    do {
        prc = poll(&pfd, 1, HELPER_START_TIMEOUT_MS);
    } while (prc < 0 && errno == EINTR);
    char msg[512] = {0};
    ssize_t n = prc > 0 ? recv(sock, msg, sizeof msg - 1, 0) : -1;
    size_t want = strlen(PSB__READY_MSG);
    if (n == (ssize_t)want && memcmp(msg, PSB__READY_MSG, want) == 0)
        return PSB_OK;
    /* The helper reports why it could not start instead of "ready". */
    return psb__err(err, PSB_EHELPER, "helper '%s' failed to start%s%s", sb->helper_path,
                    n > 0 ? ": " : (prc == 0 ? ": no answer in time" : ""), n > 0 ? msg : "");
}

/* Starts the helper and waits for its ready message. Caller holds the lock. */
static psb_status start_helper(psb_sandbox *sb, psb_error *err) {
    int sv[2];
    pid_t pid = -1;
    if (access(sb->helper_path, X_OK) != 0)
        return psb__err_sys(err, errno, "helper executable '%s' is not usable", sb->helper_path);
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
        return psb__err_sys(err, errno, "socketpair");
    psb_status st = spawn_helper(sb, sv[1], &pid, err);
    close(sv[1]);
    if (st == PSB_OK && (st = await_ready(sb, sv[0], err)) != PSB_OK)
        reap_helper(pid, 1000);
    if (st != PSB_OK) {
        close(sv[0]);
        return st;
    }
    sb->helper_pid = pid;
    sb->ctl_fd = sv[0];
    return PSB_OK;
}

/* The layers root, and the dirs of the policy's layers (resolved once: the helper imports them). */
static psb_status find_layers(psb_sandbox *sb, const psb_config *config, psb_error *err) {
    char root[PSB__LAYERS_ROOT_MAX];
    const json_t *names = json_object_get(sb->policy.doc, "layers");
    psb_error tmp = {0};
    if (psb__layers_root(config->layers_dir, root, sizeof root, &tmp) != PSB_OK)
        return json_array_size(names) ? psb__err(err, tmp.code, "%s", tmp.message) : PSB_OK;
    if (!(sb->layers_dir = strdup(root)) || !(sb->sites = json_array()))
        return psb__err(err, PSB_ENOMEM, "out of memory");
    return psb__sites_add(root, names, sb->sites, err);
}

psb_status psb__sandbox_sites(const psb_sandbox *sb, const psb_exec_options *options,
                              json_t **ret_sites, psb_error *err) {
    *ret_sites = NULL;
    if (!options || !json_array_size(options->layers))
        return PSB_OK;
    if (!sb->layers_dir)
        return psb__err(err, PSB_EINVAL,
                        "module layers named, but the sandbox has no layers dir (set one: "
                        "psb_config_set_layers_dir, $PYSANDBOX_LAYERS, or $HOME)");
    json_t *sites = json_deep_copy(sb->sites);
    psb_status st = sites ? psb__sites_add(sb->layers_dir, options->layers, sites, err)
                          : psb__err(err, PSB_ENOMEM, "out of memory");
    if (st)
        json_decref(sites);
    else
        *ret_sites = sites;
    return st;
}

psb_status psb_sandbox_new(const psb_config *config, psb_sandbox **ret_sandbox, psb_error *err) {
    if (!config || !ret_sandbox)
        return psb__err(err, PSB_EINVAL, "psb_sandbox_new: NULL argument");
    psb_sandbox *sb = calloc(1, sizeof *sb);
    if (!sb)
        return psb__err(err, PSB_ENOMEM, "out of memory");
    sb->helper_pid = -1;
    sb->ctl_fd = -1;
    sb->max_concurrency = config->max_concurrency;
    sb->mode = config->mode;
    sb->test_layers = config->test_layers;
    sb->wait_warm = config->wait_warm;
    if (psb__cache_dir(config->cache_dir, sb->cache_dir, sizeof sb->cache_dir) != 0)
        sb->cache_dir[0] = '\0'; /* each helper builds its own font list */
    psb_status st = psb__policy_copy(&config->policy, &sb->policy, err);
    if (st) {
        free(sb);
        return st;
    }
    pthread_mutex_init(&sb->lock, NULL);
    pthread_cond_init(&sb->slot_free, NULL);
    st = find_helper(config, &sb->helper_path, err);
    if (!st)
        st = helper_trusted(sb->helper_path, err);
    if (!st && config->preload && !(sb->preload = strdup(config->preload)))
        st = psb__err(err, PSB_ENOMEM, "out of memory");
    if (!st && config->python && !(sb->python = strdup(config->python)))
        st = psb__err(err, PSB_ENOMEM, "out of memory");
    if (!st)
        st = find_layers(sb, config, err);
    if (!st)
        st = start_helper(sb, err);
    if (st) {
        psb_sandbox_free(sb);
        return st;
    }
    *ret_sandbox = sb;
    return PSB_OK;
}

void psb_sandbox_free(psb_sandbox *sb) {
    if (!sb)
        return;
    pthread_mutex_lock(&sb->lock);
    stop_helper(sb, 3000);
    pthread_mutex_unlock(&sb->lock);
    pthread_mutex_destroy(&sb->lock);
    pthread_cond_destroy(&sb->slot_free);
    psb__policy_clear(&sb->policy);
    free(sb->helper_path);
    free(sb->preload);
    free(sb->layers_dir);
    free(sb->python);
    json_decref(sb->sites);
    free(sb);
}

/* true if the helper process is still running. Caller holds the lock. */
static bool helper_alive(psb_sandbox *sb) {
    if (sb->helper_pid <= 0)
        return false;
    pid_t r = waitpid(sb->helper_pid, NULL, WNOHANG);
    if (r == 0)
        return true;
    if (r < 0 && errno != ECHILD)
        return true;
    /* ECHILD: the host ignores SIGCHLD or reaped it itself; ask the kernel. */
    if (r < 0 && kill(sb->helper_pid, 0) == 0)
        return true;
    sb->helper_pid = -1; /* gone */
    return false;
}

/* Hands one end of a fresh socket to the helper, restarting it if needed. */
psb_status psb__sandbox_open_channel(psb_sandbox *sb, int *ret_fd, pid_t *ret_helper,
                                     psb_error *err) {
    int sv[2];
    psb_status st = PSB_OK;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
        return psb__err_sys(err, errno, "socketpair");
    pthread_mutex_lock(&sb->lock);
    for (int attempt = 0;; attempt++) {
        if (!helper_alive(sb) || sb->ctl_fd < 0) {
            stop_helper(sb, 100);
            st = start_helper(sb, err);
            if (st)
                break;
        }
        if (psb__send_fd(sb->ctl_fd, sv[1]) == 0) {
            *ret_helper = sb->helper_pid;
            break;
        }
        if (attempt == 1) {
            st = psb__err_sys(err, errno, "cannot reach the helper");
            break;
        }
        stop_helper(sb, 100); /* dead or wedged: start a new one */
    }
    pthread_mutex_unlock(&sb->lock);
    close(sv[1]);
    if (st) {
        close(sv[0]);
        return st;
    }
    *ret_fd = sv[0];
    return PSB_OK;
}

/*
 * Waits for a free slot and takes it: true. false, without a slot, when the
 * token fires first (a token cannot signal the condvar, so a caller that
 * has one looks at it every CANCEL_CHECK_MS while it waits).
 */
bool psb__sandbox_acquire(psb_sandbox *sb, const psb_cancel *cancel) {
    bool got = false;
    pthread_mutex_lock(&sb->lock);
    while (!(got = sb->running < sb->max_concurrency) && !psb_cancel_fired(cancel)) {
        if (!cancel) {
            pthread_cond_wait(&sb->slot_free, &sb->lock);
            continue;
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += CANCEL_CHECK_MS * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&sb->slot_free, &sb->lock, &ts);
    }
    if (got)
        sb->running++;
    pthread_mutex_unlock(&sb->lock);
    return got;
}

void psb__sandbox_release(psb_sandbox *sb) {
    pthread_mutex_lock(&sb->lock);
    sb->running--;
    pthread_cond_signal(&sb->slot_free);
    pthread_mutex_unlock(&sb->lock);
}

/* The outcome of an execution whose helper went away: kind internal. */
static psb_status helper_lost_outcome(psb_outcome **ret, psb_error *err) {
    *ret = psb__outcome_error(PSB_KIND_INTERNAL,
                              "the sandbox helper process died during the execution; the next "
                              "execution starts a new one");
    return *ret ? PSB_OK : psb__err(err, PSB_ENOMEM, "out of memory");
}

void psb__sandbox_helper_lost(psb_sandbox *sb, pid_t helper) {
    pthread_mutex_lock(&sb->lock);
    if (sb->helper_pid == helper) /* not one started meanwhile */
        stop_helper(sb, 100);
    pthread_mutex_unlock(&sb->lock);
}

bool psb__sandbox_external(const psb_sandbox *sb) {
    return sb->python != NULL;
}

const json_t *psb__sandbox_own_sites(const psb_sandbox *sb) {
    return sb->sites;
}

const psb__policy *psb__sandbox_policy(const psb_sandbox *sb) {
    return &sb->policy;
}

psb_status psb_exec(psb_sandbox *sb, const char *code, size_t len, const psb_exec_options *options,
                    psb_outcome **ret_outcome, psb_error *err) {
    if (!sb || !ret_outcome)
        return psb__err(err, PSB_EINVAL, "psb_exec: NULL argument");
    psb_status st = PSB_OK;
    char *text = NULL;
    int fd = -1;
    psb__limits limits;
    json_t *sites = NULL;
    if (sb->python && options && options->on_input)
        return psb__err(err, PSB_EUNSUPPORTED,
                        "an input callback needs the embedded interpreter (this sandbox runs %s; "
                        "input() reads stdin there)",
                        sb->python);
    if ((st = psb__sandbox_sites(sb, options, &sites, err)))
        return st;
    json_t *req = psb__request_build(&sb->policy, options, sites ? sites : sb->sites, code, len,
                                     &limits, err);
    json_decref(sites);
    if (!req)
        return err && err->code ? err->code : PSB_EINVAL;
    text = json_dumps(req, JSON_COMPACT);
    if (!text) {
        json_decref(req);
        return psb__err(err, PSB_ENOMEM, "out of memory");
    }

    const psb_cancel *cancel = options ? options->cancel : NULL;
    bool slot = !psb_cancel_fired(cancel) && psb__sandbox_acquire(sb, cancel);
    if (!slot) {
        /* Cancelled before it ran: nothing was forked. */
        *ret_outcome = psb__outcome_error(PSB_KIND_CANCELLED, "the execution was cancelled");
        st = *ret_outcome ? PSB_OK : psb__err(err, PSB_ENOMEM, "out of memory");
        goto out;
    }
    pid_t used_helper = -1;
    st = psb__sandbox_open_channel(sb, &fd, &used_helper, err);
    if (st)
        goto out;
    psb_error run_err = {0};
    st = psb__exec_run(fd, PSB__TAG_EXEC, req, text, options, &limits, ret_outcome, NULL, &run_err);
    if (st == PSB_EHELPER) {
        /*
         * The helper died (or hung) with this execution in flight: that is the
         * execution's outcome, kind internal. It is stopped here, so the next
         * psb_exec() starts a new one: its control socket may outlive it for a
         * while (a spare forked just before, still waiting for the CPU as
         * SCHED_IDLE, holds a copy until it runs), and a socket sent there
         * would be lost with it.
         */
        psb__sandbox_helper_lost(sb, used_helper);
        st = helper_lost_outcome(ret_outcome, err);
    } else if (st != PSB_OK && err && err->code == PSB_OK) {
        *err = run_err;
    }
out:
    if (fd >= 0)
        close(fd);
    if (slot)
        psb__sandbox_release(sb);
    json_decref(req);
    free(text);
    return st;
}
