/*
 * policy/confine/landlock.c - Landlock rules for one execution: reads below an
 * allow-list, writes only below the scratch dir, no TCP when the network
 * is off, and (ABI 6) no abstract unix sockets or signals beyond the
 * execution's own domain. Rights newer than the kernel's ABI are dropped.
 * https://docs.kernel.org/userspace-api/landlock.html
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/landlock.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "policy/confine/confine.h"

/* Newer than Debian 12's <linux/landlock.h>; values from the kernel's uapi. */
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE (1ULL << 14)
#endif
#ifndef LANDLOCK_ACCESS_FS_IOCTL_DEV
#define LANDLOCK_ACCESS_FS_IOCTL_DEV (1ULL << 15)
#endif
#define PSB_LL_NET_BIND_TCP (1ULL << 0)
#define PSB_LL_NET_CONNECT_TCP (1ULL << 1)
#define PSB_LL_SCOPE_ABSTRACT_UNIX_SOCKET (1ULL << 0)
#define PSB_LL_SCOPE_SIGNAL (1ULL << 1)

/* struct landlock_ruleset_attr as of ABI 6 (the kernel takes its size). */
struct ruleset_attr {
    uint64_t handled_access_fs;
    uint64_t handled_access_net;
    uint64_t scoped;
};

struct path_beneath {
    uint64_t allowed_access;
    int32_t parent_fd;
} __attribute__((packed));

#define FS_READ (LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR)
/* mmap(PROT_EXEC) of shared libraries needs no right; execve is never allowed. */
#define FS_ALL_V1 ((LANDLOCK_ACCESS_FS_MAKE_SYM << 1) - 1)

/* What the interpreter itself reads: its libraries and the loader's cache. */
static const char *const base_readable[] = {
    "/usr/lib",         "/usr/lib64",          "/usr/local/lib", "/lib",      "/lib64",
    "/etc/ld.so.cache", "/usr/share/zoneinfo", "/dev/null",      "/dev/zero", "/dev/urandom",
};

int psb__landlock_abi(void) {
    long v = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
    return v < 0 ? 0 : (int)v;
}

static int add_path(int ruleset, const char *path, uint64_t access, uint64_t handled) {
    int fd = open(path, O_PATH | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT || errno == EACCES ? 0 : -1; /* nothing to allow */
    /* A file gets only the rights that apply to files. */
    uint64_t file_rights = LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_WRITE_FILE |
                           LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_TRUNCATE |
                           LANDLOCK_ACCESS_FS_IOCTL_DEV;
    struct path_beneath pb = {.allowed_access = access & handled, .parent_fd = fd};
    long rc = syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &pb, 0);
    if (rc != 0 && errno == EINVAL) {
        pb.allowed_access &= file_rights; /* it was a file, not a directory */
        rc = syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &pb, 0);
    }
    int e = errno;
    close(fd);
    errno = e;
    return rc == 0 ? 0 : -1;
}

/* Each path of arr with these rights; 0, or -1 with *ret_what naming the one that failed. */
static int add_paths(int ruleset, const json_t *arr, uint64_t access, uint64_t handled,
                     const char **ret_what) {
    size_t i;
    json_t *e;
    json_array_foreach(arr, i, e) {
        const char *p = json_string_value(e);
        if (p && add_path(ruleset, p, access, handled) != 0) {
            *ret_what = p;
            return -1;
        }
    }
    return 0;
}

int psb__landlock_apply(const struct psb__landlock_spec *spec, const char **ret_what) {
    bool network = spec->network;
    int abi = psb__landlock_abi();
    if (abi < 1) {
        *ret_what = "landlock unavailable";
        errno = EOPNOTSUPP;
        return -1;
    }
    struct ruleset_attr attr = {.handled_access_fs = FS_ALL_V1};
    size_t attr_size = sizeof attr.handled_access_fs;
    if (abi >= 2)
        attr.handled_access_fs |= LANDLOCK_ACCESS_FS_REFER;
    if (abi >= 3)
        attr.handled_access_fs |= LANDLOCK_ACCESS_FS_TRUNCATE;
    if (abi >= 4 && !network) {
        attr.handled_access_net = PSB_LL_NET_BIND_TCP | PSB_LL_NET_CONNECT_TCP;
        attr_size = offsetof(struct ruleset_attr, scoped);
    }
    if (abi >= 5)
        attr.handled_access_fs |= LANDLOCK_ACCESS_FS_IOCTL_DEV;
    if (abi >= 6) {
        attr.scoped = PSB_LL_SCOPE_ABSTRACT_UNIX_SOCKET | PSB_LL_SCOPE_SIGNAL;
        attr_size = sizeof attr;
    }
    uint64_t handled = attr.handled_access_fs;
    int ruleset = (int)syscall(SYS_landlock_create_ruleset, &attr, attr_size, 0);
    if (ruleset < 0) {
        *ret_what = "landlock_create_ruleset";
        return -1;
    }
    int rc = -1;
    for (size_t i = 0; i < sizeof base_readable / sizeof base_readable[0]; i++)
        if (add_path(ruleset, base_readable[i], FS_READ, handled) != 0) {
            *ret_what = base_readable[i];
            goto out;
        }
    /* An external interpreter runs itself and its loader; nothing else is ever executed. */
    uint64_t no_exec = handled & ~(uint64_t)LANDLOCK_ACCESS_FS_EXECUTE;
    if (add_paths(ruleset, spec->readable_paths, FS_READ, handled, ret_what) != 0 ||
        add_paths(ruleset, spec->also_readable, FS_READ, handled, ret_what) != 0 ||
        add_paths(ruleset, spec->executable, FS_READ | LANDLOCK_ACCESS_FS_EXECUTE, handled,
                  ret_what) != 0)
        goto out;
    if (spec->cache_dir && add_path(ruleset, spec->cache_dir, FS_READ, handled) != 0) {
        *ret_what = spec->cache_dir;
        goto out;
    }
    /* Writing /dev/null is how code discards output. */
    if (add_path(ruleset, "/dev/null", LANDLOCK_ACCESS_FS_WRITE_FILE, handled) != 0 ||
        add_path(ruleset, spec->scratch, no_exec, handled) != 0) {
        *ret_what = "scratch dir rule";
        goto out;
    }
    if (spec->writable && add_path(ruleset, spec->writable, no_exec, handled) != 0) {
        *ret_what = spec->writable;
        goto out;
    }
    if (syscall(SYS_landlock_restrict_self, ruleset, 0) != 0) {
        *ret_what = "landlock_restrict_self";
        goto out;
    }
    rc = 0;
out : {
    int e2 = errno;
    close(ruleset);
    errno = e2;
}
    return rc;
}
