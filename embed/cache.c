/*
 * embed/cache.c - the start-up cache, in the helper: matplotlib's font list
 * (fontlist-v*.json, whose first build runs fc-list and reads every font)
 * is built once into CACHE/matplotlib and copied into each helper's private
 * config dir. The cache is trusted only when its owner is us and nobody
 * else can write it; otherwise a new one is built in a fresh dir and
 * renamed into place, so readers and concurrent builders see a whole one.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "embed/embed.h"

/* The font list holds one entry per font: a few MiB is far beyond any real one. */
#define MAX_CACHE_FILE_BYTES ((off_t)16 << 20)
#define MPL_DIR "matplotlib"
#define MPL_FILES "fontlist-v*.json"

#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

/* true if st is ours and writable by nobody else (nor a link). */
static bool owned(const struct stat *st, mode_t type) {
    return (st->st_mode & S_IFMT) == type && st->st_uid == geteuid() &&
           !(st->st_mode & (S_IWGRP | S_IWOTH));
}

int psb__cache_open(const char *dir) {
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    struct stat st;
    if (fd >= 0 && (fstat(fd, &st) != 0 || !owned(&st, S_IFDIR))) {
        close(fd);
        fd = -1;
    }
    return fd;
}

/* Copies the file name from src_dir to dst_dir (0644, fsync'd). 0 or -1. */
static int copy_file(int src_dir, int dst_dir, const char *name, bool check_owner) {
    char buf[65536];
    struct stat st;
    int rc = -1;
    int in = openat(src_dir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    int out = -1;
    if (in < 0 || fstat(in, &st) != 0 || st.st_size > MAX_CACHE_FILE_BYTES ||
        (check_owner ? !owned(&st, S_IFREG) : !S_ISREG(st.st_mode)))
        goto out;
    out = openat(dst_dir, name, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (out < 0 || fchmod(out, 0644) != 0)
        goto out;
    for (;;) {
        ssize_t n = read(in, buf, sizeof buf);
        if (n == 0)
            break;
        if (n < 0 || psb__write_all(out, buf, (size_t)n) != 0)
            goto out;
    }
    rc = fsync(out);
out:
    if (in >= 0)
        close(in);
    if (out >= 0)
        close(out);
    return rc;
}

/*
 * The font lists in the directory src: each must be a regular file of at
 * most MAX_CACHE_FILE_BYTES that (when check_owner) we own and nobody else
 * can write, and nothing else may be there. With dst >= 0 they are copied
 * there. The number of lists, or -1 when the directory is unfit.
 */
static int each_list(int src, int dst, bool check_owner) {
    int n = 0, dfd = dup(src);
    DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
    struct dirent *e;
    struct stat st;
    if (!d) {
        if (dfd >= 0)
            close(dfd);
        return -1;
    }
    while (n >= 0 && (e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        bool fit = fnmatch(MPL_FILES, e->d_name, 0) == 0 &&
                   fstatat(src, e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                   (check_owner ? owned(&st, S_IFREG) : S_ISREG(st.st_mode)) &&
                   st.st_size <= MAX_CACHE_FILE_BYTES;
        if (!fit || (dst >= 0 && copy_file(src, dst, e->d_name, check_owner) != 0))
            n = -1; /* anything else in there: not a cache we made */
        else
            n++;
    }
    closedir(d);
    return n;
}

/* CACHE/matplotlib opened if trustworthy (ours, writable by us only), else -1. */
static int open_mpl(int cache_fd) {
    int fd = openat(cache_fd, MPL_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    struct stat st;
    if (fd >= 0 && (fstat(fd, &st) != 0 || !owned(&st, S_IFDIR))) {
        close(fd);
        fd = -1;
    }
    return fd;
}

/* What psb__cache_seed() put into the config dir, to tell a rebuild afterwards. */
static struct {
    bool seeded;         /* a trusted cache was copied */
    struct stat list[1]; /* the copy of the first font list */
} seed;

/* The first font list in dir (a path), into *ret. 0, or -1 when none. */
static int stat_list(const char *dir, struct stat *ret) {
    DIR *d = opendir(dir);
    struct dirent *e;
    int rc = -1;
    while (d && rc != 0 && (e = readdir(d)))
        if (fnmatch(MPL_FILES, e->d_name, 0) == 0 && fstatat(dirfd(d), e->d_name, ret, 0) == 0)
            rc = 0;
    if (d)
        closedir(d);
    return rc;
}

bool psb__cache_trusted(void) {
    return seed.seeded;
}

void psb__cache_seed(int cache_fd, const char *mplconfig) {
    seed.seeded = false;
    if (cache_fd < 0)
        return;
    int src = open_mpl(cache_fd);
    int dst = open(mplconfig, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (src >= 0 && dst >= 0 && each_list(src, dst, true) > 0 &&
        stat_list(mplconfig, seed.list) == 0)
        seed.seeded = true;
    if (src >= 0)
        close(src);
    if (dst >= 0)
        close(dst);
}

/* Removes a directory of plain files below dir_fd (a stale or losing build). */
static void remove_flat(int dir_fd, const char *name) {
    int fd = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            (void)unlinkat(dirfd(d), e->d_name, 0);
    if (d)
        closedir(d);
    else if (fd >= 0)
        close(fd);
    (void)unlinkat(dir_fd, name, AT_REMOVEDIR);
}

/*
 * Puts the build dir `tmp` at CACHE/matplotlib: a plain rename when there
 * is none. An existing one stays if it is trustworthy and we did not just
 * find it wanting (a concurrent helper won the race); otherwise it is
 * swapped out atomically and removed.
 */
static void install(int cache_fd, const char *tmp) {
    if (renameat(cache_fd, tmp, cache_fd, MPL_DIR) == 0)
        return;
    if (errno != EEXIST && errno != ENOTEMPTY) {
        remove_flat(cache_fd, tmp);
        return;
    }
    bool keep = false;
    int cur = open_mpl(cache_fd);
    if (cur >= 0) {
        keep = !seed.seeded && each_list(cur, -1, true) > 0;
        close(cur);
    }
    if (!keep &&
        syscall(SYS_renameat2, cache_fd, tmp, cache_fd, MPL_DIR, (unsigned)RENAME_EXCHANGE) != 0) {
        remove_flat(cache_fd, tmp);
        return;
    }
    remove_flat(cache_fd, tmp); /* ours when kept, the old one after the swap */
}

void psb__cache_publish(int cache_fd, const char *mplconfig) {
    struct stat now;
    if (cache_fd < 0 || stat_list(mplconfig, &now) != 0)
        return;
    if (seed.seeded && now.st_ino == seed.list->st_ino && now.st_size == seed.list->st_size &&
        now.st_mtim.tv_sec == seed.list->st_mtim.tv_sec &&
        now.st_mtim.tv_nsec == seed.list->st_mtim.tv_nsec)
        return; /* matplotlib used the cache as it was */
    char tmp[64];
    snprintf(tmp, sizeof tmp, ".build-%d-%llx", (int)getpid(), (unsigned long long)psb__now_ns());
    if (mkdirat(cache_fd, tmp, 0700) != 0)
        return;
    int dst = openat(cache_fd, tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    int src = open(mplconfig, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    bool ok = dst >= 0 && src >= 0 && each_list(src, dst, false) > 0 && fchmod(dst, 0755) == 0 &&
              fsync(dst) == 0;
    if (src >= 0)
        close(src);
    if (dst >= 0)
        close(dst);
    if (ok)
        install(cache_fd, tmp);
    else
        remove_flat(cache_fd, tmp);
}
