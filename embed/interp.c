/*
 * embed/interp.c - the interpreter's life in the helper and its children:
 * an isolated PyConfig with the audit hook added before initialization, the
 * import filter and the pyshim modules, the warm preload, Python's fork
 * bookkeeping, and a child's preparation before its request (run.c runs
 * the code).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "embed/convert.h"
#include "embed/embed.h"
#include "hooks/hooks.h"
#include "psb_pyshim_sources.h"

PyObject *psb__py_support;
PyObject *psb__py_decode_tag;
PyObject *psb__py_display;
PyObject *psb__py_ask;

/* Compiles and runs an embedded pyshim module as a fresh module object. */
const char *psb__pyshim_source(const char *name) {
    for (size_t i = 0; psb_pyshim_sources[i].name; i++)
        if (strcmp(psb_pyshim_sources[i].name, name) == 0)
            return (const char *)psb_pyshim_sources[i].source;
    return NULL;
}

static PyObject *load_pyshim(const char *name) {
    for (size_t i = 0; psb_pyshim_sources[i].name; i++) {
        if (strcmp(psb_pyshim_sources[i].name, name) != 0)
            continue;
        char filename[96], modname[96];
        snprintf(filename, sizeof filename, "<pysandbox/%s.py>", name);
        snprintf(modname, sizeof modname, "_pysandbox_%s", name);
        PyObject *code =
            Py_CompileString((const char *)psb_pyshim_sources[i].source, filename, Py_file_input);
        if (!code)
            return NULL;
        PyObject *mod = PyImport_ExecCodeModuleEx(modname, code, filename);
        Py_DECREF(code);
        return mod;
    }
    PyErr_Format(PyExc_RuntimeError, "pyshim module %s missing", name);
    return NULL;
}

static PyStatus init_python(void) {
    PyConfig config;
    PyConfig_InitIsolatedConfig(&config);
    config.install_signal_handlers = 1; /* SIGINT at the deadline -> KeyboardInterrupt */
    config.buffered_stdio = 0;          /* output so far survives a kill */
    config.write_bytecode = 0;
    config.parse_argv = 0;
    config.site_import = 1; /* Debian's dist-packages come from site */
    /* Path configuration as for the system interpreter: prefix /usr. */
    PyStatus st = PyConfig_SetBytesString(&config, &config.program_name, PSB_PYTHON_EXECUTABLE);
    if (!PyStatus_Exception(st))
        st = Py_InitializeFromConfig(&config);
    PyConfig_Clear(&config);
    return st;
}

/* Python's repr of a float: the shortest exact form, from David Gay's dtoa. */
static void python_float_repr(double d, char *out, size_t size) {
    char *text = PyOS_double_to_string(d, 'r', 0, Py_DTSF_ADD_DOT_0, NULL);
    snprintf(out, size, "%s", text ? text : "0.0");
    PyMem_Free(text);
}

/* Set in a warm helper (and so in its children): Python is already running. */
static bool warm;

bool psb__interp_is_warm(void) {
    return warm;
}

/* Starts an interpreter with the hooks installed (dormant). 0 or -1 + msg. */
static int setup_interpreter(char *msg, size_t msg_size) {
    if (psb__hooks_preinit() != 0) {
        snprintf(msg, msg_size, "cannot add the audit hook");
        return -1;
    }
    if (PyImport_AppendInittab("_pysandbox", (PyObject * (*)(void)) psb__hooks_module_init) != 0) {
        snprintf(msg, msg_size, "cannot register the _pysandbox module");
        return -1;
    }
    PyStatus st = init_python();
    if (PyStatus_Exception(st)) {
        snprintf(msg, msg_size, "Python initialization failed: %s", st.err_msg ? st.err_msg : "?");
        return -1;
    }
    psb__json_set_real_format(python_float_repr); /* every result of this interpreter */
    psb__py_support = load_pyshim("support");
    PyObject *inputs_mod = psb__py_support ? load_pyshim("inputs") : NULL;
    psb__py_decode_tag = inputs_mod ? PyObject_GetAttrString(inputs_mod, "decode_tag") : NULL;
    Py_XDECREF(inputs_mod);
    psb__py_display = psb__py_decode_tag ? load_pyshim("display") : NULL;
    psb__py_ask = psb__py_display ? load_pyshim("ask") : NULL;
    /* display() is a builtin, as in a notebook. */
    PyObject *show = psb__py_ask ? PyObject_GetAttrString(psb__py_display, "display") : NULL;
    PyObject *builtins = show ? PyEval_GetBuiltins() : NULL; /* borrowed */
    int bound = builtins ? PyDict_SetItemString(builtins, "display", show) : -1;
    Py_XDECREF(show);
    /* Module layers before the hooks take sys.path's roots and before the preload. */
    if (bound != 0 || (psb__helper.sites && psb__hooks_add_sites(psb__helper.sites) != 0) ||
        psb__hooks_install(psb__py_support) != 0) {
        PyErr_Print();
        snprintf(msg, msg_size, "installing the sandbox hooks failed");
        return -1;
    }
    return 0;
}

