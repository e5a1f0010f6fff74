/*
 * outputs.c - writes what the code produced to disk: the files it left in
 * its working directory (--output-dir) and its figures (--figures-dir).
 *
 * The names come from untrusted code and the directory may be shared, so
 * nothing below the directory the user named is trusted: every step is an
 * *at() call on a directory fd with O_NOFOLLOW, names that could leave the
 * directory are refused even though the library already validates them,
 * and an existing file is only ever rewritten in place when it is a plain
 * file with a single link (a hard link could point anywhere).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"

#define DIR_MODE 0755
#define FILE_MODE 0644

/*
 * name with every byte that could drive a terminal (controls, DEL) shown as
 * '?', cut to fit buf. Returns buf.
 */
static const char *shown(const char *name, char *buf, size_t size) {
    size_t i;

    for (i = 0; name[i] != '\0' && i + 1 < size; i++) {
        unsigned char c = (unsigned char)name[i];

        buf[i] = c < 0x20 || c == 0x7f ? '?' : (char)c;
    }
    buf[i] = '\0';
    return buf;
}

/* A one-line reason for errno e, worded for the refusals that matter here. */
static const char *reason(int e) {
    if (e == ELOOP)
        return "a symbolic link is in the way (not followed)";
    if (e == EEXIST || e == ENXIO) /* ENXIO: a FIFO or socket, see write_file_at() */
        return "something other than a plain file with one link is in the way";
    return strerror(e);
}

/*
 * 1 when name is relative and made of '/'-separated parts none of which is
 * empty, "." or "..": the only names that cannot leave the directory.
 */
static int name_is_safe(const char *name) {
    const char *part = name, *end;
    size_t len;

    if (name == NULL || name[0] == '\0' || name[0] == '/')
        return 0;
    for (;;) {
        end = strchr(part, '/');
        len = end != NULL ? (size_t)(end - part) : strlen(part);
        if (len == 0 || (len == 1 && part[0] == '.') ||
            (len == 2 && part[0] == '.' && part[1] == '.'))
            return 0;
        if (end == NULL)
            return 1;
        part = end + 1;
    }
}

int cli_open_out_dir(const char *path, int *ret_dirfd, char *errbuf, size_t errbuf_size) {
    char *copy = NULL, *p;
    struct stat st;
    int fd = -1, rc = -1, e;
    char saved;

    if (path[0] == '\0') {
        snprintf(errbuf, errbuf_size, "the directory name is empty");
        goto out;
    }
    copy = strdup(path);
    if (copy == NULL) {
        snprintf(errbuf, errbuf_size, "'%s': out of memory", path);
        goto out;
    }
    /* mkdir -p: each prefix that ends before a '/', then the whole path. */
    for (p = copy + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        saved = *p;
        *p = '\0';
        /* A read-only parent may say EROFS or EACCES for a directory that exists. */
        if (mkdir(copy, DIR_MODE) != 0 && (e = errno) != EEXIST &&
            !(stat(copy, &st) == 0 && S_ISDIR(st.st_mode))) {
            snprintf(errbuf, errbuf_size, "cannot create '%s': %s", copy, strerror(e));
            goto out;
        }
        *p = saved;
        if (saved == '\0')
            break;
    }
    fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(errbuf, errbuf_size, "cannot open '%s': %s", path, strerror(errno));
        goto out;
    }
    *ret_dirfd = fd;
    fd = -1;
    rc = 0;
out:
    if (fd >= 0)
        close(fd);
    free(copy);
    return rc;
}

