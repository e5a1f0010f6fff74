/*
 * embed/vessel.c - children forked before their request: each gets its
 * control socket, scratch tmpfs and cgroups, prepares and confines itself,
 * and waits for its channels. Two spares are kept ready so the fork (~2 ms
 * of page-table copying for a warm helper) stays off the critical path.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "embed/embed.h"

static void close_fd(int *fd) {
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st;
    (void)ftw;
    if (flag == FTW_DP)
        rmdir(path);
    else
        unlink(path);
    return 0;
}

static int open_dirs(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)ftw;
    if (flag == FTW_D || flag == FTW_DNR)
        chmod(path, (st->st_mode & 07777) | 0700);
    return 0;
}

/* Removes a scratch dir whatever the code did to its permissions. */
void psb__remove_tree(const char *dir) {
    if (!dir[0])
        return;
    if (psb__helper.scratch_tmpfs && umount2(dir, MNT_DETACH) == 0) {
        rmdir(dir);
        return;
    }
    nftw(dir, open_dirs, 16, FTW_PHYS | FTW_MOUNT);
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

/*
 * Prepared spare children (pid > 0 when present): two, so that two requests
 * arriving together both find one ready.
 */
#define SPARES 2
static struct psb__vessel spares[SPARES] = {{.pid = -1}, {.pid = -1}};

/*
 * SCHED_IDLE for spares getting ready and for finished children tearing
 * down: on two cores they must never delay the execution that is running
 * or the host thread reading its answer (CFS wakeup preemption among
 * normal tasks can take milliseconds).
 */
void psb__vessel_set_idle(pid_t pid, bool idle) {
    struct sched_param sp = {.sched_priority = 0};
    (void)sched_setscheduler(pid, idle ? SCHED_IDLE : SCHED_OTHER, &sp);
}

/* Mounts (or resizes) the size-capped tmpfs on a scratch dir, or hands the dir over. */
static int prepare_scratch(const char *dir, uint64_t mib, bool remount, char *msg,
                           size_t msg_size) {
    bool drop = (psb__helper.layers & PSB_LAYER_UNPRIVILEGED) && geteuid() == 0;
    if (psb__helper.scratch_tmpfs) {
        char opts[160];
        snprintf(opts, sizeof opts, "size=%lluk,nr_inodes=16384,mode=0700,uid=%u,gid=%u",
                 (unsigned long long)mib * 1024u, drop ? psb__helper.uid : (unsigned)geteuid(),
                 drop ? psb__helper.gid : (unsigned)getegid());
        unsigned long flags = MS_NOSUID | MS_NODEV | MS_NOEXEC | (remount ? MS_REMOUNT : 0);
        if (mount("psb-scratch", dir, "tmpfs", flags, opts) != 0) {
            snprintf(msg, msg_size, "cannot mount the scratch tmpfs: %s", strerror(errno));
            return -1;
        }
    } else if (drop && chown(dir, psb__helper.uid, psb__helper.gid) != 0) {
        snprintf(msg, msg_size, "cannot hand the scratch dir over: %s", strerror(errno));
        return -1;
    }
    return 0;
}

void psb__vessel_discard(struct psb__vessel *v) {
    if (v->pid > 0) {
        kill(v->pid, SIGKILL);
        while (waitpid(v->pid, NULL, 0) < 0 && errno == EINTR) {
        }
    }
    close_fd(&v->pidfd);
    close_fd(&v->ctl);
    psb__remove_tree(v->scratch);
    v->scratch[0] = '\0';
    psb__cgroup_remove(&v->cg);
    json_decref(v->confined_for);
    v->confined_for = NULL;
    v->pid = -1;
}

/* Forks a child that prepares itself and waits for a request. 0, or -1 + msg. */
int psb__vessel_create(struct psb__vessel *v, const char *scratch_root, uint64_t scratch_mib,
                       bool session, const json_t *confine_for, char *msg, size_t msg_size) {
    int ctl[2] = {-1, -1};
    memset(v, 0, sizeof *v);
    v->pid = -1;
    v->pidfd = v->ctl = -1;
    if (snprintf(v->scratch, sizeof v->scratch, "%s/run-XXXXXX", scratch_root) >=
            (int)sizeof v->scratch ||
        !mkdtemp(v->scratch)) {
        v->scratch[0] = '\0';
        snprintf(msg, msg_size, "cannot create the scratch dir: %s", strerror(errno));
        return -1;
    }
    /* A tmpfs of its own caps the disk space an execution can fill. */
    if (prepare_scratch(v->scratch, scratch_mib, false, msg, msg_size) != 0) {
        rmdir(v->scratch);
        v->scratch[0] = '\0';
        return -1;
    }
    v->scratch_mib = scratch_mib;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ctl) != 0)
        goto fail;
    psb__child_spec spec = {.scratch = v->scratch,
                            .session = session,
                            .ctl_fd = ctl[1],
                            .keep_fds = psb__keep_fds,
                            .n_keep_fds = psb__n_keep_fds,
                            .readable_paths = confine_for};
    /*
     * No PyOS_BeforeFork()/PyOS_AfterFork_Parent() here: this process is
     * single-threaded and runs no Python while it serves, so no import lock
     * or at-fork callback has anything to guard, and running them would
     * write to the interpreter's pages (splitting its huge pages, and giving
     * every later fork copy-on-write faults). The child re-initializes with
     * PyOS_AfterFork_Child(), whose callbacks re-create what they need.
     */
    pid_t pid = fork();
    if (pid < 0)
        goto fail;
    if (pid == 0)
        psb__child_main(&spec);
    v->pid = pid;
    /* Its own cgroups, before it can start a thread or touch much memory. */
    unsigned attached = psb__cgroup_attach(pid, &v->cg);
    if ((attached & (1u << PSB__CG_PIDS)) &&
        psb__cgroup_set_pids_max(&v->cg, psb__helper.threads) == 0)
        v->threads = psb__helper.threads;
    /* The last request's memory limit too, so that the next one need not write it. */
    if ((attached & (1u << PSB__CG_MEMORY)) && psb__helper.memory_bytes &&
        psb__cgroup_set_memory_max(&v->cg, psb__helper.memory_bytes) == 0)
        v->memory_bytes = psb__helper.memory_bytes;
    /* A spare prepares itself only when nothing else wants the CPU. */
    psb__vessel_set_idle(pid, true);
    v->confined_for = json_incref((json_t *)(uintptr_t)confine_for);
    v->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    v->ctl = ctl[0];
    close(ctl[1]);
    return 0;
