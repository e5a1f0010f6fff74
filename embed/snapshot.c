/*
 * embed/snapshot.c - a session's snapshots, inside its processes. A
 * snapshot is a fork of the session's process, frozen in this file's loop
 * with a copy of the working directory beside it; restoring or branching
 * forks it again. Every fork here is two (the one between exits at once),
 * so the new process is adopted by the helper, a child subreaper, which
 * can then reap it; the seccomp filter lets only the forks the helper asked
 * for through. Everything here runs confined, as the session does.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "embed/embed.h"

/* The process that must adopt what we fork (the helper or the zygote). */
static pid_t adopter;

void psb__snapshot_init(pid_t parent) {
    adopter = parent;
}

/* A directory name the helper gave: "work-N" or "snap-N". */
static bool dir_name_valid(const char *s) {
    const char *dash = strchr(s, '-');
    if (!dash || (strncmp(s, "work-", 5) != 0 && strncmp(s, "snap-", 5) != 0) || !dash[1])
        return false;
    for (const char *p = dash + 1; *p; p++)
        if (*p < '0' || *p > '9')
            return false;
    return strlen(s) < 32;
}

/* ---- directory trees (nftw has no user pointer) ---- */

static struct {
    size_t from_len; /* the source's length, to make paths relative */
    const char *to;  /* the destination root */
    int failed;      /* errno of the first failure */
} copying;

static int copy_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)ftw;
    char dst[4096];
    const char *rel = path + copying.from_len;
    if (snprintf(dst, sizeof dst, "%s%s", copying.to, rel) >= (int)sizeof dst) {
        copying.failed = ENAMETOOLONG;
        return 1;
    }
    if (flag == FTW_D) {
        if (*rel && mkdir(dst, 0700) != 0 && errno != EEXIST) {
            copying.failed = errno;
            return 1;
        }
        return 0;
    }
    if (flag != FTW_F || !S_ISREG(st->st_mode))
        return 0; /* links and special files are not copied (nor returned as files) */
    int in = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    int out = in >= 0 ? open(dst, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                             st->st_mode & 0777)
                      : -1;
    ssize_t n = 0;
    while (out >= 0 && (n = copy_file_range(in, NULL, out, NULL, 1u << 30, 0)) > 0) {
    }
    if (in < 0 || out < 0 || n < 0)
        copying.failed = errno ? errno : EIO;
    if (in >= 0)
        close(in);
    if (out >= 0)
        close(out);
    return copying.failed ? 1 : 0;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st;
    if (ftw->level == 0)
        return 0; /* the root stays */
    if (flag == FTW_DP)
        rmdir(path);
    else
        unlink(path);
    return 0;
}

/* Empties dir (it stays). */
static void tree_clear(const char *dir) {
    nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

/* Copies the tree below from into to (made if missing). 0, or -1 with errno. */
static int tree_copy(const char *from, const char *to) {
    if (mkdir(to, 0700) != 0 && errno != EEXIST)
        return -1;
    copying.from_len = strlen(from);
    copying.to = to;
    copying.failed = 0;
    nftw(from, copy_entry, 16, FTW_PHYS | FTW_MOUNT);
    copying.to = NULL; /* the caller's buffer */
    errno = copying.failed;
    return copying.failed ? -1 : 0;
}

/* ---- forks ---- */

/*
 * Forks a process that the adopter will reap: 0 in it (adopted, in a
 * process group of its own, dying with the adopter), 1 in the caller,
 * -1 when a fork was refused.
 */
static int fork_adopted(void) {
    pid_t mid = fork();
    if (mid == 0) {
        pid_t pid = fork();
        if (pid != 0)
            _exit(pid < 0 ? 1 : 0); /* the one between: gone, so the adopter takes over */
        psb__interp_forked_child();
        struct timespec pause = {.tv_sec = 0, .tv_nsec = 100000};
        for (int i = 0; getppid() != adopter && i < 20000; i++)
            nanosleep(&pause, NULL);
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != adopter || setpgid(0, 0) != 0)
            _exit(PSB__CHILD_SETUP_FAILED);
        return 0;
    }
    if (mid < 0)
        return -1;
    int status = 0;
    while (wait4(mid, &status, 0, NULL) < 0 && errno == EINTR) {
    }
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 1 : -1;
}

