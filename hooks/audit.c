/*
 * hooks/audit.c - the PEP 578 audit hook, added from C before the
 * interpreter starts. Dormant until armed; then it refuses the policy's
 * denied events, reads outside the readable paths and writes outside the
 * scratch dir with a PermissionError that names the event.
 * https://peps.python.org/pep-0578/ (not a sandbox by itself: see DESIGN.md)
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <fcntl.h>
#include <sys/socket.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "hooks/hooks.h"

const psb__denial *psb__hooks_last_denial(void) {
    return &psb__hooks.last;
}

int psb__hooks_deny(void *exc_type, psb_error_kind kind, const char *name, const char *fmt, ...) {
    psb__denial *d = &psb__hooks.last;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->message, sizeof d->message, fmt, ap);
    va_end(ap);
    d->kind = kind;
    snprintf(d->name, sizeof d->name, "%s", name);
    if (exc_type == PyExc_ImportError) {
        PyObject *msg = PyUnicode_FromString(d->message);
        PyObject *mod = PyUnicode_FromString(name);
        if (msg && mod)
            PyErr_SetImportError(msg, mod, NULL);
        Py_XDECREF(msg);
        Py_XDECREF(mod);
    } else {
        PyErr_SetString((PyObject *)exc_type, d->message);
    }
    return -1;
}

static bool event_matches(const json_t *patterns, const char *event) {
    size_t i;
    json_t *e;
    json_array_foreach(patterns, i, e) {
        const char *pat = json_string_value(e);
        size_t n = strlen(pat);
        if (n && pat[n - 1] == '*') {
            if (strncmp(event, pat, n - 1) == 0)
                return true;
        } else if (strcmp(event, pat) == 0) {
            return true;
        }
    }
    return false;
}

/*
 * The filesystem path in a path-like argument, resolved; 0 = got one,
 * 1 = not a path (an fd or None: nothing to check), -1 = Python error.
 */
static int arg_path(PyObject *arg, char *out, size_t out_size) {
    if (arg == Py_None || PyLong_Check(arg))
        return 1;
    PyObject *fs = PyOS_FSPath(arg);
    if (!fs) {
        /* Not path-like, or a __fspath__ that raised (it may answer differently
         * when open() asks again): judged as an unknown path, which is refused. */
        PyErr_Clear();
        snprintf(out, out_size, "%s", "(not a path)");
        return 0;
    }
    PyObject *bytes = NULL;
    if (PyUnicode_Check(fs))
        bytes = PyUnicode_EncodeFSDefault(fs);
    else if (PyBytes_Check(fs))
        bytes = Py_NewRef(fs);
    Py_DECREF(fs);
    if (!bytes) {
        PyErr_Clear();
        return 1;
    }
    int rc = 0;
    const char *raw = PyBytes_AS_STRING(bytes);
    if ((size_t)PyBytes_GET_SIZE(bytes) != strlen(raw) || psb__path_resolve(raw, out, out_size))
        snprintf(out, out_size, "%s", "(invalid path)");
    Py_DECREF(bytes);
    return rc;
}

static int deny_path(const char *event, const char *path, bool write) {
    if (write)
        return psb__hooks_deny(PyExc_PermissionError, PSB_KIND_DENIED, event,
                               "writing '%s' is not allowed by the sandbox policy: files may "
                               "be written only in the working directory (audit event '%s')",
                               path, event);
    return psb__hooks_deny(PyExc_PermissionError, PSB_KIND_DENIED, event,
                           "reading '%s' is not allowed by the sandbox policy (audit event "
                           "'%s')",
                           path, event);
}

static int check_path_arg(const char *event, PyObject *args, Py_ssize_t idx, bool write) {
    char path[PATH_MAX];
    if (idx >= PyTuple_GET_SIZE(args))
        return 0;
    PyObject *arg = PyTuple_GET_ITEM(args, idx);
    if (!write && arg == Py_None)
        arg = NULL; /* os.listdir(None) means the cwd */
    if (!arg) {
        if (psb__path_resolve(".", path, sizeof path))
            return 0;
    } else if (arg_path(arg, path, sizeof path) != 0) {
        return 0;
    }
    if (strcmp(path, "/dev/null") == 0)
        return 0;
    bool ok = psb__pathset_contains(&psb__hooks.writable, path) ||
              (!write && psb__pathset_contains(&psb__hooks.readable, path));
    return ok ? 0 : deny_path(event, path, write);
}

