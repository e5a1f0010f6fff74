/*
 * hooks/importfilter.c - the import filter, installed from C: a wrapper
 * around builtins.__import__ (which also sees modules already in
 * sys.modules), a meta path finder and importlib guards. It judges the
 * imports user code asks for: the nearest frame outside the import
 * machinery decides whether the request is the user's or a library's.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <frameobject.h>

#include <limits.h>
#include <string.h>

#include "hooks/hooks.h"
#include "policy/request.h"

static PyObject *orig_import; /* builtins.__import__ before we replaced it */

/* true if a real module's own globals back this frame (not an exec'd dict). */
static bool frame_in_module(PyFrameObject *f) {
    PyObject *globals = PyObject_GetAttrString((PyObject *)f, "f_globals");
    bool ok = false;
    if (globals && PyDict_Check(globals)) {
        PyObject *name = PyDict_GetItemString(globals, "__name__");
        PyObject *modules = PySys_GetObject("modules");
        PyObject *mod = name && modules ? PyDict_GetItemWithError(modules, name) : NULL;
        if (mod && PyModule_Check(mod))
            ok =
                PyModule_GetDict(mod) == globals &&
                !(PyUnicode_Check(name) && PyUnicode_CompareWithASCIIString(name, "__main__") == 0);
    }
    Py_XDECREF(globals);
    PyErr_Clear();
    return ok;
}

/* true if the code asking for an import is user code. */
/*
 * With direct set, the innermost frame is the one that called __import__:
 * if that is the import machinery (or C code run by it, such as the
 * interpreter importing _io for itself), the request is not the user's.
 */
static bool caller_is_user(bool direct) {
    PyFrameObject *f = PyEval_GetFrame();
    Py_XINCREF(f);
    bool user = false;
    bool first = true;
    while (f) {
        PyCodeObject *code = PyFrame_GetCode(f);
        const char *fn = PyUnicode_AsUTF8(code->co_filename);
        Py_DECREF(code);
        if (!fn) {
            PyErr_Clear();
            user = true;
            break;
        }
        psb__frame_class cls =
            psb__frame_classify(fn, &psb__hooks.trusted, &psb__hooks.transparent);
        if (cls == PSB__FRAME_TRUSTED && !frame_in_module(f))
            cls = PSB__FRAME_USER; /* library filename on code run in someone else's dict */
        if (cls != PSB__FRAME_TRANSPARENT) {
            user = cls == PSB__FRAME_USER;
            break;
        }
        if (direct && first)
            break; /* user stays false */
        first = false;
        PyFrameObject *back = PyFrame_GetBack(f);
        Py_DECREF(f);
        f = back;
    }
    Py_XDECREF(f);
    return user;
}

bool psb__hooks_caller_is_user(void) {
    return caller_is_user(false);
}

/* 0 if module may be imported by the caller, else -1 with ImportError set. */
static int check_name(const char *module, bool direct) {
    if (!psb__hooks.armed)
        return 0;
    if (psb__import_allowed(psb__hooks.import_rules, psb__hooks.import_default_allow, module))
        return 0;
    if (!caller_is_user(direct))
        return 0;
    return psb__hooks_deny(PyExc_ImportError, PSB_KIND_IMPORT_DENIED, module,
                           "import of '%s' is not allowed by the sandbox policy", module);
}

static PyObject *check_import(PyObject *self, PyObject *arg) {
    (void)self;
    const char *name = PyUnicode_Check(arg) ? PyUnicode_AsUTF8(arg) : NULL;
    if (!name)
        return PyErr_Format(PyExc_TypeError, "module name must be a str");
    if (check_name(name, false) != 0)
        return NULL;
    Py_RETURN_NONE;
}

/*
 * Whether the policy lets user code import the module, whoever asks: the
 * inputs decoder (pyshim/inputs.py) runs before the filter is armed and
 * must not hand user code an object of a module it may not import.
 */
static PyObject *policy_allows(PyObject *self, PyObject *arg) {
    (void)self;
    const char *name = PyUnicode_Check(arg) ? PyUnicode_AsUTF8(arg) : NULL;
    if (!name)
        return PyErr_Format(PyExc_TypeError, "module name must be a str");
    return PyBool_FromLong(
        psb__import_allowed(psb__hooks.import_rules, psb__hooks.import_default_allow, name));
}

/*
 * The absolute name of a relative import, as importlib resolves it: 0; -2
 * when the importer has no package (importlib raises its own error); -1 when
 * it cannot be worked out here (too long, too many levels).
 */
