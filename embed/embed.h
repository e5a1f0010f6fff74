/*
 * embed/embed.h - the helper executable and the children it forks: the
 * helper's job loop, spare children (vessels), the child's set-up, files,
 * reply, and the embedded interpreter.
 */
#ifndef PSB_EMBED_EMBED_H
#define PSB_EMBED_EMBED_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <time.h>

#include <jansson.h>

#include "base/wire.h"
#include "policy/confine/confine.h"
#include "policy/request.h"

/* The child's request and reply channel, a socket to the library (stdin/out/err are 0..2). */
#define PSB__CHILD_RESULT_FD 3
/* Grace between the interrupt at the deadline and the kill. */
#define PSB__INTERRUPT_GRACE_MS 400

typedef struct psb__job psb__job;

/* ---- the helper's side of sessions (session.c) ---- */

/*
 * What a session and the sessions branched from it share: the scratch dir
 * (their working directories and their snapshots' copies side by side, in
 * one quota), the seccomp listener all their processes' forks ask, and the
 * approval of the next forks, which only one operation at a time may hold.
 */
struct psb__lineage {
    char root[4096];    /* the scratch dir */
    unsigned refs;      /* sessions using it */
    unsigned names;     /* numbers the next "work-N" and "snap-N" */
    unsigned snapshots; /* how many exist, against the limit */
    int notify_fd;      /* the seccomp listener, -1 until the first process sent it */
    pid_t fork_from;    /* forks allowed: from this process's main thread... */
    int forks_left;     /* ...then from the one it forked (2, 1, 0) */
    bool first_done;    /* the first of the two was allowed */
};

/* One snapshot: a frozen fork of the session's process, our child. */
struct psb__snap {
    unsigned id;            /* the library's handle */
    pid_t pid;              /* the process; -1 once reaped */
    int pidfd;              /* -1 when none */
    int sock;               /* commands to it */
    char dir[32];           /* "snap-N": its copy of the files */
    struct psb__snap *next; /* the session's list */
};

/* An operation under way between a session's cells. */
struct psb__op {
    int kind;               /* PSB__OP_* below, 0 for none */
    int sock;               /* where the forked process says hello, -1 */
    int library_fd;         /* a branch: the new session's socket from the library, -1 */
    uint64_t deadline_ns;   /* when it has failed */
    struct psb__snap *from; /* restore and branch: the snapshot forked */
    char dir[32];           /* the new process's directory */
};
enum { PSB__OP_NONE, PSB__OP_SNAPSHOT, PSB__OP_RESTORE, PSB__OP_BRANCH };

/* How the helper was started; set once in main(), inherited by every child. */
struct psb__helper_conf {
    unsigned layers;                    /* PSB_LAYER_* bits in force */
    unsigned uid, gid;                  /* what a root helper's children run as */
    bool network;                       /* sockets allowed, no network namespace */
    bool scratch_tmpfs;                 /* scratch dirs are size-capped tmpfs mounts */
    uint64_t scratch_mib;               /* tmpfs size for the next spare (the last request's) */
    json_t *readable_paths;             /* the last request's; spares confine themselves with it */
    json_t *sites;                      /* module layer dirs first on sys.path (--site), or NULL */
    const char *python;                 /* an external interpreter (--python), or NULL */
    json_t *python_read;                /* its libraries and prefixes (readable) */
    json_t *python_exec;                /* it and its ELF loader (executable) */
    json_t *python_probe;               /* what it said: sys.path, prefixes, version */
    psb__seccomp_prog seccomp_external; /* the filter an external interpreter runs under */
    psb__seccomp_prog seccomp_no_exec;  /* and the one its bootstrap stacks on it */
    unsigned cgroups;                   /* 1 << PSB__CG_* for each controller an execution gets */
    uint64_t threads;                   /* pids.max for the next spare (the last request's) */
    uint64_t memory_bytes;              /* memory limit for the next spare (0: at hand-over) */
    psb__seccomp_prog seccomp;          /* compiled once, loaded by every child */
    psb__seccomp_prog seccomp_session;  /* the same, whose forks ask the helper (sessions) */
    const char *cache_dir;              /* the start-up cache (children may read it), or NULL */
    int cache_fd;    /* it, opened on the host's mount before ours went read-only */
    psb_start start; /* what this process's children start from */
};
extern struct psb__helper_conf psb__helper;

