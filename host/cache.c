/*
 * host/cache.c - where the helpers keep start-up work done once (the font
 * list matplotlib builds): a directory of the host user's that only that
 * user can write. The helper checks it again before trusting what is in it.
 */
#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "host/host.h"

/* For root, and without a home: a system state dir. */
#define SYSTEM_CACHE_DIR "/var/cache/pysandbox"

/* The default: $XDG_CACHE_HOME/pysandbox, $HOME/.cache/pysandbox, or the system dir. */
static int default_dir(char *buf, size_t size) {
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    bool system = geteuid() == 0 || !((xdg && xdg[0] == '/') || (home && home[0] == '/'));
    int n;
    if (system)
        n = snprintf(buf, size, "%s", SYSTEM_CACHE_DIR);
    else if (xdg && xdg[0] == '/')
        n = snprintf(buf, size, "%s/pysandbox", xdg);
    else
        n = snprintf(buf, size, "%s/.cache/pysandbox", home);
    return n > 0 && (size_t)n < size ? 0 : -1;
}

/* mkdir -p for the parents of path (0700: they are the user's own). */
static void make_parents(char *path) {
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        (void)mkdir(path, 0700);
        *p = '/';
    }
}

int psb__cache_dir(const char *configured, char *buf, size_t size) {
    if (configured) {
        if (snprintf(buf, size, "%s", configured) >= (int)size)
            return -1;
    } else if (default_dir(buf, size) != 0) {
        return -1;
    }
    struct stat st;
    if (lstat(buf, &st) != 0 && errno == ENOENT) {
        make_parents(buf);
        (void)mkdir(buf, 0755);
    }
    /* Children (another uid on a root host) read it; nobody but us writes it. */
    if (lstat(buf, &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid() ||
        (st.st_mode & (S_IWGRP | S_IWOTH)))
        return -1;
    return 0;
}
