/*
 * embed/snapops.c - a session's snapshots, restores and branches, in the
 * helper: it tells a session's process to fork, allows exactly the two
 * forks that takes (the processes' seccomp filter asks the helper about
 * every fork), adopts the result (the helper is a child subreaper) once it
 * proves who it is with credentials the kernel checks, and stops whatever
 * else those forks made. Control information only: directory names and
 * pids, never a byte of what the session holds.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "embed/embed.h"

/* How long an operation may take: a fork, and copying the working directory. */
#define OP_TIMEOUT_NS (30ull * 1000000000ull)

/* ---- snapshots ---- */

void psb__snap_free(struct psb__lineage *l, struct psb__snap *s) {
    psb__kill_reap(s->pid);
    psb__close_fd(&s->pidfd);
    psb__close_fd(&s->sock);
    if (l && s->dir[0]) {
        char path[4200];
        snprintf(path, sizeof path, "%s/%s", l->root, s->dir);
        psb__remove_tree(path); /* its copy of the files */
        l->snapshots--;
    }
    free(s);
}

static struct psb__snap *snap_find(const psb__job *job, unsigned id) {
    struct psb__snap *s = job->snaps;
    while (s && s->id != id)
        s = s->next;
    return s;
}

bool psb__job_owns(const psb__job *job, pid_t pid) {
    if (job->v.pid == pid || (job->created && psb__job_owns(job->created, pid)))
        return true;
    for (const struct psb__snap *s = job->session ? job->snaps : NULL; s; s = s->next)
        if (s->pid == pid)
            return true;
    return false;
}

/* ---- approving forks ---- */

/* Whether the fork n asks for is one of the two the lineage expects now. */
static bool fork_expected(struct psb__lineage *l, const struct psb__notification *n) {
    /* A plain fork (glibc's flags), nothing shared, no signal but SIGCHLD. */
    const uint64_t plain = CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID | SIGCHLD;
    if (l->forks_left <= 0 || (n->arg0 & ~plain) != 0 || (n->arg0 & 0xff) != SIGCHLD)
        return false;
    if (!l->first_done)
        return n->pid == l->fork_from; /* the process asked, from its main thread */
    /* Then the one it forked: single-threaded, its child. */
    return psb__status_field(n->pid, "Tgid:") == n->pid &&
           psb__status_field(n->pid, "Threads:") == 1 &&
           psb__status_field(n->pid, "PPid:") == l->fork_from;
}

void psb__answer_fork(struct psb__lineage *l) {
    struct psb__notification n;
    if (psb__notify_recv(l->notify_fd, &n) != 0) {
        if (errno != ENOENT && errno != EINTR && errno != EAGAIN)
            psb__close_fd(&l->notify_fd); /* broken: never poll it again */
        return;
    }
    bool allow = fork_expected(l, &n);
    /* The task may have died and its id been reused since: then the answer is void. */
    if (allow && !psb__notify_valid(l->notify_fd, n.id))
        allow = false;
    if (allow) {
        l->first_done = true;
        l->forks_left--;
    }
    (void)psb__notify_answer(l->notify_fd, n.id, allow);
}

static void allow_forks(struct psb__lineage *l, pid_t from) {
    l->fork_from = from;
    l->forks_left = 2;
    l->first_done = false;
}

/* ---- the library's side of an operation ---- */

static void op_answer(psb__job *job, json_t *doc) {
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    if (!text || psb__frame_write(job->sock, PSB__FRAME_OP, text, strlen(text)) != 0) {
        job->abandoned = true;
        psb__job_kill(job);
    }
    free(text);
    json_decref(doc);
}

/*
 * {"error": message, "code"}: "invalid" (asked for what cannot be: no such
 * snapshot, past the limit), "failed" (the session goes on as it was) or
 * "lost" (the session's process is gone).
 */
enum { INVALID, FAILED, LOST };
static void op_error(psb__job *job, int code, const char *message) {
    static const char *const codes[] = {"invalid", "failed", "lost"};
    op_answer(job, json_pack("{s:s,s:s}", "error", message, "code", codes[code]));
}

