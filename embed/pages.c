/*
 * embed/pages.c - the forking process's memory on transparent huge pages.
 * Every execution's fork copies the page tables of the preloaded
 * interpreter (~60 MiB of anonymous memory: 15,000 entries with 4 KiB
 * pages, 30 with 2 MiB ones), and every exit tears them down. While the
 * preload runs, Python's object arenas come from one huge-page region;
 * once it is done, the other anonymous mappings it made (large blocks)
 * and malloc's heap below its top are collapsed into huge pages too. Here
 * that puts ~51 of the helper's ~68 MiB of anonymous memory on huge pages
 * (~35 without the heap), and its fork takes ~0.9 ms (~1.3 ms without the
 * heap; perf trace -e clone). The process never writes to them while it
 * serves (it runs no Python, and its mallocs come from the top), so they
 * stay huge; a child's first write to one splits the mapping in the child
 * only and copies one 4 KiB page, as before.
 */
#include <Python.h>

#include <stdint.h>
#include <stdio.h>
#include <malloc.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "embed/embed.h"

#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25 /* Linux 6.1 */
#endif

#define HUGE_PAGE (2ul << 20)

/*
 * true for a line of /proc/self/maps that is private, writable and
 * anonymous: unnamed (Python's arenas and large blocks) or malloc's
 * [heap] below its top chunk (embed/cow.c drained the free chunks there,
 * so the serving loop's own mallocs come from the top; not [stack]). Its
 * range in *lo, *hi.
 */
static bool collapsible(const char *line, unsigned long *lo, unsigned long *hi) {
    char perms[8], dev[16], name[16] = "";
    unsigned long off, ino;
    /* sscanf cannot report an overflow, but the kernel wrote the line. */
    /* NOLINTNEXTLINE(cert-err34-c) */
    int n = sscanf(line, "%lx-%lx %7s %lx %15s %lu %15s", lo, hi, perms, &off, dev, &ino, name);
    if (n < 6 || ino != 0 || strcmp(perms, "rw-p") != 0)
        return false;
    if (strcmp(name, "[heap]") == 0) {
        unsigned long top = (unsigned long)sbrk(0) - mallinfo2().keepcost;
        if (top < *hi)
            *hi = top;
        return *hi > *lo;
    }
    return name[0] == '\0';
}

size_t psb__pages_collapse(void) {
    static unsigned long ranges[1024][2]; /* read first: advising splits the mappings */
    size_t n = 0, bytes = 0;
    char line[512];
    FILE *maps = fopen("/proc/self/maps", "re");
    if (!maps)
        return 0;
    while (n < 1024 && fgets(line, sizeof line, maps)) {
        unsigned long lo, hi;
        if (!collapsible(line, &lo, &hi))
            continue;
        ranges[n][0] = (lo + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
        ranges[n][1] = hi & ~(HUGE_PAGE - 1);
        n += ranges[n][1] > ranges[n][0];
    }
    fclose(maps);
    for (size_t i = 0; i < n; i++) {
        void *a = (void *)ranges[i][0];
        size_t len = ranges[i][1] - ranges[i][0];
        /* Advised, so that what the interpreter maps there later is huge too. */
        if (madvise(a, len, MADV_HUGEPAGE) == 0 && madvise(a, len, MADV_COLLAPSE) == 0)
            bytes += len;
    }
    return bytes;
}

/*
 * Python's object arenas (1 MiB each), while the preload runs, come from
 * one reserved, 2 MiB-aligned region advised MADV_HUGEPAGE, so that the
 * interpreter's small objects (most of what every fork copies) sit on huge
 * pages from the start. Once the process serves, the region's unused tail
 * is unmapped (no child gets address space it was not charged for) and
 * later arenas are plain mappings, as CPython makes them.
 */
#define REGION_BYTES ((size_t)256 << 20)
#define MAX_FREE_ARENAS 256

static struct {
    char *base, *next, *end;     /* the region while the preload runs; base NULL after */
    void *free[MAX_FREE_ARENAS]; /* arenas of the region given back, for reuse */
    size_t n_free, arena_size;
} region;

static bool in_region(const void *p) {
    return region.base && (const char *)p >= region.base && (const char *)p < region.end;
}

static void *arena_alloc(void *ctx, size_t size) {
    (void)ctx;
    if (region.base && size == region.arena_size && region.n_free)
        return region.free[--region.n_free];
    if (region.base && (size_t)(region.end - region.next) >= size) {
        if (!region.arena_size)
            region.arena_size = size;
        void *p = region.next;
        region.next += (size + 4095) & ~(size_t)4095;
        return p;
    }
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL; /* cppcheck-suppress memleak ; mmap failed: nothing to leak */
    return p;
}

static void arena_free(void *ctx, void *p, size_t size) {
    (void)ctx;
    if (in_region(p) && size == region.arena_size && region.n_free < MAX_FREE_ARENAS) {
        (void)madvise(p, size, MADV_DONTNEED);
        region.free[region.n_free++] = p;
        return;
    }
    (void)munmap(p, size);
}

void psb__pages_arenas_begin(void) {
    size_t len = REGION_BYTES + HUGE_PAGE;
    char *raw =
        mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (raw == MAP_FAILED)
        return;
    char *base = (char *)(((uintptr_t)raw + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1));
    if (base > raw)
        (void)munmap(raw, (size_t)(base - raw));
    (void)munmap(base + REGION_BYTES, (size_t)(raw + len - (base + REGION_BYTES)));
    (void)madvise(base, REGION_BYTES, MADV_HUGEPAGE);
    region.base = region.next = base;
    region.end = base + REGION_BYTES;
    region.n_free = 0;
    PyObjectArenaAllocator a = {.ctx = NULL, .alloc = arena_alloc, .free = arena_free};
    PyObject_SetArenaAllocator(&a);
}

void psb__pages_arenas_seal(void) {
    if (!region.base)
        return;
    char *used = (char *)(((uintptr_t)region.next + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1));
    if (used < region.end)
        (void)munmap(used, (size_t)(region.end - used));
    /* Given-back arenas are address space no one is charged for: unmap them too. */
    for (size_t i = 0; i < region.n_free; i++)
        (void)munmap(region.free[i], region.arena_size);
    region.n_free = 0;
    region.base = NULL; /* from here on every arena is mmap'd and munmap'd */
}