/* Tells the helper who we are: one byte with our pid, which the kernel vouches for. */
static int hello(int sock) {
    char byte = 'H';
    struct iovec iov = {.iov_base = &byte, .iov_len = 1};
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(struct ucred))];
    } cm;
    memset(&cm, 0, sizeof cm);
    struct msghdr msg = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cm.buf, .msg_controllen = sizeof cm.buf};
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_CREDENTIALS;
    c->cmsg_len = CMSG_LEN(sizeof(struct ucred));
    struct ucred cred = {.pid = getpid(), .uid = getuid(), .gid = getgid()};
    memcpy(CMSG_DATA(c), &cred, sizeof cred);
    return sendmsg(sock, &msg, MSG_NOSIGNAL) == 1 ? 0 : -1;
}

/* The name in a frame {"dir": NAME} that follows a command on sock, into name. 0 or -1. */
static int read_dir(int sock, char *name, size_t size) {
    uint32_t type;
    psb__buf text = {0};
    int rc = -1;
    uint64_t deadline = psb__now_ns() + 5000000000ull;
    if (psb__frame_read(sock, &type, &text, deadline, 4096) == 0 && type == PSB__FRAME_OP) {
        json_t *doc = json_loadb(text.data, text.len, 0, NULL);
        const char *dir = json_string_value(json_object_get(doc, "dir"));
        if (dir && dir_name_valid(dir) && snprintf(name, size, "%s", dir) < (int)size)
            rc = 0;
        json_decref(doc);
    }
    psb__buf_free(&text);
    return rc;
}

/*
 * A snapshot: waits for the helper's commands. 'F' with a socket: fork a
 * live session from here into the directory named next (its files a copy
 * of ours); returns that socket in the new process. 'X' or EOF: our copy
 * of the files goes, and so do we.
 */
static int snapshot_wait(int sock, const char *root, const char *own) {
    char own_path[4200], dir[32], path[4200];
    snprintf(own_path, sizeof own_path, "%s/%s", root, own);
    if (hello(sock) != 0)
        _exit(0);
    for (;;) {
        int fd = -1;
        size_t n = 0;
        char tag = 0;
        psb__interp_unlock();
        int r = psb__recv_fds_any(sock, &fd, 1, &n, &tag, 0);
        psb__interp_lock();
        if (r != 0 || tag == 'X') {
            if (n)
                close(fd);
            tree_clear(own_path);
            rmdir(own_path);
            _exit(0);
        }
        if (tag != 'F' || n != 1 || read_dir(sock, dir, sizeof dir) != 0) {
            if (n)
                close(fd);
            continue; /* not a command for us */
        }
        snprintf(path, sizeof path, "%s/%s", root, dir);
        int forked = fork_adopted();
        if (forked == 0) {
            close(sock);
            /* The live session's files are the snapshot's, in its own directory. */
            if (mkdir(path, 0700) != 0 && errno != EEXIST)
                _exit(PSB__CHILD_SETUP_FAILED);
            tree_clear(path);
            if (tree_copy(own_path, path) != 0 || chdir(path) != 0 || hello(fd) != 0)
                _exit(PSB__CHILD_SETUP_FAILED);
            return fd;
        }
        close(fd);
    }
}

int psb__snapshot_take(int ctl, int sock, const char *root, const char *workdir, char *ret_dir,
                       size_t dir_size) {
    char dir[32], path[4200];
    if (read_dir(ctl, dir, sizeof dir) != 0)
        return -1;
    snprintf(path, sizeof path, "%s/%s", root, dir);
    /* The files as they are now, beside the live ones (and counted in the same quota). */
    if (tree_copy(workdir, path) != 0) {
        tree_clear(path);
        rmdir(path);
        return -1;
    }
    int forked = fork_adopted();
    if (forked == 0) {
        close(ctl);
        int live = snapshot_wait(sock, root, dir);
        /* A live session again, forked from the snapshot: its dir is where we are. */
        if (!getcwd(ret_dir, dir_size))
            _exit(PSB__CHILD_SETUP_FAILED);
        return live;
    }
    if (forked < 0) {
        tree_clear(path);
        rmdir(path);
    }
    return -1; /* the caller goes on as it was */
}