/* A command to one of the session's processes: tag, one fd, then {"dir": NAME}. 0 or -1. */
static int command(int sock, char tag, int fd, const char *dir) {
    char text[64];
    snprintf(text, sizeof text, "{\"dir\":\"%s\"}", dir);
    if (psb__send_fds_tagged(sock, tag, &fd, 1) != 0)
        return -1;
    return psb__frame_write(sock, PSB__FRAME_OP, text, strlen(text));
}

/*
 * Starts the fork of from (a live process or a snapshot): a socket for the
 * hello of what it forks, the command, the approval of its two forks.
 */
static int op_fork(psb__job *job, int to, pid_t from, char tag, int kind, const char *dir) {
    int sp[2];
    int on = 1;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) != 0)
        return -1;
    /* Credentials the kernel checks: who says hello is who it says. */
    if (setsockopt(sp[0], SOL_SOCKET, SO_PASSCRED, &on, sizeof on) != 0 ||
        command(to, tag, sp[1], dir) != 0) {
        close(sp[0]);
        close(sp[1]);
        return -1;
    }
    close(sp[1]);
    allow_forks(job->lineage, from);
    job->op.kind = kind;
    job->op.sock = sp[0];
    job->op.deadline_ns = psb__now_ns() + OP_TIMEOUT_NS;
    snprintf(job->op.dir, sizeof job->op.dir, "%s", dir);
    return 0;
}

/* The pid in a hello on sock (SCM_CREDENTIALS), or -1 (EOF, nothing, a bad message). */
static pid_t read_hello(int sock) {
    char byte = 0;
    struct iovec iov = {.iov_base = &byte, .iov_len = 1};
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(sizeof(int) * 4)];
    } cm;
    struct msghdr msg = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cm.buf, .msg_controllen = sizeof cm.buf};
    errno = 0;
    ssize_t n = recvmsg(sock, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (n == 0)
        errno = ECONNRESET; /* the process that was to fork gave up: not "not yet" */
    pid_t pid = -1;
    for (struct cmsghdr *c = n == 1 ? CMSG_FIRSTHDR(&msg) : NULL; c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS) {
            struct ucred cred;
            memcpy(&cred, CMSG_DATA(c), sizeof cred);
            pid = cred.pid;
        } else if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
            int fd; /* nothing is expected: closed */
            for (size_t i = 0; i < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++) {
                memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
                close(fd);
            }
        }
    }
    return byte == 'H' ? pid : -1;
}

/*
 * The helper's children that nothing holds: made by the forks just allowed
 * (code with native access may have forked itself in their place), they
 * are stopped. known() tells the loop's own children.
 */
static bool (*known_child)(pid_t pid);

void psb__session_set_known(bool (*known)(pid_t pid)) {
    known_child = known;
}

static void sweep(void) {
    char path[64], buf[8192];
    snprintf(path, sizeof path, "/proc/%d/task/%d/children", (int)getpid(), (int)getpid());
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
    if (fd >= 0)
        close(fd);
    if (n <= 0 || !known_child)
        return;
    buf[n] = '\0';
    for (char *p = buf, *end; *p; p = end) {
        long pid = strtol(p, &end, 10);
        if (end == p)
            break;
        if (pid > 0 && !known_child((pid_t)pid))
            psb__kill_reap((pid_t)pid);
    }
}

/*
 * The same for the session's cgroup, which holds every process its forks
 * made whoever their parent is (a fork from inside the process that forked
 * stays its child, not ours): what is in it but neither its live process
 * nor one of its snapshots is stopped.
 */
static void sweep_cgroup(const psb__job *job) {
    pid_t pids[512];
    size_t n = psb__cgroup_procs(&job->v.cg, pids, sizeof pids / sizeof pids[0]);
    for (size_t i = 0; i < n; i++)
        if (!psb__job_owns(job, pids[i]))
            kill(pids[i], SIGKILL);
}

