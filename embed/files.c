/*
 * embed/files.c - files into and out of an execution's scratch dir, on the
 * helper's side: inputs written read-only before the child gets its
 * request; regular files collected afterwards (no symlink followed, names
 * checked, a size cap), leaving out inputs the code did not change.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "embed/embed.h"

/* Creates the parent directories of name inside dir (mode 0755). */
static int make_parents(int dirfd, const char *name) {
    char path[1100];
    snprintf(path, sizeof path, "%s", name);
    for (char *p = strchr(path, '/'); p; p = strchr(p + 1, '/')) {
        *p = '\0';
        if (mkdirat(dirfd, path, 0755) != 0) {
            if (errno != EEXIST)
                return -1;
        } else if ((psb__helper.layers & PSB_LAYER_UNPRIVILEGED) && geteuid() == 0 &&
                   fchownat(dirfd, path, psb__helper.uid, psb__helper.gid, AT_SYMLINK_NOFOLLOW) !=
                       0) {
            return -1; /* the code must be able to write next to its inputs */
        }
        *p = '/';
    }
    return 0;
}

int psb__inputs_place(int sock, const char *scratch, const json_t *names, uint64_t deadline,
                      struct psb__input_stat **ret_stats, size_t *ret_n, char *msg,
                      size_t msg_size) {
    size_t n = json_array_size(names);
    *ret_stats = NULL;
    *ret_n = 0;
    if (!n)
        return 0;
    struct psb__input_stat *stats = calloc(n, sizeof *stats);
    *ret_stats = stats;
    int dirfd = open(scratch, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc = -1;
    if (!stats || dirfd < 0) {
        snprintf(msg, msg_size, "cannot prepare input files: %s", strerror(errno));
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        psb__buf payload = {0};
        uint32_t type;
        const char *name, *data;
        size_t len;
        if (psb__frame_read(sock, &type, &payload, deadline, PSB__FRAME_MAX) != 0 ||
            type != PSB__FRAME_FILE || psb__file_frame_parse(&payload, &name, &data, &len) != 0 ||
            strcmp(name, json_string_value(json_array_get(names, i))) != 0) {
            psb__buf_free(&payload);
            snprintf(msg, msg_size, "malformed input file %zu", i);
            goto out;
        }
        /* A session's earlier cell may have left a file (or a link) of that name. */
        (void)unlinkat(dirfd, name, 0);
        /* O_NOFOLLOW: nothing to follow in a fresh dir, and say so anyway. */
        int fd =
            make_parents(dirfd, name) == 0
                ? openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0444)
                : -1;
        struct stat st;
        bool ok = fd >= 0 && psb__write_all(fd, data, len) == 0 && fstat(fd, &st) == 0;
        if (fd >= 0)
            close(fd);
        psb__buf_free(&payload);
        if (!ok) {
            snprintf(msg, msg_size, "cannot write input file %zu: %s", i, strerror(errno));
            goto out;
        }
        stats[(*ret_n)++] = (struct psb__input_stat){st.st_dev, st.st_ino, st.st_size, st.st_mtim};
    }
    rc = 0;
out:
    if (dirfd >= 0)
        close(dirfd);
    return rc;
}

/* Output files being gathered. */
struct outputs {
    const char *scratch;                  /* the scratch dir walked */
    int dirfd;                            /* the scratch dir, opened once */
    const struct psb__input_stat *inputs; /* inputs to leave out when unchanged */
    size_t n_inputs;                      /* entries in inputs */
    uint64_t limit;                       /* files_bytes */
    struct psb__file *files;              /* collected files */
    size_t n, cap;                        /* entries used, allocated */
    uint64_t bytes;                       /* total size */
    bool over;                            /* the caps were exceeded */
    bool failed;                          /* out of memory or unreadable */
};
static struct outputs *collecting; /* nftw has no user pointer */

/* openat2() beneath dirfd, refusing symlinks, magic links and other mounts. */
static int open_beneath(int dirfd, const char *name) {
    struct open_how how = {
        .flags = O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK,
        .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV,
    };
    return (int)syscall(SYS_openat2, dirfd, name, &how, sizeof how);
}