/* Shared by job.c and session.c. */
void psb__close_fd(int *fd);
int psb__job_read_control(int sock, uint64_t deadline, psb__limits *ret_limits,
                          json_t **ret_readable, bool *ret_writable, char *msg, size_t msg_size);
bool psb__channels_valid(const int fds[PSB__CHAN_COUNT]);
/* Makes a new session job's lineage (its scratch dir taken from its vessel). 0 or -1. */
int psb__session_begin(psb__job *job);
/* The session's pollfds after the job's own two (fills 3). */
int psb__session_pollfds(const psb__job *job, struct pollfd *fds);
/*
 * A session's own step, before the job's: its child's messages, fork
 * approvals, an operation, the library between cells, idle time and
 * lifetime. true when nothing is left for the job's step this round.
 */
bool psb__session_step(psb__job *job, const struct pollfd *fds, uint64_t now);
/* The next time the session needs attention (0: none beyond the job's). */
uint64_t psb__session_deadline(const psb__job *job);
/* At the end: its snapshots stopped, its lineage let go. */
void psb__session_finish(psb__job *job);
/* What the kernel says of a job's child that is still there (stopped, or between cells). */
void psb__job_live_facts(const psb__job *job, uint64_t now, struct psb__exit *x);
/* A session's CPU time so far (all its threads), ms, from the kernel. */
uint64_t psb__process_cpu_ms(pid_t pid);
/* A numeric field of /proc/PID/status ("PPid:"), or -1. */
long psb__status_field(pid_t pid, const char *key);
/* true if pid is a live child of ours (so we can reap it). */
bool psb__our_child(pid_t pid);
/* Kills and reaps a child of ours. */
void psb__kill_reap(pid_t pid);

/* ---- snapops.c: snapshots, restores and branches, helper side ---- */

/* Stops a snapshot's process, removes its copy of the files, frees it. */
void psb__snap_free(struct psb__lineage *l, struct psb__snap *s);
/* Answers the fork a lineage's process waits on (allowed only when expected). */
void psb__answer_fork(struct psb__lineage *l);
/* The OP frame after a PSB__TAG_OP byte from the library (fd: a branch's socket, or -1). */
void psb__op_read(psb__job *job, int fd, uint64_t now);
/* The forked process said hello, or the operation's time ran out: finish it. */
void psb__op_progress(psb__job *job, uint64_t now);
/* The operation is over (done or failed): no more forks, strays stopped. */
void psb__op_end(psb__job *job);
/* The live process the session runs in is now pid, its control socket ctl. */
void psb__adopt_live(psb__job *job, pid_t pid, int ctl);

/*
 * Takes one execution from sock: the child's three channel ends (passed
 * through, never read) and the CONTROL frame (limits, readable paths: no
 * tenant data), hands the ends to a spare child and starts its clock. On
 * success *ret_job owns sock. When it cannot run the execution it sends a
 * STATUS frame with the error itself and returns 0 with *ret_job NULL.
 * Returns -1 only when sock is unusable (then it is closed).
 */
int psb__job_start(int sock, const char *scratch_root, psb__job **ret_job);
/* Number of pollfds the job watches (fills fds, at most PSB__JOB_POLLFDS). */
#define PSB__JOB_POLLFDS 5
int psb__job_pollfds(const psb__job *job, struct pollfd *fds);
/* Handles poll results for the fds from psb__job_pollfds() and timers. */
void psb__job_step(psb__job *job, const struct pollfd *fds, uint64_t now_ns);
/* A session branched by this job since the last call (the loop adds it), or NULL. */
psb__job *psb__job_take_created(psb__job *job);
/* The next time the job needs attention (CLOCK_MONOTONIC ns), or 0. */
uint64_t psb__job_next_deadline(const psb__job *job);
/* true once the child is reaped. */
bool psb__job_done(const psb__job *job);
/* Sends the STATUS frame (unless the library went away), removes the scratch dir, frees. */
void psb__job_finish(psb__job *job);
/* Kills the job's process group (helper shutdown). */
void psb__job_kill(psb__job *job);

/*
 * What a child is forked with. It prepares what does not depend on a
 * request (Python's fork bookkeeping, or a whole cold interpreter), then
 * waits on ctl_fd for its channels: one byte carrying the request socket
 * and the stdout and stderr pipes. A spare child waits there until an
 * execution needs it; it reads its request from the socket itself.
 */
