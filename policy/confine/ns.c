/*
 * policy/confine/ns.c - namespaces and privileges. The helper enters fresh
 * network, IPC and UTS namespaces once (preceded by a user namespace when
 * it is not root), so every child starts with no network interfaces and
 * costs nothing extra; each child then drops to an unprivileged uid with no
 * capabilities.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <sched.h>
#include <sys/mount.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "policy/confine/confine.h"

bool psb__ns_is_root(void) {
    return geteuid() == 0;
}

static int write_file(const char *path, const char *text) {
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = psb__write_all(fd, text, strlen(text));
    int e = errno;
    close(fd);
    errno = e;
    return rc;
}

int psb__ns_enter(bool network, const char **ret_what) {
    int flags = CLONE_NEWIPC | CLONE_NEWUTS | (network ? 0 : CLONE_NEWNET);
    if (!psb__ns_is_root()) {
        /* Unprivileged: a user namespace that maps only our own ids. */
        uid_t uid = geteuid();
        gid_t gid = getegid();
        char map[64];
        if (unshare(CLONE_NEWUSER) != 0) {
            *ret_what = "unshare(CLONE_NEWUSER)";
            return -1;
        }
        snprintf(map, sizeof map, "%u %u 1\n", (unsigned)uid, (unsigned)uid);
        if (write_file("/proc/self/setgroups", "deny") != 0 ||
            write_file("/proc/self/uid_map", map) != 0) {
            *ret_what = "uid_map";
            return -1;
        }
        snprintf(map, sizeof map, "%u %u 1\n", (unsigned)gid, (unsigned)gid);
        if (write_file("/proc/self/gid_map", map) != 0) {
            *ret_what = "gid_map";
            return -1;
        }
    }
    if (unshare(flags) != 0) {
        *ret_what = "unshare(net, ipc, uts)";
        return -1;
    }
    if (sethostname("pysandbox", 9) != 0) {
        *ret_what = "sethostname";
        return -1;
    }
    return 0;
}

int psb__ns_drop_privileges(unsigned uid, unsigned gid, const char **ret_what) {
    if (psb__ns_is_root()) {
        if (setgroups(0, NULL) != 0) {
            *ret_what = "setgroups";
            return -1;
        }
        if (setresgid(gid, gid, gid) != 0) {
            *ret_what = "setresgid";
            return -1;
        }
        if (setresuid(uid, uid, uid) != 0) {
            *ret_what = "setresuid";
            return -1;
        }
        if (geteuid() == 0 || getuid() == 0) {
            *ret_what = "still uid 0";
            errno = EPERM;
            return -1;
        }
    }
    /* Inside the helper's user namespace a process still holds capabilities. */
    struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof data);
    if (syscall(SYS_capset, &hdr, data) != 0) {
        *ret_what = "capset";
        return -1;
    }
    return 0;
}

/* struct mount_attr and its flags (Linux 5.12), newer than Debian 12's headers. */
struct psb_mount_attr {
    uint64_t attr_set;
    uint64_t attr_clr;
    uint64_t propagation;
    uint64_t userns_fd;
};
#define PSB_MOUNT_ATTR_RDONLY 0x1ull
#define PSB_MOUNT_ATTR_NOSUID 0x2ull
#define PSB_MOUNT_ATTR_NODEV 0x4ull
#define PSB_MOUNT_ATTR_NOEXEC 0x8ull
#define PSB_AT_RECURSIVE 0x8000
#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif

int psb__ns_private_fs(unsigned keep_cgroups_writable, const char **ret_what) {
    /*
     * Every mount read-only: Landlock does not cover metadata (chmod, utimes),
     * so without this a child could change the mode of any file its uid owns
     * (a non-root host's own files). Only the tmpfs mounts made after this
     * (/tmp here, the scratch dirs later) are writable.
     */
    struct psb_mount_attr ro = {.attr_set = PSB_MOUNT_ATTR_RDONLY};
    if (syscall(SYS_mount_setattr, AT_FDCWD, "/", PSB_AT_RECURSIVE, &ro, sizeof ro) != 0) {
        *ret_what = "mount_setattr(/, read-only)";
        return -1;
    }
    /* A private /tmp: the scratch dirs never touch the host's. */
    if (mount("psb-tmp", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
              "size=16m,nr_inodes=65536,mode=1777") != 0) {
        *ret_what = "mount(/tmp)";
        return -1;
    }
    /* The per-execution cgroups are made and removed after this. */
    struct psb_mount_attr rw = {.attr_clr = PSB_MOUNT_ATTR_RDONLY};
    if (keep_cgroups_writable & (1u << PSB__CG_PIDS))
        (void)syscall(SYS_mount_setattr, AT_FDCWD, "/sys/fs/cgroup/pids", 0, &rw, sizeof rw);
    if (keep_cgroups_writable & (1u << PSB__CG_MEMORY))
        (void)syscall(SYS_mount_setattr, AT_FDCWD, "/sys/fs/cgroup/memory", 0, &rw, sizeof rw);
    return 0;
}

int psb__ns_writable_dir(const char *dir, const char **ret_what) {
    /* A mount namespace of this child's own: the bind mount dies with it. */
    *ret_what = "unshare(mount namespace)";
    if (unshare(CLONE_NEWNS) != 0)
        return -1;
    *ret_what = "bind mount of the writable dir";
    if (mount(dir, dir, NULL, MS_BIND, NULL) != 0)
        return -1;
    /* Writable, and nothing on it runs: a module's files are read, never executed. */
    struct psb_mount_attr rw = {.attr_set = PSB_MOUNT_ATTR_NOSUID | PSB_MOUNT_ATTR_NODEV |
                                            PSB_MOUNT_ATTR_NOEXEC,
                                .attr_clr = PSB_MOUNT_ATTR_RDONLY};
    *ret_what = "mount_setattr(writable dir, read-write)";
    return syscall(SYS_mount_setattr, AT_FDCWD, dir, 0, &rw, sizeof rw) == 0 ? 0 : -1;
}
