/*
 * embed/cow.c - copy-on-write faults taken off the request's path. A
 * child forked from the preloaded interpreter shares every page with it,
 * and each first write to one copies it: on the way from the request to
 * the reply that was ~375 faults for `result = 1 + 1`. Two sources, two
 * remedies:
 *
 *  - glibc's malloc reusing the free chunks the preload left all over the
 *    heap (unlinking one writes to its neighbours' pages): once the
 *    preload is done, the forking process takes every free chunk for
 *    itself (psb__cow_drain_heap), so a child's mallocs come from the top
 *    of the heap, a few contiguous pages. Half the faults went.
 *  - the pages the interpreter writes on every execution (reference counts
 *    of the objects every run uses, the type attribute cache): before it
 *    serves, the forking process runs one execution of canned code of its
 *    own, in a child like any other, and notes from the kernel's page map
 *    which of its pages that child had to copy (~800). Every spare copies
 *    those pages in one call per range first thing while it gets ready, at
 *    idle priority (psb__cow_prefault); ~8 faults are left on the path.
 *    A second canned execution, with numpy and pandas (when preloaded),
 *    gives the pages the data stack adds; a spare copies those only while
 *    it waits with nothing asking for it (psb__cow_prefault_idle), so that
 *    back to back a spare is not held up by work a plain run never needs.
 *
 * Nothing here comes from a user's execution: the sets are learnt from our
 * own code, once. (Learning from users' runs would let one execution's
 * page-fault timing tell what the one before it touched.)
 */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "embed/embed.h"
#include "policy/policy.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14 */
#endif

#define PAGE 4096ul
#define MAX_RANGES 4096
#define PAGEMAP_PRESENT (1ull << 63)
#define PAGEMAP_EXCLUSIVE (1ull << 56)
/* Largest mapping whose pages are looked at (its page map read: 512 KiB). */
#define MAX_MAPPING_BYTES ((uintptr_t)256 << 20)
/* Ranges a waiting spare copies between two looks at its control socket. */
#define PREFAULT_BATCH 32
/* How long the canned execution may take, from its request to its stop. */
#define PROBE_TIMEOUT_NS (10ull * 1000000000ull)

/* Largest request glibc serves from the heap (M_MMAP_THRESHOLD's default). */
#define DRAIN_MAX ((size_t)128 << 10)

size_t psb__cow_drain_heap(void) {
    struct mallinfo2 mi = mallinfo2();
    const char *top = (const char *)sbrk(0) - mi.keepcost; /* the top chunk starts here */
    size_t taken = 0;
    /* Largest first, so that a smaller request never splits a larger free chunk. */
    for (size_t size = DRAIN_MAX; size >= 16; size = size > 1024 ? size / 2 : size - 16) {
        for (;;) {
            const char *p = malloc(size);
            if (!p)
                return taken;
            if (p >= top) { /* no free chunk of this size left: the top served it */
                free((void *)(uintptr_t)p);
                break;
            }
            taken += size; /* kept for the process's life: a hole no child reuses */
        }
    }
    return taken;
}

/* Pages as ranges [lo, hi), ascending. */
struct page_set {
    uintptr_t lo[MAX_RANGES], hi[MAX_RANGES];
    size_t n, pages;
};

/* What every execution copies (the plain run), and what the data stack adds. */
static struct page_set base, extra;

static void note_page(struct page_set *set, uintptr_t addr) {
    if (set->n && set->hi[set->n - 1] == addr) {
        set->hi[set->n - 1] += PAGE;
    } else if (set->n < MAX_RANGES) {
        set->lo[set->n] = addr;
        set->hi[set->n++] = addr + PAGE;
    } else {
        return;
    }
    set->pages++;
}

/* true if addr is in set; *cursor walks the ranges as addresses ascend. */
static bool in_set(const struct page_set *set, size_t *cursor, uintptr_t addr) {
    while (*cursor < set->n && set->hi[*cursor] <= addr)
        ++*cursor;
    return *cursor < set->n && set->lo[*cursor] <= addr;
}