static int resolve_relative(PyObject *globals, const char *name, int level, char *out,
                            size_t out_size) {
    PyObject *pkg =
        globals && PyDict_Check(globals) ? PyDict_GetItemString(globals, "__package__") : NULL;
    const char *base = pkg && PyUnicode_Check(pkg) ? PyUnicode_AsUTF8(pkg) : NULL;
    if (!base || !base[0])
        return -2; /* no package: the original __import__ raises the proper error */
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", base) >= (int)sizeof buf)
        return -1;
    for (int i = 1; i < level; i++) {
        char *dot = strrchr(buf, '.');
        if (!dot)
            return -1;
        *dot = '\0';
    }
    if ((size_t)snprintf(out, out_size, "%s%s%s", buf, name[0] ? "." : "", name) >= out_size)
        return -1;
    return 0;
}

static PyObject *import_wrapper(PyObject *self, PyObject *args, PyObject *kwargs) {
    (void)self;
    static char name_kw[] = "name", globals_kw[] = "globals", locals_kw[] = "locals",
                fromlist_kw[] = "fromlist", level_kw[] = "level";
    static char *kwlist[] = {name_kw, globals_kw, locals_kw, fromlist_kw, level_kw, NULL};
    PyObject *name, *globals = NULL, *locals = NULL, *fromlist = NULL;
    int level = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "U|OOOi:__import__", kwlist, &name, &globals,
                                     &locals, &fromlist, &level))
        return NULL;
    const char *n = PyUnicode_AsUTF8(name);
    if (!n)
        return NULL;
    char absname[4096];
    bool have = false, unresolvable = false;
    if (level == 0) {
        have = strlen(n) < sizeof absname;
        if (have)
            strcpy(absname, n);
    } else {
        int rc = resolve_relative(globals, n, level, absname, sizeof absname);
        have = rc == 0;
        unresolvable = rc == -1;
    }
    if (have && absname[0] && check_name(absname, true) != 0)
        return NULL;
    /* A name the filter cannot judge (a crafted __package__) is not let through. */
    if (!have && unresolvable && psb__hooks.armed && caller_is_user(true)) {
        psb__hooks_deny(PyExc_ImportError, PSB_KIND_IMPORT_DENIED, n,
                        "relative import of '%.200s' could not be checked, so it is not "
                        "allowed by the sandbox policy",
                        n);
        return NULL;
    }
    if (have && fromlist && PySequence_Check(fromlist) && !PyUnicode_Check(fromlist)) {
        Py_ssize_t count = PySequence_Size(fromlist);
        for (Py_ssize_t i = 0; i < count; i++) {
            PyObject *item = PySequence_GetItem(fromlist, i);
            const char *s = item && PyUnicode_Check(item) ? PyUnicode_AsUTF8(item) : NULL;
            char sub[4400];
            int rc = 0;
            if (s && strcmp(s, "*") != 0 &&
                (size_t)snprintf(sub, sizeof sub, "%s.%s", absname, s) < sizeof sub)
                rc = check_name(sub, true);
            Py_XDECREF(item);
            if (rc != 0)
                return NULL;
        }
        PyErr_Clear();
    }
    return PyObject_Call(orig_import, args, kwargs);
}

static PyMethodDef methods[] = {
    {"check_import", check_import, METH_O,
     "Raise ImportError if the policy refuses the module to the calling code."},
    {"policy_allows", policy_allows, METH_O,
     "True if the policy lets user code import the module (whoever calls)."},
    {"import_", (PyCFunction)(void (*)(void))import_wrapper, METH_VARARGS | METH_KEYWORDS,
     "__import__ that applies the sandbox policy to user code."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    "_pysandbox",
    "pysandbox's in-child hooks.",
    -1,
    methods,
    NULL,
    NULL,
    NULL,
    NULL,
};

void *psb__hooks_module_init(void) {
    return PyModule_Create(&module_def);
}

/* Adds every absolute directory on sys.path to the trusted and readable sets. */
static int add_sys_path(void) {
    PyObject *path = PySys_GetObject("path");
    if (!path || !PyList_Check(path))
        return 0;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(path); i++) {
        PyObject *item = PyList_GET_ITEM(path, i);
        const char *s = PyUnicode_Check(item) ? PyUnicode_AsUTF8(item) : NULL;
        if (!s) {
            PyErr_Clear();
            continue;
        }
        if (s[0] != '/')
            continue;
        /* Missing entries (python311.zip) simply do not resolve. */
        if (psb__pathset_add(&psb__hooks.trusted, s) == 0)
            psb__pathset_add(&psb__hooks.readable, s);
    }
    return 0;
}

/* Adds the directory of a package module to the transparent set. */
static void add_package_dir(PyObject *module) {
    PyObject *file = PyObject_GetAttrString(module, "__file__");
    const char *f = file && PyUnicode_Check(file) ? PyUnicode_AsUTF8(file) : NULL;
    char dir[PATH_MAX];
    if (f && strlen(f) < sizeof dir) {
        strcpy(dir, f);
        char *slash = strrchr(dir, '/');
        if (slash) {
            *slash = '\0';
            psb__pathset_add(&psb__hooks.transparent, dir);
        }
    }
    Py_XDECREF(file);
    PyErr_Clear();
}