int psb__interp_init(char *msg, size_t msg_size) {
    /* One thread per child: BLAS and OpenMP pools would be lost at fork. */
    static const char *const single_thread[] = {"OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
                                                "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS",
                                                "VECLIB_MAXIMUM_THREADS"};
    for (size_t i = 0; i < sizeof single_thread / sizeof single_thread[0]; i++)
        setenv(single_thread[i], "1", 1);
    setenv("MPLBACKEND", "Agg", 1);
    psb__pages_arenas_begin();
    if (setup_interpreter(msg, msg_size) != 0)
        return -1;
    warm = true; /* initialized here: children continue from this state */
    return 0;
}

/* The preload list as a Python list (None: the default set); NULL on error. */
static PyObject *preload_names(const char *preload) {
    if (!preload)
        return Py_NewRef(Py_None);
    if (preload[0] == '\0')
        return PyList_New(0);
    PyObject *text = PyUnicode_FromString(preload);
    PyObject *sep = PyUnicode_FromString(",");
    PyObject *names = text && sep ? PyUnicode_Split(text, sep, -1) : NULL;
    Py_XDECREF(text);
    Py_XDECREF(sep);
    return names;
}

/* Calls support.fn(names); None is success, a string says why not. 0 or -1 + msg. */
static int call_with_names(const char *fn, const char *preload, char *msg, size_t msg_size) {
    PyObject *names = preload_names(preload);
    PyObject *r = names ? PyObject_CallMethod(psb__py_support, fn, "O", names) : NULL;
    Py_XDECREF(names);
    if (!r) {
        PyErr_Clear();
        snprintf(msg, msg_size, "preloading failed");
        return -1;
    }
    int rc = 0;
    if (r != Py_None) {
        const char *why = PyUnicode_AsUTF8(r);
        snprintf(msg, msg_size, "%s", why ? why : "preloading failed");
        rc = -1;
    }
    Py_DECREF(r);
    return rc;
}

int psb__interp_preload(const char *preload, char *msg, size_t msg_size) {
    return call_with_names("preload", preload, msg, msg_size);
}

int psb__interp_check_preload(const char *preload, char *msg, size_t msg_size) {
    return preload ? call_with_names("check_preload", preload, msg, msg_size) : 0;
}

int psb__interp_warm_init(const char *preload, char *msg, size_t msg_size) {
    if (psb__interp_init(msg, msg_size) != 0)
        return -1;
    return psb__interp_preload(preload, msg, msg_size);
}

void psb__interp_after_fork_child(void) {
    if (warm)
        PyOS_AfterFork_Child();
}

void psb__interp_before_fork(void) {
    if (warm)
        PyOS_BeforeFork();
}

/*
 * A session's own forks run none of the code's os.register_at_fork()
 * callbacks before or in the parent: they would run while the helper allows
 * the fork, and could spend that on a fork of their own. The child's
 * bookkeeping (PyOS_AfterFork_Child) re-initializes the import lock and the
 * thread states whoever held them; its callbacks run once the forks are
 * spent, where a fork fails like any other.
 */
void psb__interp_forked_child(void) {
    PyOS_AfterFork_Child();
}

void psb__interp_after_fork_parent(void) {
    if (warm)
        PyOS_AfterFork_Parent();
}

int psb__interp_prepare(char *msg, size_t msg_size) {
    if (!warm)
        return setup_interpreter(msg, msg_size);
    PyOS_AfterFork_Child();
    /* What Python's initialization does, undone by the signal reset after fork. */
    signal(SIGPIPE, SIG_IGN);
    signal(SIGXFSZ, SIG_IGN);
    PyObject *r = PyObject_CallMethod(psb__py_support, "after_fork", NULL);
    if (!r) {
        PyErr_Clear();
        snprintf(msg, msg_size, "preparing the forked interpreter failed");
        return -1;
    }
    Py_DECREF(r);
    if (psb__helper.start == PSB_START_EARLY) {
        char fonts[4200];
        bool cached = psb__cache_trusted() && psb__helper.cache_dir;
        snprintf(fonts, sizeof fonts, "%s/matplotlib", cached ? psb__helper.cache_dir : "");
        r = PyObject_CallMethod(psb__py_support, "early", "s", cached ? fonts : NULL);
        Py_XDECREF(r);
        if (!r) {
            PyErr_Clear();
            snprintf(msg, msg_size, "preparing the early interpreter failed");
            return -1;
        }
    }
    /* Copy-on-write faults of a small run, taken now rather than after the request. */
    r = PyObject_CallMethod(psb__py_support, "pretouch", NULL);
    if (r) {
        char *error = NULL;
        json_t *j = psb__py_to_json(r, NULL, &error);
        char *text = j ? psb__json_dumps(j) : NULL;
        free(text);
        free(error);
        json_decref(j);
        Py_DECREF(r);
    }
    PyErr_Clear();
    return 0;
}