/* true for a private writable mapping of /proc/self/maps; its range in *lo, *hi. */
static bool private_writable(const char *line, uintptr_t *lo, uintptr_t *hi) {
    char perms[8];
    unsigned long a, b;
    /* sscanf cannot report an overflow, but the kernel wrote the line. */
    /* NOLINTNEXTLINE(cert-err34-c) */
    if (sscanf(line, "%lx-%lx %7s", &a, &b, perms) != 3 || strcmp(perms, "rw-p") != 0)
        return false;
    *lo = a;
    *hi = b;
    return true;
}

/* What learn() fills: into, leaving out what is already in skip. */
struct learning {
    int pagemap;
    struct page_set *into;
    const struct page_set *skip;
    size_t cursor;
};

/* Notes the pages of [lo, hi) that are present in the child and its own. 0, or -1. */
static int learn_range(struct learning *l, uintptr_t lo, uintptr_t hi) {
    uint64_t entries[512];
    for (uintptr_t at = lo; at < hi;) {
        size_t n = (hi - at) / PAGE < 512 ? (hi - at) / PAGE : 512;
        ssize_t got = pread(l->pagemap, entries, n * sizeof *entries, (off_t)(at / PAGE * 8));
        if (got <= 0)
            return -1;
        for (size_t i = 0; i < (size_t)got / sizeof *entries; i++) {
            uintptr_t page = at + i * PAGE;
            if ((entries[i] & PAGEMAP_PRESENT) && (entries[i] & PAGEMAP_EXCLUSIVE) &&
                !in_set(l->skip, &l->cursor, page))
                note_page(l->into, page);
        }
        at += (uintptr_t)got / sizeof *entries * PAGE;
    }
    return 0;
}

/* Which of this process's private writable pages the stopped child pid has copied. */
static void learn(pid_t pid, struct page_set *into, const struct page_set *skip) {
    char path[64], line[512];
    snprintf(path, sizeof path, "/proc/%d/pagemap", (int)pid);
    struct learning l = {.pagemap = open(path, O_RDONLY | O_CLOEXEC), .into = into, .skip = skip};
    FILE *maps = fopen("/proc/self/maps", "re");
    into->n = into->pages = 0;
    while (l.pagemap >= 0 && maps && fgets(line, sizeof line, maps)) {
        uintptr_t lo, hi;
        /* Not the reservations that are mostly holes (a sanitizer's shadow is
         * terabytes): the interpreter's own mappings are far smaller. */
        if (private_writable(line, &lo, &hi) && hi - lo <= MAX_MAPPING_BYTES &&
            learn_range(&l, lo, hi) != 0)
            break;
    }
    if (maps)
        fclose(maps);
    if (l.pagemap >= 0)
        close(l.pagemap);
}

void psb__cow_prefault(void) {
    for (size_t i = 0; i < base.n; i++)
        (void)madvise((void *)base.lo[i], base.hi[i] - base.lo[i], MADV_POPULATE_WRITE);
}

void psb__cow_prefault_idle(int fd) {
    for (size_t i = 0; i < extra.n; i++) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (i % PREFAULT_BATCH == 0 && poll(&p, 1, 0) != 0)
            return; /* a request (or the helper's goodbye): it goes first */
        (void)madvise((void *)extra.lo[i], extra.hi[i] - extra.lo[i], MADV_POPULATE_WRITE);
    }
}

/* What the canned executions run: plain Python, then numpy and pandas when preloaded. */
static const char PLAIN_CODE[] =
    "print('ready')\n"
    "result = {'n': 1 + 1, 's': 'x' * 3, 'l': [1, 2.5, None], 'i': inputs}\n";
static const char DATA_CODE[] =
    "import sys\n"
    "result = None\n"
    "if 'pandas' in sys.modules:\n"
    "    import numpy as np\n"
    "    import pandas as pd\n"
    "    df = pd.DataFrame({'k': np.arange(12) % 3, 'v': np.linspace(0.0, 1.0, 12)})\n"
    "    g = df.groupby('k')['v'].agg(['mean', 'sum', 'count'])\n"
    "    result = {str(k): [float(r['mean']), int(r['count'])] for k, r in g.iterrows()}\n"
    "    print(df.describe())\n";

