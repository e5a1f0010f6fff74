/*
 * policy/ns.c - namespaces and privileges. The helper enters fresh
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
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "embed/internal.h"
#include "policy/policy.h"

bool psb__ns_is_root(void) { return geteuid() == 0; }

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
