/*
 * embed/pages.c - the forking process's memory on transparent huge pages.
 * Every execution's fork copies the page tables of the preloaded
 * interpreter (~60 MiB of anonymous memory: 15,000 entries with 4 KiB
 * pages, 30 with 2 MiB ones), and every exit tears them down. Once the
 * preload is done, the anonymous mappings Python's allocators made are
 * advised and collapsed into huge pages; the process never writes to them
 * again while it serves (it runs no Python then), so they stay huge. A
 * child's first write to one splits the mapping in the child only and
 * copies one 4 KiB page, as before.
 */
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "embed/embed.h"

#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25 /* Linux 6.1 */
#endif

#define HUGE_PAGE (2ul << 20)

/*
 * true for a line of /proc/self/maps that is private, writable, anonymous
 * and unnamed (Python's arenas and large blocks; not [heap], where the
 * serving loop's own malloc writes, nor [stack]); its range in *lo, *hi.
 */
static bool collapsible(const char *line, unsigned long *lo, unsigned long *hi) {
    char perms[8], dev[16], name[16] = "";
    unsigned long off, ino;
    /* sscanf cannot report an overflow, but the kernel wrote the line. */
    /* NOLINTNEXTLINE(cert-err34-c) */
    int n = sscanf(line, "%lx-%lx %7s %lx %15s %lu %15s", lo, hi, perms, &off, dev, &ino, name);
    return n >= 6 && ino == 0 && name[0] == '\0' && strcmp(perms, "rw-p") == 0;
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