typedef struct psb__child_spec {
    const char *scratch;          /* the execution's scratch dir (cwd) */
    bool session;                 /* a session's: its forks ask the helper (seccomp listener) */
    int ctl_fd;                   /* the channels arrive here */
    const json_t *readable_paths; /* known: confine fully before the request arrives */
    const int *keep_fds;          /* read-only files a warm interpreter holds open (sorted) */
    size_t n_keep_fds;            /* entries in keep_fds */
} psb__child_spec;

/*
 * The read-only regular files a warm helper's interpreter holds open (font
 * files matplotlib keeps, say), sorted: children keep these fd numbers and
 * close every other inherited fd. Set once by the helper after preloading.
 */
extern int psb__keep_fds[64];
extern size_t psb__n_keep_fds;
/* Records the read-only regular files the interpreter holds open (not ctl) in psb__keep_fds. */
void psb__note_interpreter_fds(int ctl);

/* ---- cache.c: the start-up cache (matplotlib's font list) ---- */

/* The cache dir opened if we own it and nobody else can write it, else -1. */
int psb__cache_open(const char *dir);
/* Copies a trusted cache into matplotlib's config dir before it is imported. */
void psb__cache_seed(int cache_fd, const char *mplconfig);
/* true if psb__cache_seed() found a trusted cache (children may read its font list). */
bool psb__cache_trusted(void);
/*
 * After the preload: if matplotlib rebuilt its font list (no cache, an
 * untrusted or corrupt one), builds a new cache dir from it and renames it
 * into place atomically.
 */
void psb__cache_publish(int cache_fd, const char *mplconfig);

/* ---- loop.c: the poll loop of a forking process ---- */

struct psb__zygote;
/*
 * Serves executions arriving on ctl until it reaches EOF: runs them in
 * children forked here, or passes their sockets on to zygote once it is
 * ready (zygote NULL: always here). Then kills what still runs; `owner`
 * also removes the scratch root and the cgroups.
 */
void psb__serve(int ctl, const char *root, struct psb__zygote *zygote, bool owner);

/* ---- zygote.c: the warm zygote, forked by an early helper ---- */

/* The warm zygote as the helper sees it. */
struct psb__zygote {
    pid_t pid;             /* -1 when none runs */
    int pidfd;             /* its pidfd, -1 */
    int sock;              /* SOCK_SEQPACKET to it: "ready", then execution sockets */
    bool ready;            /* preloaded: executions go there */
    unsigned starts;       /* how many were forked (a dying one is restarted a few times) */
    uint64_t retry_ns;     /* when to fork the next one, 0: not now */
    const char *preload;   /* the preload list (NULL: the default set) */
    const char *mplconfig; /* matplotlib's config dir (the cache is copied there) */
};
/* Forks the zygote: it preloads, then serves what it is passed. 0, or -1. */
int psb__zygote_start(struct psb__zygote *z, const char *root);
/* The pollfd to watch for the zygote (fd -1 when none). */
struct pollfd psb__zygote_pollfd(const struct psb__zygote *z);
/* Handles its readiness or death; restarts it when due. */
void psb__zygote_step(struct psb__zygote *z, short revents, const char *root);
/* The next time the zygote needs attention (a restart), or 0. */
uint64_t psb__zygote_deadline(const struct psb__zygote *z);
/* Passes an execution's socket on (closing ours). 0, or -1 (then it is still ours). */
int psb__zygote_pass(struct psb__zygote *z, int fd);
/* Closes its socket and reaps it, killing it after wait_ms. */
void psb__zygote_stop(struct psb__zygote *z, int wait_ms);

/* ---- vessel.c: children forked before their request ---- */

/* A forked child waiting for its channels, with its scratch dir and cgroups. */
struct psb__vessel {
    pid_t pid;             /* the child, -1 when none */
    int pidfd;             /* its pidfd */
    int ctl;               /* where its channels go */
    char scratch[4096];    /* its working directory */
    uint64_t scratch_mib;  /* size of the scratch tmpfs */
    json_t *confined_for;  /* readable paths it confined itself with, or NULL */
    struct psb__cgroup cg; /* its cgroups */
    uint64_t threads;      /* pids.max set on it (0: not yet) */
    uint64_t memory_bytes; /* memory limit set on it (0: not yet) */
};