fail:
    snprintf(msg, msg_size, "cannot start the execution child: %s", strerror(errno));
    close_fd(&ctl[0]);
    close_fd(&ctl[1]);
    psb__remove_tree(v->scratch);
    v->scratch[0] = '\0';
    return -1;
}

/* Hands over a ready spare (the oldest); 0, or -1 when none can be taken. */
int psb__vessel_take_spare(struct psb__vessel *v, uint64_t scratch_mib, const json_t *readable) {
    char msg[160];
    for (int i = 0; i < SPARES; i++) {
        struct psb__vessel *sp = &spares[i];
        if (sp->pid <= 0)
            continue;
        if (waitpid(sp->pid, NULL, WNOHANG) != 0) {
            sp->pid = -1; /* reaped: never signal that id again */
            psb__vessel_discard(sp);
            continue;
        }
        if ((sp->confined_for && !json_equal(sp->confined_for, readable)) ||
            (sp->scratch_mib != scratch_mib &&
             prepare_scratch(sp->scratch, scratch_mib, true, msg, sizeof msg) != 0)) {
            psb__vessel_discard(sp); /* unsuitable */
            continue;
        }
        *v = *sp;
        sp->pid = -1;
        sp->confined_for = NULL;
        return 0;
    }
    return -1;
}

void psb__spare_prepare(const char *scratch_root) {
    char msg[160];
    static uint64_t last_failure_ns;
    if (psb__now_ns() - last_failure_ns < 1000000000u)
        return; /* after a failure, try again later, not in a loop */
    for (int i = 0; i < SPARES; i++) {
        if (spares[i].pid > 0)
            continue;
        /* A refill (another spare is ready) forks as SCHED_IDLE: the fork
         * copies the helper's page tables for ~2 ms without yielding, and a
         * host thread woken on this CPU to read an answer should run first.
         * A fork the next request needs keeps normal priority. */
        bool lowered = geteuid() == 0 && psb__spare_have();
        if (lowered)
            psb__vessel_set_idle(0, true);
        if (psb__vessel_create(&spares[i], scratch_root, psb__helper.scratch_mib, false,
                               psb__helper.python ? NULL : psb__helper.readable_paths, msg,
                               sizeof msg)) {
            spares[i].pid = -1;
            last_failure_ns = psb__now_ns();
        }
        if (lowered)
            psb__vessel_set_idle(0, false);
        return; /* one fork per call: the helper has other work */
    }
}

void psb__spare_forget(void) {
    for (int i = 0; i < SPARES; i++) {
        spares[i].pid = -1;
        spares[i].pidfd = spares[i].ctl = -1; /* closed with the parent's other fds */
        spares[i].scratch[0] = '\0';
        spares[i].confined_for = NULL; /* the parent's reference */
        memset(&spares[i].cg, 0, sizeof spares[i].cg);
    }
}

bool psb__spare_is(pid_t pid) {
    for (int i = 0; i < SPARES; i++)
        if (spares[i].pid == pid)
            return true;
    return false;
}

bool psb__spare_have(void) {
    for (int i = 0; i < SPARES; i++)
        if (spares[i].pid > 0)
            return true;
    return false;
}

bool psb__spare_missing(void) {
    for (int i = 0; i < SPARES; i++)
        if (spares[i].pid <= 0)
            return true;
    return false;
}

void psb__spare_drop(void) {
    for (int i = 0; i < SPARES; i++)
        if (spares[i].pid > 0)
            psb__vessel_discard(&spares[i]);
}