/* The operation is over (done or failed): no more forks, strays stopped. */
void psb__op_end(psb__job *job) {
    job->lineage->forks_left = 0;
    psb__close_fd(&job->op.sock);
    psb__close_fd(&job->op.library_fd);
    job->op.kind = PSB__OP_NONE;
    job->op.from = NULL;
    sweep();
    sweep_cgroup(job);
}

/* The live process the session runs in is now pid, its control socket ctl. */
void psb__adopt_live(psb__job *job, pid_t pid, int ctl) {
    int off = 0;
    (void)setsockopt(ctl, SOL_SOCKET, SO_PASSCRED, &off, sizeof off);
    fcntl(ctl, F_SETFL, O_NONBLOCK);
    job->v.pid = pid;
    job->v.pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    job->child_ctl = ctl;
    job->in_cell = false;
    job->idle_ns = psb__now_ns() + job->idle_limit_ns;
    job->cell_cpu_ms = psb__process_cpu_ms(pid);
}

/* A branch: a new session job for the library's socket, its process pid. NULL on failure. */
static psb__job *branch_job(psb__job *from, int library_fd, pid_t pid, int ctl) {
    psb__job *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    b->sock = library_fd;
    b->limits = from->limits;
    b->v.pid = -1;
    b->v.pidfd = b->v.ctl = -1;
    b->child_ctl = -1;
    b->session = true;
    b->lineage = from->lineage;
    b->lineage->refs++;
    b->op = (struct psb__op){.sock = -1, .library_fd = -1};
    snprintf(b->work, sizeof b->work, "%s", from->op.dir);
    b->start_ns = psb__now_ns();
    b->end_ns = b->start_ns + b->limits.v[PSB__LIMIT_SESSION_LIFETIME_S] * 1000000000ull;
    b->idle_limit_ns = from->idle_limit_ns;
    /* Cgroups of its own, with the session's limits, before it runs a cell. */
    if (psb__cgroup_attach(pid, &b->v.cg) & (1u << PSB__CG_PIDS))
        (void)psb__cgroup_set_pids_max(&b->v.cg, b->limits.v[PSB__LIMIT_THREADS]);
    (void)psb__cgroup_set_memory_max(&b->v.cg, b->limits.v[PSB__LIMIT_MEMORY_MIB] << 20);
    fcntl(library_fd, F_SETFL, O_NONBLOCK);
    psb__adopt_live(b, pid, ctl);
    return b;
}

/* The forked process said hello (or the operation failed): finish it. */
void psb__op_progress(psb__job *job, uint64_t now) {
    struct psb__op *op = &job->op;
    pid_t pid = read_hello(op->sock);
    if (pid < 0 && now < op->deadline_ns && errno == EAGAIN)
        return;
    bool lost = op->kind == PSB__OP_RESTORE; /* the old process is gone already */
    if (pid < 0 || !psb__our_child(pid)) {
        op_error(job, lost ? LOST : FAILED, "the session's process did not fork");
        psb__op_end(job);
        if (lost)
            psb__job_kill(job);
        return;
    }
    if (op->kind == PSB__OP_SNAPSHOT) {
        struct psb__snap *s = calloc(1, sizeof *s);
        static unsigned ids;
        if (!s) {
            psb__kill_reap(pid);
            op_error(job, FAILED, "out of memory");
            psb__op_end(job);
            return;
        }
        *s = (struct psb__snap){.id = ++ids, .pid = pid, .sock = op->sock, .next = job->snaps};
        s->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
        snprintf(s->dir, sizeof s->dir, "%s", op->dir);
        op->sock = -1; /* the snapshot's now */
        job->snaps = s;
        job->lineage->snapshots++;
        op_answer(job, json_pack("{s:I}", "snapshot", (json_int_t)s->id));
    } else if (op->kind == PSB__OP_RESTORE) {
        psb__adopt_live(job, pid, op->sock);
        op->sock = -1;
        op_answer(job, json_pack("{s:b}", "ok", 1));
    } else {
        psb__job *b = branch_job(job, op->library_fd, pid, op->sock);
        if (!b) {
            psb__kill_reap(pid);
            op_error(job, FAILED, "out of memory");
            psb__op_end(job);
            return;
        }
        op->library_fd = op->sock = -1;
        job->created = b;
        op_answer(job, json_pack("{s:b}", "ok", 1));
    }
    psb__op_end(job);
}