/* One execution (or session) as the helper runs it: control information only. */
struct psb__job {
    int sock;             /* the library's socket for this execution */
    psb__limits limits;   /* from the control frame */
    struct psb__vessel v; /* the child, its scratch dir and cgroups */
    uint64_t start_ns;    /* when the child got its channels */
    uint64_t deadline_ns; /* start + timeout */
    uint64_t kill_ns;     /* when an interrupted child gets SIGKILL */
    uint64_t exit_ns;     /* when the child was reaped */
    bool interrupted;     /* SIGINT sent at the deadline */
    bool killed;          /* SIGKILL sent by us, asked by the library (or it left) */
    bool exited;          /* reaped */
    bool reported;        /* STATUS sent while the child stopped before its teardown */
    bool abandoned;       /* the library went away */
    int wstatus;          /* from wait4 */
    struct rusage ru;     /* from wait4 */
    /* A session: the child runs cell after cell; the clock runs per cell. */
    bool session;                 /* started with PSB__TAG_SESSION */
    bool in_cell;                 /* a cell runs (the clock is on) */
    int child_ctl;                /* the session child's control socket ("cell done"), -1 */
    uint64_t idle_ns;             /* between cells: when the session closes for idleness */
    uint64_t end_ns;              /* when its lifetime ends */
    uint64_t cell_cpu_ms;         /* the process's CPU time when the cell started */
    psb__session_end ended;       /* why the helper ended it */
    uint64_t idle_limit_ns;       /* the session's idle time limit */
    struct psb__lineage *lineage; /* its scratch dir and fork approvals, shared with branches */
    struct psb__snap *snaps;      /* its snapshots */
    struct psb__op op;            /* the operation under way between cells (op.kind 0: none) */
    char work[32];                /* its working directory in the scratch dir ("work-N") */
    struct psb__job *created;     /* a branch made by this job, for the loop to take */
};

/*
 * Forks a child that prepares itself and waits for a request, confined for
 * the readable paths confine_for (NULL: it confines itself from its
 * request). 0, or -1 + msg.
 */
int psb__vessel_create(struct psb__vessel *v, const char *scratch_root, uint64_t scratch_mib,
                       bool session, const json_t *confine_for, char *msg, size_t msg_size);
/*
 * Hands over a ready spare fit for a request (its tmpfs resized to
 * scratch_mib, confined for these readable paths); 0, or -1 when none.
 */
int psb__vessel_take_spare(struct psb__vessel *v, uint64_t scratch_mib, const json_t *readable);
/* Kills and reaps a vessel's child and removes its scratch dir and cgroups. */
void psb__vessel_discard(struct psb__vessel *v);
/* SCHED_IDLE (idle) or back to SCHED_OTHER for a process (0: the caller). */
void psb__vessel_set_idle(pid_t pid, bool idle);
/* Unmounts (if a tmpfs) and removes a scratch dir, whatever its permissions. */
void psb__remove_tree(const char *dir);

/* Keeps the spares ready: forks at most one per call. */
void psb__spare_prepare(const char *scratch_root);
/* Kills and reaps the spare children (helper shutdown). */
void psb__spare_drop(void);
/* Forgets the spares without touching them (a new zygote: they are its parent's). */
void psb__spare_forget(void);
/* true if pid is one of the spares. */
bool psb__spare_is(pid_t pid);
/* The loop's own children (jobs, snapshots, spares, the zygote): session.c stops the rest. */
void psb__session_set_known(bool (*known)(pid_t pid));
/* true if pid is a process of job (its live one or a snapshot). */
bool psb__job_owns(const psb__job *job, pid_t pid);
/* true if a spare child is ready. */
bool psb__spare_have(void);
/* true if fewer spares are ready than the helper keeps. */
bool psb__spare_missing(void);

/* ---- files.c: files into and out of the scratch dir, in the child ---- */

/* Identity of an input file as the child wrote it. */
struct psb__input_stat {
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
};

/*
 * Reads one FILE frame per name from sock and writes each into scratch as a
 * read-only file. *ret_stats (free() it) identifies them. 0, or -1 + msg.
 */
int psb__inputs_place(int sock, const char *scratch, const json_t *names, uint64_t deadline,
                      struct psb__input_stat **ret_stats, size_t *ret_n, char *msg,
                      size_t msg_size);