/* Adds <stdlib>/name to the transparent set without importing it. */
static void add_stdlib_dir(const char *name) {
    PyObject *os = PyImport_ImportModule("os");
    PyObject *file = os ? PyObject_GetAttrString(os, "__file__") : NULL;
    const char *f = file && PyUnicode_Check(file) ? PyUnicode_AsUTF8(file) : NULL;
    char dir[PATH_MAX];
    if (f && strlen(f) + strlen(name) + 2 < sizeof dir) {
        strcpy(dir, f);
        char *slash = strrchr(dir, '/');
        if (slash) {
            strcpy(slash + 1, name);
            psb__pathset_add(&psb__hooks.transparent, dir);
        }
    }
    Py_XDECREF(file);
    Py_XDECREF(os);
    PyErr_Clear();
}

int psb__hooks_add_sites(const json_t *sites) {
    PyObject *path = PySys_GetObject("path"); /* borrowed */
    if (!path || !PyList_Check(path)) {
        PyErr_SetString(PyExc_RuntimeError, "sys.path is not a list");
        return -1;
    }
    /* Backwards, each to the front: sites[0] ends up first. */
    for (size_t i = json_array_size(sites); i-- > 0;) {
        const char *dir = json_string_value(json_array_get(sites, i));
        PyObject *s = dir ? PyUnicode_DecodeFSDefault(dir) : NULL;
        if (!s) {
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_TypeError, "a module layer's dir is not a string");
            return -1;
        }
        int rc = PySequence_Contains(path, s);
        if (rc == 0)
            rc = PyList_Insert(path, 0, s);
        Py_DECREF(s);
        if (rc < 0)
            return -1;
        /* A layer's packages are installed libraries: their own imports are theirs. */
        if (psb__pathset_add(&psb__hooks.trusted, dir) == 0)
            psb__pathset_add(&psb__hooks.readable, dir);
    }
    return 0;
}

int psb__hooks_configure(const struct psb__request *req, const char *scratch) {
    psb__hooks.denied_events = json_incref((json_t *)(uintptr_t)req->denied_events);
    psb__hooks.user_denied_events = json_incref((json_t *)(uintptr_t)req->user_denied_events);
    psb__hooks.import_rules = json_incref((json_t *)(uintptr_t)req->import_rules);
    psb__hooks.import_default_allow = req->default_allow;
    if (psb__hooks_set_paths(req->readable_paths, scratch) != 0) {
        PyErr_SetString(PyExc_RuntimeError, "cannot resolve the scratch dir");
        return -1;
    }
    if (req->writable && psb__pathset_add(&psb__hooks.writable, req->writable) != 0) {
        PyErr_SetString(PyExc_RuntimeError, "cannot resolve the writable dir");
        return -1;
    }
    return req->sites ? psb__hooks_add_sites(req->sites) : 0;
}

int psb__hooks_install(void *support_module) {
    PyObject *support = support_module;
    add_sys_path();

    /* importlib/ is import machinery and ctypes/ a thin layer over its C part:
     * the code that called into them decides. */
    PyObject *importlib = PyImport_ImportModule("importlib");
    if (!importlib)
        return -1;
    add_package_dir(importlib);
    add_stdlib_dir("ctypes");

    PyObject *ext = PyImport_ImportModule("_pysandbox");
    PyObject *builtins = PyEval_GetBuiltins();
    PyObject *install = PyObject_GetAttrString(support, "install_import_filter");
    int rc = -1;
    if (!ext || !builtins || !install)
        goto out;
    orig_import = PyDict_GetItemString(builtins, "__import__");
    if (!orig_import) {
        PyErr_SetString(PyExc_RuntimeError, "builtins.__import__ is missing");
        goto out;
    }
    Py_INCREF(orig_import);
    PyObject *wrapper = PyObject_GetAttrString(ext, "import_");
    if (!wrapper || PyDict_SetItemString(builtins, "__import__", wrapper) != 0) {
        Py_XDECREF(wrapper);
        goto out;
    }
    Py_DECREF(wrapper);
    PyObject *check = PyObject_GetAttrString(ext, "check_import");
    PyObject *r = check ? PyObject_CallFunctionObjArgs(install, check, importlib, NULL) : NULL;
    Py_XDECREF(check);
    if (!r)
        goto out;
    Py_DECREF(r);
    rc = 0;
out:
    Py_XDECREF(install);
    Py_XDECREF(ext);
    Py_DECREF(importlib);
    return rc;
}