static bool open_writes(PyObject *args) {
    Py_ssize_t n = PyTuple_GET_SIZE(args);
    PyObject *mode = n > 1 ? PyTuple_GET_ITEM(args, 1) : Py_None;
    PyObject *flags = n > 2 ? PyTuple_GET_ITEM(args, 2) : Py_None;
    if (mode != Py_None && PyUnicode_Check(mode)) {
        const char *m = PyUnicode_AsUTF8(mode);
        if (!m) {
            PyErr_Clear();
            return true;
        }
        if (strpbrk(m, "wax+"))
            return true;
    }
    if (flags != Py_None && PyLong_Check(flags)) {
        long f = PyLong_AsLong(flags);
        if (f == -1 && PyErr_Occurred()) {
            PyErr_Clear();
            return true;
        }
        if ((f & O_ACCMODE) != O_RDONLY || (f & (O_CREAT | O_TRUNC | O_APPEND)))
            return true;
    }
    return false;
}

/* Events that change the filesystem, and which of their arguments are paths. */
static const struct {
    const char *event;
    Py_ssize_t args[2]; /* -1: none */
} write_events[] = {
    {"os.remove", {0, -1}},
    {"os.rmdir", {0, -1}},
    {"os.rename", {0, 1}},
    {"os.mkdir", {0, -1}},
    {"os.symlink", {1, -1}},
    {"os.link", {0, 1}},
    {"os.chmod", {0, -1}},
    {"os.chown", {0, -1}},
    {"os.truncate", {0, -1}},
    {"os.utime", {0, -1}},
    {"os.setxattr", {0, -1}},
    {"os.removexattr", {0, -1}},
    {"os.chflags", {0, -1}},
    {"os.lchflags", {0, -1}},
    {"shutil.rmtree", {0, -1}},
    {"shutil.move", {0, 1}},
    {"shutil.make_archive", {0, -1}},
};

/*
 * socket.socketpair() (asyncio's self-pipe) makes AF_UNIX socket objects:
 * allowed here; the kernel layers still refuse socket() itself.
 */
static bool unix_socket_object(const char *event, PyObject *args) {
    if (strcmp(event, "socket.__new__") != 0 || PyTuple_GET_SIZE(args) < 2)
        return false;
    long family = PyLong_AsLong(PyTuple_GET_ITEM(args, 1));
    if (family == -1 && PyErr_Occurred())
        PyErr_Clear();
    return family == AF_UNIX;
}

static int audit_hook(const char *event, PyObject *args, void *data) {
    (void)data;
    if (!psb__hooks.armed || unix_socket_object(event, args))
        return 0;
    if (event_matches(psb__hooks.denied_events, event) ||
        (event_matches(psb__hooks.user_denied_events, event) && psb__hooks_caller_is_user()))
        return psb__hooks_deny(PyExc_PermissionError, PSB_KIND_DENIED, event,
                               "'%s' is not allowed by the sandbox policy (audit event '%s')",
                               event, event);
    if (strcmp(event, "open") == 0)
        return check_path_arg(event, args, 0, open_writes(args));
    if (strcmp(event, "os.listdir") == 0 || strcmp(event, "os.scandir") == 0)
        return check_path_arg(event, args, 0, false);
    for (size_t i = 0; i < sizeof write_events / sizeof write_events[0]; i++) {
        if (strcmp(event, write_events[i].event) != 0)
            continue;
        for (int k = 0; k < 2; k++)
            if (write_events[i].args[k] >= 0 &&
                check_path_arg(event, args, write_events[i].args[k], true) != 0)
                return -1;
        return 0;
    }
    return 0;
}

int psb__hooks_preinit(void) {
    return PySys_AddAuditHook(audit_hook, NULL);
}

void psb__hooks_arm(void) {
    psb__hooks.armed = true;
}