/* An operation the library asks for between cells. */
static void op_start(psb__job *job, const json_t *doc, int fd) {
    const char *name = json_string_value(json_object_get(doc, "op"));
    json_int_t id = json_integer_value(json_object_get(doc, "snapshot"));
    struct psb__lineage *l = job->lineage;
    struct psb__snap *s = id > 0 ? snap_find(job, (unsigned)id) : NULL;
    char dir[32];
    job->op.library_fd = fd;
    if (!name) {
        op_error(job, INVALID, "malformed operation");
    } else if ((psb__helper.layers & PSB_LAYER_SECCOMP) && l->notify_fd < 0) {
        op_error(job, INVALID,
                 "snapshots need seccomp user notification (Linux 5.5), which the sandbox's "
                 "processes do not have here");
    } else if (l->forks_left > 0) {
        op_error(job, FAILED, "another operation of this session's lineage is under way");
    } else if (strcmp(name, "snapshot") == 0) {
        if (l->snapshots >= job->limits.v[PSB__LIMIT_SNAPSHOTS]) {
            char msg[128];
            snprintf(msg, sizeof msg, "the session already keeps %llu snapshots, its limit",
                     (unsigned long long)job->limits.v[PSB__LIMIT_SNAPSHOTS]);
            op_error(job, INVALID, msg);
        } else {
            snprintf(dir, sizeof dir, "snap-%u", l->names++);
            if (op_fork(job, job->child_ctl, job->v.pid, PSB__TO_SNAPSHOT, PSB__OP_SNAPSHOT, dir) !=
                0)
                op_error(job, FAILED, "the session's process did not take the request");
            else
                return;
        }
    } else if (!s) {
        op_error(job, INVALID, "no such snapshot of this session");
    } else if (!psb__our_child(s->pid)) {
        op_error(job, FAILED, "the snapshot's process is gone");
    } else if (strcmp(name, "drop") == 0) {
        struct psb__snap **p = &job->snaps;
        while (*p != s)
            p = &(*p)->next;
        *p = s->next;
        psb__snap_free(l, s);
        op_answer(job, json_pack("{s:b}", "ok", 1));
    } else if (strcmp(name, "restore") == 0) {
        /* The current process is discarded first: its directory is the new one's. */
        psb__kill_reap(job->v.pid);
        job->v.pid = -1;
        psb__close_fd(&job->v.pidfd);
        psb__close_fd(&job->child_ctl);
        if (op_fork(job, s->sock, s->pid, PSB__TO_FORK, PSB__OP_RESTORE, job->work) == 0)
            return;
        op_error(job, LOST, "the snapshot did not take the request");
        job->exited = true; /* nothing runs: the session is over */
    } else if (strcmp(name, "branch") == 0 && fd >= 0) {
        snprintf(dir, sizeof dir, "work-%u", l->names++);
        if (op_fork(job, s->sock, s->pid, PSB__TO_FORK, PSB__OP_BRANCH, dir) == 0)
            return;
        op_error(job, FAILED, "the snapshot did not take the request");
    } else {
        op_error(job, INVALID, "unknown operation");
    }
    psb__close_fd(&job->op.library_fd);
}

/* The OP frame after a PSB__TAG_OP byte (fd: a branch's socket, or -1). */
void psb__op_read(psb__job *job, int fd, uint64_t now) {
    uint32_t type;
    psb__buf text = {0};
    json_t *doc = NULL;
    if (psb__frame_read(job->sock, &type, &text, now + 10000000000ull, 4096) != 0 ||
        type != PSB__FRAME_OP || !(doc = json_loadb(text.data, text.len, 0, NULL))) {
        psb__close_fd(&fd);
        job->abandoned = true; /* the library broke the protocol */
        psb__job_kill(job);
    } else {
        op_start(job, doc, fd);
    }
    json_decref(doc);
    psb__buf_free(&text);
}
