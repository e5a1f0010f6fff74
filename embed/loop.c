/*
 * embed/loop.c - the poll loop of a process that forks execution children
 * (the helper, or its warm zygote): it takes each execution's socket from
 * its control socket and runs it in a child forked here, or, in an early
 * helper whose warm zygote is ready, passes the socket on unread.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "embed/embed.h"

#define MAX_JOBS 1024

/* The executions in flight and the pollfds they watch. */
struct loop {
    int ctl;                                            /* the control socket */
    const char *root;                                   /* the scratch root */
    struct psb__zygote *zygote;                         /* the warm zygote, or NULL */
    psb__job *jobs[MAX_JOBS];                           /* running executions */
    size_t njobs;                                       /* entries in jobs */
    int sigfd;                                          /* SIGCHLD (a child stopped), or -1 */
    struct pollfd fds[3 + MAX_JOBS * PSB__JOB_POLLFDS]; /* ctl, the zygote, SIGCHLD, each job's */
    int first_fd[MAX_JOBS];                             /* where each job's pollfds start */
};

/* true once executions go to the warm zygote: this process forks no more spares. */
static bool passing(const struct loop *l) {
    return l->zygote && l->zygote->ready;
}

/* Fills the pollfds; returns their count and the next deadline in *ret_next. */
static size_t loop_pollfds(struct loop *l, uint64_t now, uint64_t *ret_next) {
    size_t n = 0;
    uint64_t next = 0;
    l->fds[n++] = (struct pollfd){.fd = l->ctl, .events = POLLIN};
    l->fds[n++] = l->zygote ? psb__zygote_pollfd(l->zygote) : (struct pollfd){.fd = -1};
    l->fds[n++] = (struct pollfd){.fd = l->sigfd, .events = POLLIN};
    if (l->zygote)
        next = psb__zygote_deadline(l->zygote);
    /* Without a signalfd, a one-shot child's stop is seen by looking every ms. */
    if (l->sigfd < 0 && l->njobs)
        next = now + 1000000u;
    for (size_t j = 0; j < l->njobs; j++) {
        l->first_fd[j] = (int)n;
        n += (size_t)psb__job_pollfds(l->jobs[j], &l->fds[n]);
        uint64_t d = psb__job_next_deadline(l->jobs[j]);
        if (d && (!next || d < next))
            next = d;
    }
    /* Wake up for a refill that is waiting out its delay. */
    uint64_t refill_at = psb__last_response_ns + PSB__REFILL_DELAY_NS;
    if (!passing(l) && psb__spare_missing() && refill_at > now && (!next || refill_at < next))
        next = refill_at;
    *ret_next = next;
    return n;
}

/* Steps every job, takes the sessions they branched, and finishes those whose child is reaped. */
static void loop_step_jobs(struct loop *l, uint64_t now) {
    size_t stepped = l->njobs;
    for (size_t j = 0; j < stepped; j++) {
        psb__job_step(l->jobs[j], &l->fds[l->first_fd[j]], now);
        psb__job *b = psb__job_take_created(l->jobs[j]);
        if (b && l->njobs < MAX_JOBS)
            l->jobs[l->njobs++] = b;
        else if (b)
            psb__job_finish(b); /* cannot happen: the library caps sessions far below */
    }
    for (size_t j = 0; j < l->njobs;) {
        if (psb__job_done(l->jobs[j])) {
            psb__job_finish(l->jobs[j]);
            l->jobs[j] = l->jobs[--l->njobs];
        } else {
            j++;
        }
    }
}

/*
 * Refills the spares only while no execution waits for its answer (a fork
 * takes the helper ~2 ms it would otherwise spend replying) and not right
 * after an answer; with no spare at all, at once.
 */
static void loop_refill(struct loop *l) {
    bool busy = false;
    if (passing(l))
        return;
    for (size_t j = 0; j < l->njobs; j++)
        busy |= psb__job_running(l->jobs[j]);
    if (!psb__spare_have() ||
        (!busy && psb__now_ns() >= psb__last_response_ns + PSB__REFILL_DELAY_NS))
        psb__spare_prepare(l->root);
}