/*
 * The regular files below scratch, sorted by name, leaving out unchanged
 * inputs. 0; 1 when they exceed limit_bytes or PSB__MAX_FILES; -1 when
 * reading failed. Nothing is returned unless 0.
 */
int psb__outputs_collect(const char *scratch, const struct psb__input_stat *inputs, size_t n_inputs,
                         uint64_t limit_bytes, struct psb__file **ret_files, size_t *ret_n);
/*
 * The identity of every regular file below scratch now (a session's files
 * after a cell: the next cell hands back only what it changes). *ret
 * (free() it) holds *ret_n of them. 0, or -1 when out of memory.
 */
int psb__scratch_stats(const char *scratch, struct psb__input_stat **ret, size_t *ret_n);
/*
 * true while the job's child is there: running, or reported and still
 * tearing down (a spare forked meanwhile would add its memory to the ~100 MiB
 * the dying child has not given back yet).
 */
bool psb__job_running(const psb__job *job);
/* When the last execution ended (CLOCK_MONOTONIC ns). */
extern uint64_t psb__last_response_ns;
/*
 * After an execution ends, spares are refilled only this much later: the
 * host thread woken by the answer often lands on the helper's CPU, and a
 * fork (~2 ms of page-table copying that does not yield) right away would
 * keep it waiting.
 */
#define PSB__REFILL_DELAY_NS 1000000u

/* Runs in the forked child: confine, take the request, run the code, reply. Never returns. */
_Noreturn void psb__child_main(const psb__child_spec *spec);
/*
 * The end of a one-shot child once its reply is sent: it closes every fd
 * (the library sees the end of each stream at once) and stops itself, so
 * the helper reports it without waiting for the teardown of its ~100 MiB of
 * mappings, then kills it. Never returns.
 */
_Noreturn void psb__child_finish(void);

/* What the child knows of its request beyond the JSON document. */
struct psb__child_run {
    const struct psb__request *req;       /* the request */
    const char *scratch;                  /* its working directory */
    const struct psb__input_stat *inputs; /* the input files it placed */
    size_t n_inputs;                      /* entries in inputs */
};

/* What a reply carries besides the status and the result. */
struct psb__reply_extras {
    const psb__buf *displays;      /* DISPLAY frame payloads */
    size_t n_displays;             /* entries in displays */
    bool displays_truncated;       /* the display caps dropped or cut some */
    const psb__buf *figures;       /* PNG bytes */
    size_t n_figures;              /* entries in figures */
    bool figures_truncated;        /* the figure cap dropped some */
    const struct psb__file *files; /* files left in the working directory */
    size_t n_files;                /* entries in files */
};

/*
 * Writes the child's reply on fd: a REPLY frame {"status", "error",
 * "figures_truncated", "displays_truncated"} (PSB_KIND_NONE means ok;
 * messages and tracebacks cut to fit the library's cap), a RESULT frame
 * (JSON text, "null" on error), then one DISPLAY, FIGURE and FILE frame per
 * bundle, PNG and file in x (NULL: none).
 */
void psb__child_reply(int fd, psb_error_kind kind, const char *type, const char *message,
                      const char *traceback, const char *module, const char *event,
                      const char *result_json, size_t result_len,
                      const struct psb__reply_extras *x);

/*
 * Warm mode, in the helper: initializes Python (audit hook added first,
 * dormant), installs the import filter (dormant) and imports the preload
 * list (comma-separated; NULL = the default set, skipping missing modules).
 * Returns 0, or -1 with a message in msg.
 */
int psb__interp_warm_init(const char *preload, char *msg, size_t msg_size);
/* The two halves of psb__interp_warm_init: the interpreter, then the preload. */
int psb__interp_init(char *msg, size_t msg_size);
int psb__interp_preload(const char *preload, char *msg, size_t msg_size);
/* An explicit preload list's top-level modules can be found (not imported). 0 or -1 + msg. */
int psb__interp_check_preload(const char *preload, char *msg, size_t msg_size);
/* In a forked process that will fork again (the zygote): Python's after-fork. */
void psb__interp_after_fork_child(void);
/*
 * Around the fork of the warm zygote: Python's fork bookkeeping when warm
 * (spares are forked without it: embed/vessel.c says why).
 */
void psb__interp_before_fork(void);
void psb__interp_after_fork_parent(void);
/*
 * After the preload: the forking process's anonymous memory on transparent
 * huge pages (embed/pages.c); the bytes collapsed.
 */