static int collect_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)ftw;
    struct outputs *c = collecting;
    if (flag != FTW_F || !S_ISREG(st->st_mode))
        return 0; /* directories, symlinks, fifos: not files to hand back */
    for (size_t i = 0; i < c->n_inputs; i++) {
        const struct psb__input_stat *in = &c->inputs[i];
        if (in->dev == st->st_dev && in->ino == st->st_ino && in->size == st->st_size &&
            in->mtime.tv_sec == st->st_mtim.tv_sec && in->mtime.tv_nsec == st->st_mtim.tv_nsec)
            return 0; /* an input left as it was */
    }
    const char *name = path + strlen(c->scratch) + 1;
    c->bytes += (uint64_t)st->st_size;
    if (c->n >= PSB__MAX_FILES || c->bytes > c->limit) {
        c->over = true;
        return 1;
    }
    if (!psb__file_name_valid(name))
        return 0;
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 16;
        struct psb__file *grown = realloc(c->files, cap * sizeof *grown);
        if (!grown) {
            c->failed = true;
            return 1;
        }
        c->files = grown;
        c->cap = cap;
    }
    struct psb__file *f = &c->files[c->n];
    memset(f, 0, sizeof *f);
    /*
     * Opened relative to the scratch dir with no symlink and no mount crossing
     * anywhere on the path, not only at its end: the helper reads as root, and
     * the code could have swapped a directory for a symlink to a host file.
     */
    int fd = open_beneath(c->dirfd, name);
    struct stat now;
    f->name = strdup(name);
    bool ok = fd >= 0 && fstat(fd, &now) == 0 && S_ISREG(now.st_mode) && f->name &&
              psb__buf_append(&f->data, "", 0) == 0;
    char chunk[65536];
    ssize_t got;
    while (ok && (got = read(fd, chunk, sizeof chunk)) > 0) {
        if (f->data.len + (size_t)got > c->limit) {
            c->over = true;
            ok = false;
        } else if (psb__buf_append(&f->data, chunk, (size_t)got) != 0) {
            ok = false;
        }
    }
    if (fd >= 0)
        close(fd);
    c->n++;
    if (!ok && !c->over)
        c->failed = true;
    return ok ? 0 : 1;
}

static int by_name(const void *a, const void *b) {
    return strcmp(((const struct psb__file *)a)->name, ((const struct psb__file *)b)->name);
}

int psb__outputs_collect(const char *scratch, const struct psb__input_stat *inputs, size_t n_inputs,
                         uint64_t limit_bytes, struct psb__file **ret_files, size_t *ret_n) {
    struct outputs outs = {
        .scratch = scratch, .inputs = inputs, .n_inputs = n_inputs, .limit = limit_bytes};
    outs.dirfd = open(scratch, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (outs.dirfd < 0)
        /* cppcheck-suppress memleak ; open() failed, so there is no fd to leak */
        return -1;
    collecting = &outs;
    nftw(scratch, collect_entry, 16, FTW_PHYS | FTW_MOUNT);
    collecting = NULL;
    close(outs.dirfd);
    if (outs.over || outs.failed) {
        psb__files_free(outs.files, outs.n);
        *ret_files = NULL;
        *ret_n = 0;
        return outs.over ? 1 : -1;
    }
    if (outs.n > 1)
        qsort(outs.files, outs.n, sizeof *outs.files, by_name);
    *ret_files = outs.files;
    *ret_n = outs.n;
    return 0;
}

/* The regular files being listed by psb__scratch_stats() (nftw has no user pointer). */
static struct {
    struct psb__input_stat *stats;
    size_t n, cap;
    bool failed;
} listing;

static int list_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)path;
    (void)ftw;
    if (flag != FTW_F || !S_ISREG(st->st_mode))
        return 0;
    if (listing.n == listing.cap) {
        size_t cap = listing.cap ? listing.cap * 2 : 64;
        struct psb__input_stat *grown = realloc(listing.stats, cap * sizeof *grown);
        if (!grown) {
            listing.failed = true;
            return 1;
        }
        listing.stats = grown;
        listing.cap = cap;
    }
    listing.stats[listing.n++] =
        (struct psb__input_stat){st->st_dev, st->st_ino, st->st_size, st->st_mtim};
    return 0;
}

int psb__scratch_stats(const char *scratch, struct psb__input_stat **ret, size_t *ret_n) {
    memset(&listing, 0, sizeof listing);
    nftw(scratch, list_entry, 16, FTW_PHYS | FTW_MOUNT);
    if (listing.failed) {
        free(listing.stats);
        return -1;
    }
    *ret = listing.stats;
    *ret_n = listing.n;
    return 0;
}