/* The canned request: the sandbox's default limits, no policy of anyone's. */
static char *probe_request(const char *code) {
    psb__limits lim;
    psb__limits_default(&lim);
    json_t *limits = json_object();
    for (int i = 0; limits && i < PSB__LIMIT_COUNT; i++)
        json_object_set_new(limits, psb__limit_key((enum psb__limit_id)i),
                            json_integer((json_int_t)lim.v[i]));
    json_t *doc = json_pack(
        "{s:s, s:o?, s:{}, s:{s:b, s:[]}, s:[], s:[], s:[], s:b, s:b, s:[], s:o}", PSB__KEY_CODE,
        code, PSB__KEY_INPUTS, json_pack("{s:[i,s]}", "k", 1, "v"), PSB__KEY_ENV, PSB__KEY_IMPORTS,
        PSB__KEY_DEFAULT_ALLOW, 1, PSB__KEY_RULES, PSB__KEY_DENIED_EVENTS,
        PSB__KEY_USER_DENIED_EVENTS, PSB__KEY_READABLE_PATHS, PSB__KEY_NETWORK, 0,
        PSB__KEY_HAS_STDIN, 0, PSB__KEY_FILES, PSB__KEY_LIMITS, limits);
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    return text;
}

/* Reads fd until EOF or the deadline; true at EOF. */
static bool drain_until_eof(int fd, uint64_t deadline) {
    char buf[4096];
    for (;;) {
        uint64_t now = psb__now_ns();
        if (now >= deadline)
            return false;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, (int)((deadline - now) / 1000000u) + 1) < 0 && errno != EINTR)
            return false;
        ssize_t n = read(fd, buf, sizeof buf);
        if (n == 0)
            return true;
        if (n < 0 && errno != EAGAIN && errno != EINTR)
            return false;
    }
}

/* Waits until pid stops itself (it does once it has replied); true if it did. */
static bool wait_stopped(pid_t pid, uint64_t deadline) {
    while (psb__now_ns() < deadline) {
        siginfo_t si = {0};
        if (waitid(P_PID, (id_t)pid, &si, WSTOPPED | WEXITED | WNOHANG | WNOWAIT) != 0)
            return false;
        if (si.si_pid == pid)
            return si.si_code == CLD_STOPPED;
        struct timespec ms = {.tv_sec = 0, .tv_nsec = 1000000};
        nanosleep(&ms, NULL);
    }
    return false;
}

/* Runs code in a child like any other and learns into `into` what it copied beyond `skip`. */
static void probe(const char *scratch_root, const char *code, struct page_set *into,
                  const struct page_set *skip) {
    char msg[160];
    struct psb__vessel v;
    int data[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1};
    char *request = probe_request(code);
    if (!request || psb__vessel_create(&v, scratch_root, psb__helper.scratch_mib, false, NULL, msg,
                                       sizeof msg) != 0) {
        free(request);
        return;
    }
    psb__vessel_set_idle(v.pid, false);
    uint64_t deadline = psb__now_ns() + PROBE_TIMEOUT_NS;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, data) == 0 &&
        pipe2(out, O_CLOEXEC | O_NONBLOCK) == 0 && pipe2(err, O_CLOEXEC | O_NONBLOCK) == 0) {
        int ch[PSB__CHAN_COUNT] = {data[1], out[1], err[1]};
        if (psb__send_fds(v.ctl, ch, PSB__CHAN_COUNT) == 0 &&
            psb__frame_write(data[0], PSB__FRAME_REQUEST, request, strlen(request)) == 0 &&
            fcntl(data[0], F_SETFL, O_NONBLOCK) == 0) {
            for (int i = 0; i < PSB__CHAN_COUNT; i++)
                psb__close_fd(&ch[i]);
            data[1] = out[1] = err[1] = -1;
            if (drain_until_eof(data[0], deadline) && wait_stopped(v.pid, deadline))
                learn(v.pid, into, skip);
        }
    }
    int *fds[] = {&data[0], &data[1], &out[0], &out[1], &err[0], &err[1]};
    for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++)
        psb__close_fd(fds[i]);
    psb__vessel_discard(&v);
    free(request);
}

size_t psb__cow_learn(const char *scratch_root) {
    static const struct page_set none;
    probe(scratch_root, PLAIN_CODE, &base, &none);
    probe(scratch_root, DATA_CODE, &extra, &base);
    return base.pages + extra.pages;
}