size_t psb__pages_collapse(void);
/* Python's arenas on a huge-page region until the seal (before Py_Initialize). */
void psb__pages_arenas_begin(void);
/* The end of that: the region's unused tail unmapped, later arenas plain mappings. */
void psb__pages_arenas_seal(void);
/*
 * Copy-on-write faults off the request's path (embed/cow.c). After the
 * preload: takes every free chunk of malloc's heap (the bytes taken). Before
 * serving: runs two canned executions (plain Python; numpy and pandas) and
 * notes the pages each copied (the count). In a spare getting ready: copies
 * the first set's pages now; waiting for its request on fd, the second
 * set's, until the request comes.
 */
size_t psb__cow_drain_heap(void);
size_t psb__cow_learn(const char *scratch_root);
void psb__cow_prefault(void);
void psb__cow_prefault_idle(int fd);
/*
 * In the child, once confined: loads the seccomp filter when that layer is
 * on (a session's: its listener goes to the helper on the control socket
 * psb__child_notify_to names, -1 for none). 0 or -1.
 */
int psb__child_load_seccomp(void);
extern int psb__child_notify_to;
/*
 * In a process a session forked itself (snapshot.c): Python's after-fork
 * bookkeeping, warm or cold. Nothing runs before such a fork or after it
 * in the parent (interp.c says why).
 */
void psb__interp_forked_child(void);

/* ---- snapshot.c: a session's snapshots, in its processes ---- */

/* The process that adopts the session's forks (the child's parent). */
void psb__snapshot_init(pid_t parent);
/*
 * In the live session, asked on ctl (PSB__TO_SNAPSHOT with sock): copies
 * workdir into the scratch dir root under the name the frame on ctl gives,
 * forks the snapshot and returns -1 (go on as before; sock may be closed).
 * In a live process forked later from that snapshot it returns the new
 * control socket, with the new working directory in ret_dir.
 */
int psb__snapshot_take(int ctl, int sock, const char *root, const char *workdir, char *ret_dir,
                       size_t dir_size);
/*
 * In the child, before its request: Python's after-fork bookkeeping and the
 * request-independent resets (warm), or a whole new interpreter (cold).
 * 0, or -1 with a message.
 */
int psb__interp_prepare(char *msg, size_t msg_size);
/*
 * In the child: configures and arms the hooks, runs the request's code,
 * replies on result_fd and exits. seccomp_done: the filter is already
 * loaded. A session's first cell (req->session) returns instead once
 * replied; psb__interp_cell() then runs each next cell in the same
 * __main__ and returns once replied, and psb__interp_cell_end() forgets
 * the cell's figures. While the child waits for a cell it lets the code's
 * own threads run: psb__interp_unlock() before, psb__interp_lock() after.
 */
void psb__interp_run(const struct psb__child_run *run, int result_fd, bool seccomp_done);
void psb__interp_cell(const struct psb__child_run *run, int result_fd);
void psb__interp_cell_end(void);
/*
 * input() and getpass.getpass() ask the library over fd (INPUT frames) when
 * on, else the originals are back (prompt.c).
 */
void psb__prompt_set(int fd, bool on);
void psb__interp_unlock(void);
void psb__interp_lock(void);

/* ---- external.c: the external-interpreter engine ---- */

/*
 * Address space an external interpreter gets for its own image, libraries
 * and start, beyond the memory limit: its RLIMIT_AS is the two together,
 * counted from nothing (set just before the exec; the rlimits applied
 * earlier leave at least that much room).
 */
#define PSB__EXTERNAL_IMAGE_BYTES ((uint64_t)64 << 20)

/* The source of pyshim/NAME.py, or NULL. */
const char *psb__pyshim_source(const char *name);
/*
 * In the helper, once: runs the interpreter at python to learn what it
 * reads (its sys.path, prefixes) and what it executes (itself, its ELF
 * loader), into psb__helper.python_read and python_exec. 0, or -1 with msg.
 */
int psb__external_probe(const char *python, char *msg, size_t msg_size);
/*
 * In a confined child with its request in: execs psb__helper.python with
 * pyshim/external.py and the request on fd 4, under the seccomp filter that
 * allows execve. Replies with the failure itself if it cannot.
 */
_Noreturn void psb__external_exec(const struct psb__child_run *run, int fd);

#endif /* PSB_EMBED_EMBED_H */