/* Writes all of data to fd. Returns 0, or -1 with errno set. */
static int write_all(int fd, const char *data, size_t len) {
    ssize_t n;

    while (len > 0) {
        n = write(fd, data, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

/*
 * Opens (creating it) the directory `part` below dirfd without following a
 * symlink. Returns the new fd, or -1 with errno set.
 */
static int enter_dir(int dirfd, const char *part) {
    struct stat st;
    int fd, e;

    if (mkdirat(dirfd, part, DIR_MODE) != 0 && errno != EEXIST)
        return -1;
    fd = openat(dirfd, part, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        /* O_DIRECTORY wins over O_NOFOLLOW (ENOTDIR): name the symlink for the user. */
        e = errno;
        if (e == ENOTDIR && fstatat(dirfd, part, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
            S_ISLNK(st.st_mode))
            e = ELOOP;
        errno = e;
    }
    return fd;
}

/*
 * Creates or rewrites the file `base` in dirfd with data. Never follows a
 * symlink, never blocks on a FIFO (O_NONBLOCK), and truncates only a plain
 * file with one link. Returns 0, or -1 with errno set (EEXIST: something
 * else is in the way).
 */
static int write_file_at(int dirfd, const char *base, const void *data, size_t len) {
    struct stat st;
    int fd, rc = -1, e = 0;

    fd = openat(dirfd, base, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK,
                FILE_MODE);
    if (fd < 0)
        return -1;
    if (fstat(fd, &st) != 0) {
        e = errno;
        goto out;
    }
    /* O_TRUNC would cut a hard-linked file before this check could refuse it. */
    if (!S_ISREG(st.st_mode) || st.st_nlink != 1) {
        e = EEXIST;
        goto out;
    }
    if (ftruncate(fd, 0) != 0 || write_all(fd, data, len) != 0) {
        e = errno;
        goto out;
    }
    rc = 0;
out:
    if (close(fd) != 0 && rc == 0) {
        e = errno;
        rc = -1;
    }
    if (rc != 0)
        errno = e;
    return rc;
}

/*
 * Writes data as `name` (a safe relative name, see name_is_safe()) below
 * dirfd, creating the directories on the way. Returns 0, or -1 with errno
 * set.
 */
static int write_below(int dirfd, const char *name, const void *data, size_t len) {
    char *copy = strdup(name), *part, *slash;
    int cur = dirfd, next, rc = -1, e = ENOMEM;

    if (copy == NULL)
        goto out;
    part = copy;
    while ((slash = strchr(part, '/')) != NULL) {
        *slash = '\0';
        next = enter_dir(cur, part);
        if (next < 0) {
            e = errno;
            goto out;
        }
        if (cur != dirfd)
            close(cur);
        cur = next;
        part = slash + 1;
    }
    rc = write_file_at(cur, part, data, len);
    e = errno;
out:
    if (cur != dirfd)
        close(cur);
    free(copy);
    if (rc != 0)
        errno = e;
    return rc;
}

/*
 * Writes one output and reports a refusal or failure on stderr. flag names
 * the option for messages. Returns 1 when the output was not written because
 * of an error, 0 when it was written or skipped as unsafe.
 */
static size_t save_one(int dirfd, const char *flag, const char *dir_name, const char *name,
                       const void *data, size_t len) {
    char show[256];

    if (!name_is_safe(name)) {
        fprintf(stderr, CLI_PROG ": warning: %s: skipped the unsafe file name '%s'\n", flag,
                name != NULL ? shown(name, show, sizeof(show)) : "(null)");
        return 0;
    }
    if (write_below(dirfd, name, data, len) != 0) {
        fprintf(stderr, CLI_PROG ": error: %s: cannot write '%s/%s': %s\n", flag, dir_name,
                shown(name, show, sizeof(show)), reason(errno));
        return 1;
    }
    return 0;
}

size_t cli_write_files(int dirfd, const char *dir_name, const struct cli_view *outcome) {
    size_t failed = 0;

    for (size_t i = 0; i < outcome->n_files; i++) {
        const struct cli_blob *f = &outcome->files[i];
        failed += save_one(dirfd, "--output-dir", dir_name, f->name, f->data, f->len);
    }
    return failed;
}

size_t cli_write_figures(int dirfd, const char *dir_name, const struct cli_view *outcome) {
    size_t failed = 0;
    char name[48];

    for (size_t i = 0; i < outcome->n_figures; i++) {
        const struct cli_blob *f = &outcome->figures[i];
        snprintf(name, sizeof(name), "figure-%zu.png", i + 1);
        failed += save_one(dirfd, "--figures-dir", dir_name, name, f->data, f->len);
    }
    return failed;
}