/* Takes a new execution's socket from ctl. false when the library went away. */
static bool loop_accept(struct loop *l) {
    int fd = -1;
    int r = psb__recv_fd(l->ctl, &fd);
    if (r == 1 || r < 0)
        return false; /* the library closed the sandbox */
    if (r != 0)
        return true;
    if (passing(l) && psb__zygote_pass(l->zygote, fd) == 0)
        return true;
    psb__job *job = NULL;
    if (l->njobs == MAX_JOBS)
        close(fd); /* the library caps concurrency far below this */
    else if (psb__job_start(fd, l->root, &job) == 0 && job)
        l->jobs[l->njobs++] = job;
    /* No spare left: fork one now, while this execution runs. */
    if (l->njobs < 4 && !passing(l) && !psb__spare_have())
        psb__spare_prepare(l->root);
    return true;
}

/* Serves executions until the library closes the control socket. */
static void serve(struct loop *l) {
    bool was_passing = passing(l);
    for (;;) {
        uint64_t now = psb__now_ns(), next;
        size_t n = loop_pollfds(l, now, &next);
        int timeout = -1;
        if (next)
            timeout = next <= now ? 0 : (int)((next - now) / 1000000u + 1);
        int rc = poll(l->fds, n, timeout);
        if (rc < 0 && errno != EINTR)
            return;
        if (rc > 0 && (l->fds[2].revents & POLLIN)) {
            struct signalfd_siginfo si[8];
            while (read(l->sigfd, si, sizeof si) > 0) {
            } /* only a wake-up: each job asks the kernel about its own child */
        }
        loop_step_jobs(l, psb__now_ns());
        if (l->zygote) {
            psb__zygote_step(l->zygote, rc > 0 ? l->fds[1].revents : 0, l->root);
            if (passing(l) && !was_passing)
                psb__spare_drop(); /* from now on the zygote's children run */
            was_passing = passing(l);
        }
        loop_refill(l);
        if (rc > 0 && (l->fds[0].revents & (POLLIN | POLLHUP | POLLERR)) && !loop_accept(l))
            return;
    }
}

/* Kills what still runs, waits for it, and (owner) removes the scratch root and cgroups. */
static void shut_down(struct loop *l, bool owner) {
    psb__spare_drop();
    if (l->zygote)
        psb__zygote_stop(l->zygote, 2000);
    for (size_t j = 0; j < l->njobs; j++)
        psb__job_kill(l->jobs[j]);
    for (size_t j = 0; j < l->njobs; j++) {
        while (!psb__job_done(l->jobs[j])) {
            struct pollfd pf[PSB__JOB_POLLFDS];
            int k = psb__job_pollfds(l->jobs[j], pf);
            (void)poll(pf, (nfds_t)k, 100);
            psb__job_step(l->jobs[j], pf, psb__now_ns());
        }
        psb__job_finish(l->jobs[j]);
    }
    if (owner) {
        psb__remove_tree(l->root);
        psb__cgroup_fini();
    }
}

static struct loop loop; /* large: not on the stack */

/* The children this process may have: what is not one of them is a session's stray fork. */
static bool loop_knows(pid_t pid) {
    if (psb__spare_is(pid) || (loop.zygote && loop.zygote->pid == pid))
        return true;
    for (size_t j = 0; j < loop.njobs; j++)
        if (psb__job_owns(loop.jobs[j], pid))
            return true;
    return false;
}

void psb__serve(int ctl, const char *root, struct psb__zygote *zygote, bool owner) {
    /* A session's snapshots are forked twice and adopted here, so we can reap them. */
    (void)prctl(PR_SET_CHILD_SUBREAPER, 1);
    psb__session_set_known(loop_knows);
    loop.ctl = ctl;
    loop.root = root;
    loop.zygote = zygote;
    loop.njobs = 0;
    /* A one-shot child stops itself once it has replied (psb__child_finish); SIGCHLD says so. */
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    (void)sigprocmask(SIG_BLOCK, &chld, NULL);
    loop.sigfd = signalfd(-1, &chld, SFD_NONBLOCK | SFD_CLOEXEC);
    /* Before the first spare: what every execution of the preloaded interpreter copies. */
    if (psb__helper.start == PSB_START_WARM && !psb__helper.python)
        (void)psb__cow_learn(root);
    serve(&loop);
    shut_down(&loop, owner);
    if (loop.sigfd >= 0)
        close(loop.sigfd);
}
