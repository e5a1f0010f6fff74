/*
 * embed/interp.c - the interpreter inside an execution child: an isolated
 * PyConfig with the audit hook added before initialization, the import
 * filter, `inputs` bound, the prelude and the code run in __main__, and the
 * `result` global (or the error) sent back as JSON.
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

#define USER_FILENAME "<sandbox>"
#define PRELUDE_FILENAME "<prelude>"

/* The raised exception, normalized, with its traceback attached; NULL if none. */
static PyObject *take_exception(void) {
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    if (!type)
        return NULL;
    PyErr_NormalizeException(&type, &value, &tb);
    if (tb && value)
        PyException_SetTraceback(value, tb);
    Py_XDECREF(type);
    Py_XDECREF(tb);
    return value;
}

/* Raises exc again (steals the reference). */
static void restore_exception(PyObject *exc) {
    PyErr_Restore(Py_NewRef((PyObject *)Py_TYPE(exc)), exc, PyException_GetTraceback(exc));
}

static _Noreturn void fatal(int fd, const char *what) {
    char msg[512];
    PyObject *exc = take_exception();
    PyObject *s = exc ? PyObject_Str(exc) : NULL;
    const char *detail = s ? PyUnicode_AsUTF8(s) : NULL;
    snprintf(msg, sizeof msg, "sandbox set-up failed: %s%s%s", what, detail ? ": " : "",
             detail ? detail : "");
    psb__child_reply(fd, PSB_KIND_INTERNAL, NULL, msg, NULL, NULL, NULL, NULL, 0, NULL);
    _exit(PSB__CHILD_SETUP_FAILED);
}

/* Compiles and runs an embedded pyshim module as a fresh module object. */
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

/* Kind of an uncaught exception, and the denied module/event if ours. */
static psb_error_kind classify(PyObject *exc, const char **ret_module, const char **ret_event) {
    const psb__denial *d = psb__hooks_last_denial();
    *ret_module = *ret_event = NULL;
    if (PyErr_GivenExceptionMatches(exc, PyExc_MemoryError))
        return PSB_KIND_MEMORY_LIMIT;
    /* A syscall the seccomp filter refused surfaces as OSError(EPERM). */
    const char *sys = psb__seccomp_last_denied();
    if (sys && PyErr_GivenExceptionMatches(exc, PyExc_OSError)) {
        PyObject *no = PyObject_GetAttrString(exc, "errno");
        long e = no && PyLong_Check(no) ? PyLong_AsLong(no) : 0;
        Py_XDECREF(no);
        PyErr_Clear();
        if (e == EPERM) {
            static char event[80];
            snprintf(event, sizeof event, "syscall:%s", sys);
            *ret_event = event;
            return PSB_KIND_DENIED;
        }
    }
    if (d->kind != PSB_KIND_NONE) {
        PyObject *s = PyObject_Str(exc);
        const char *text = s ? PyUnicode_AsUTF8(s) : NULL;
        bool ours = text && strcmp(text, d->message) == 0;
        Py_XDECREF(s);
        PyErr_Clear();
        if (ours && d->kind == PSB_KIND_IMPORT_DENIED) {
            *ret_module = d->name;
            return PSB_KIND_IMPORT_DENIED;
        }
        if (ours) {
            *ret_event = d->name;
            return PSB_KIND_DENIED;
        }
    }
    return PSB_KIND_EXCEPTION;
}

/* The execution being run (for limits quoted in messages, and its files). */
static const struct psb__child_run *current;
/* The support module (pyshim/support.py), loaded once per interpreter. */
static PyObject *support;
/* inputs.decode_tag (pyshim/inputs.py): tagged inputs back into Python values. */
static PyObject *decode_tag;
/* pyshim/display.py: the last expression and display(). */
static PyObject *display_mod;

static uint64_t request_limit(enum psb__limit_id id) {
    return current->req->limits.v[id];
}

/* What goes back besides the status and the result: displays, figures and files. */
struct extras {
    PyObject *list;          /* the figures' PNG bytes (a list), or NULL */
    psb__buf *figures;       /* views of them */
    size_t n_figures;        /* entries in figures */
    bool figures_trunc;      /* the caps dropped some */
    psb__buf *displays;      /* DISPLAY payloads */
    size_t n_displays;       /* entries in displays */
    bool displays_trunc;     /* the display caps dropped or cut some */
    struct psb__file *files; /* the files the code left in its working directory */
    size_t n_files;          /* entries in files */
    int files_over;          /* psb__outputs_collect(): 1 over the caps, -1 unreadable */
};

/*
 * Every matplotlib figure shown or still open, as PNG within the figure
 * cap, and the files in the working directory; gathered before the reply
 * so a cap that breaks can still change it.
 */
static void gather(struct extras *x) {
    memset(x, 0, sizeof *x);
    PyObject *r = PyObject_CallMethod(support, "collect_figures", "Ki",
                                      (unsigned long long)request_limit(PSB__LIMIT_FIGURES_BYTES),
                                      PSB__MAX_FIGURES);
    if (r && PyTuple_Check(r) && PyTuple_GET_SIZE(r) == 2 && PyList_Check(PyTuple_GET_ITEM(r, 0))) {
        x->list = Py_NewRef(PyTuple_GET_ITEM(r, 0));
        x->figures_trunc = PyObject_IsTrue(PyTuple_GET_ITEM(r, 1)) == 1;
        Py_ssize_t n = PyList_GET_SIZE(x->list);
        x->figures = n ? calloc((size_t)n, sizeof *x->figures) : NULL;
        for (Py_ssize_t i = 0; x->figures && i < n; i++) {
            PyObject *b = PyList_GET_ITEM(x->list, i);
            if (!PyBytes_Check(b))
                continue;
            x->figures[x->n_figures].data = PyBytes_AS_STRING(b);
            x->figures[x->n_figures++].len = (size_t)PyBytes_GET_SIZE(b);
        }
    }
    Py_XDECREF(r);
    PyErr_Clear();
    x->displays_trunc = psb__displays_gather(display_mod, &x->displays, &x->n_displays);
    x->files_over =
        psb__outputs_collect(current->scratch, current->inputs, current->n_inputs,
                             request_limit(PSB__LIMIT_FILES_BYTES), &x->files, &x->n_files);
}

/* Sends the reply with the extras, and exits. */
static _Noreturn void reply_and_exit(int fd, psb_error_kind kind, const char *type,
                                     const char *message, const char *tb, const char *module,
                                     const char *event, const char *result, size_t result_len,
                                     bool with_extras) {
    struct extras x;
    char msg[200];
    if (with_extras) {
        gather(&x);
    } else {
        memset(&x, 0, sizeof x);
    }
    if (x.files_over != 0 && (kind == PSB_KIND_NONE || kind == PSB_KIND_EXCEPTION)) {
        snprintf(msg, sizeof msg,
                 x.files_over > 0 ? "the files written in the working directory exceed the limit "
                                    "of %llu bytes or %d files"
                                  : "reading the files written in the working directory failed "
                                    "(limit %llu bytes, %d files)",
                 (unsigned long long)request_limit(PSB__LIMIT_FILES_BYTES), PSB__MAX_FILES);
        kind = x.files_over > 0 ? PSB_KIND_OUTPUT_LIMIT : PSB_KIND_INTERNAL;
        type = tb = module = event = NULL;
        message = msg;
    }
    struct psb__reply_extras rx = {.displays = x.displays,
                                   .n_displays = x.n_displays,
                                   .displays_truncated = x.displays_trunc,
                                   .figures = x.figures,
                                   .n_figures = x.n_figures,
                                   .figures_truncated = x.figures_trunc,
                                   .files = x.files,
                                   .n_files = x.n_files};
    psb__child_reply(fd, kind, type, message, tb, module, event, result, result_len, &rx);
    _exit(0);
}

/* Replies with the raised exception; kind PSB_KIND_NONE: classify it. */
static _Noreturn void report_exception(int fd, PyObject *support_mod, psb_error_kind kind) {
    PyObject *exc = take_exception();
    const char *module = NULL, *event = NULL;
    if (kind == PSB_KIND_NONE)
        kind = classify(exc, &module, &event);
    PyObject *fmt = PyObject_CallMethod(support_mod, "format_exception", "O", exc);
    const char *type = NULL, *message = NULL, *tb = NULL;
    if (fmt && PyTuple_Check(fmt) && PyTuple_GET_SIZE(fmt) == 3) {
        type = PyUnicode_AsUTF8(PyTuple_GET_ITEM(fmt, 0));
        message = PyUnicode_AsUTF8(PyTuple_GET_ITEM(fmt, 1));
        tb = PyUnicode_AsUTF8(PyTuple_GET_ITEM(fmt, 2));
    }
    if (!type) {
        PyErr_Clear();
        type = Py_TYPE(exc)->tp_name;
        message = "(the exception could not be formatted)";
    }
    char mem_msg[160];
    if (kind == PSB_KIND_MEMORY_LIMIT && (!message || !message[0])) {
        snprintf(mem_msg, sizeof mem_msg,
                 "out of memory: the execution reached its memory limit of %llu MiB",
                 (unsigned long long)request_limit(PSB__LIMIT_MEMORY_MIB));
        message = mem_msg;
    }
    reply_and_exit(fd, kind, type, message, tb, module, event, NULL, 0, true);
}

/* true if the raised exception is SystemExit(0 / None): a normal end. */
static bool clean_exit(void) {
    if (!PyErr_ExceptionMatches(PyExc_SystemExit))
        return false;
    PyObject *exc = take_exception();
    PyObject *code = PyObject_GetAttrString(exc, "code");
    bool clean = code == Py_None || (code && PyLong_Check(code) && PyLong_AsLong(code) == 0);
    Py_XDECREF(code);
    if (clean) {
        Py_DECREF(exc);
        PyErr_Clear();
    } else {
        restore_exception(exc);
    }
    return clean;
}

/*
 * Runs source in globals. With `cell`, as a notebook runs a cell: the value
 * of a last expression statement becomes an execute_result display.
 * Returns 0, 1 after a clean sys.exit(), or -1.
 */
static int run_source(int fd, PyObject *support_mod, const char *source, const char *filename,
                      PyObject *globals, bool cell) {
    PyObject *text = PyUnicode_FromString(source);
    PyObject *r =
        text ? PyObject_CallMethod(support_mod, "register_source", "sO", filename, text) : NULL;
    Py_XDECREF(r);
    if (!r) {
        Py_XDECREF(text);
        fatal(fd, "registering the source");
    }
    PyObject *code = NULL, *expr = NULL;
    if (cell) {
        PyObject *pair = PyObject_CallMethod(display_mod, "compile_cell", "Os", text, filename);
        if (pair && PyTuple_Check(pair) && PyTuple_GET_SIZE(pair) == 2) {
            code = Py_NewRef(PyTuple_GET_ITEM(pair, 0));
            expr =
                PyTuple_GET_ITEM(pair, 1) == Py_None ? NULL : Py_NewRef(PyTuple_GET_ITEM(pair, 1));
        }
        Py_XDECREF(pair);
    } else {
        code = Py_CompileStringExFlags(source, filename, Py_file_input, NULL, 0);
    }
    Py_DECREF(text);
    if (!code)
        report_exception(fd, support_mod,
                         PyErr_ExceptionMatches(PyExc_SyntaxError) ? PSB_KIND_SYNTAX_ERROR
                                                                   : PSB_KIND_NONE);
    PyObject *ret = PyEval_EvalCode(code, globals, globals);
    Py_DECREF(code);
    if (ret && expr) {
        Py_DECREF(ret);
        ret = PyEval_EvalCode(expr, globals, globals);
        PyObject *shown = ret ? PyObject_CallMethod(display_mod, "show_value", "O", ret) : NULL;
        Py_XDECREF(shown);
        if (ret && !shown)
            PyErr_Clear(); /* showing it failed: the value is simply not shown */
    }
    Py_XDECREF(expr);
    if (ret) {
        Py_DECREF(ret);
        return 0;
    }
    return clean_exit() ? 1 : -1;
}

/* Python's repr of a float: the shortest exact form, from David Gay's dtoa. */
static void python_float_repr(double d, char *out, size_t size) {
    char *text = PyOS_double_to_string(d, 'r', 0, Py_DTSF_ADD_DOT_0, NULL);
    snprintf(out, size, "%s", text ? text : "0.0");
    PyMem_Free(text);
}

/* Set in a warm helper (and so in its children): Python is already running. */
static bool warm;

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
    support = load_pyshim("support");
    PyObject *inputs_mod = support ? load_pyshim("inputs") : NULL;
    decode_tag = inputs_mod ? PyObject_GetAttrString(inputs_mod, "decode_tag") : NULL;
    Py_XDECREF(inputs_mod);
    display_mod = decode_tag ? load_pyshim("display") : NULL;
    /* display() is a builtin, as in a notebook. */
    PyObject *show = display_mod ? PyObject_GetAttrString(display_mod, "display") : NULL;
    PyObject *builtins = show ? PyEval_GetBuiltins() : NULL; /* borrowed */
    int bound = builtins ? PyDict_SetItemString(builtins, "display", show) : -1;
    Py_XDECREF(show);
    if (bound != 0 || psb__hooks_install(support) != 0) {
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
    PyObject *r = names ? PyObject_CallMethod(support, fn, "O", names) : NULL;
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

void psb__interp_after_fork_parent(void) {
    if (warm)
        PyOS_AfterFork_Parent();
}

/* The child's C environment as a dict, for os.environ. */
static PyObject *environ_dict(void) {
    extern char **environ;
    PyObject *d = PyDict_New();
    for (char **e = environ; d && e && *e; e++) {
        const char *eq = strchr(*e, '=');
        if (!eq)
            continue;
        PyObject *k = PyUnicode_DecodeFSDefaultAndSize(*e, eq - *e);
        PyObject *v = PyUnicode_DecodeFSDefault(eq + 1);
        if (!k || !v || PyDict_SetItem(d, k, v) != 0) {
            Py_XDECREF(k);
            Py_XDECREF(v);
            Py_DECREF(d);
            return NULL;
        }
        Py_DECREF(k);
        Py_DECREF(v);
    }
    return d;
}

int psb__interp_prepare(char *msg, size_t msg_size) {
    if (!warm)
        return setup_interpreter(msg, msg_size);
    PyOS_AfterFork_Child();
    /* What Python's initialization does, undone by the signal reset after fork. */
    signal(SIGPIPE, SIG_IGN);
    signal(SIGXFSZ, SIG_IGN);
    PyObject *r = PyObject_CallMethod(support, "after_fork", NULL);
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
        r = PyObject_CallMethod(support, "early", "s", cached ? fonts : NULL);
        Py_XDECREF(r);
        if (!r) {
            PyErr_Clear();
            snprintf(msg, msg_size, "preparing the early interpreter failed");
            return -1;
        }
    }
    /* Copy-on-write faults of a small run, taken now rather than after the request. */
    r = PyObject_CallMethod(support, "pretouch", NULL);
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

/*
 * Binds `inputs` in globals, its tagged values decoded. Called fully
 * confined, as a library the code called would run: decoding a tag may
 * import numpy or pandas, whose import-time probes (platform's subprocess
 * call) must meet the audit hook and seccomp like the code's own imports.
 * The decoder's frames are not user code, so the filter lets its imports
 * through; it asks the policy itself before it builds a value of a module
 * (pyshim/inputs.py). A malformed tag is reported before any user code runs.
 */
static void bind_inputs(int fd, const json_t *inputs_json, PyObject *globals) {
    json_t *empty = json_object();
    PyObject *inputs = psb__inputs_to_py(inputs_json ? inputs_json : empty, decode_tag);
    json_decref(empty);
    if (!inputs)
        report_exception(fd, support, PSB_KIND_NONE);
    if (PyDict_SetItemString(globals, "inputs", inputs) != 0)
        fatal(fd, "binding inputs");
    Py_DECREF(inputs);
}

_Noreturn void psb__interp_run(const struct psb__child_run *run, int fd, bool seccomp_done) {
    current = run;
    const struct psb__request *req = run->req;
    const char *scratch = run->scratch;
    if (!warm) {
        PyObject *r = PyObject_CallMethod(support, "after_fork", NULL);
        Py_XDECREF(r);
        if (!r)
            fatal(fd, "preparing the interpreter");
    }
    if (psb__hooks_configure(req, scratch) != 0)
        fatal(fd, "configuring the sandbox hooks");
    PyObject *env = environ_dict();
    PyObject *globals = env ? PyObject_CallMethod(support, "enter", "O", env) : NULL;
    Py_XDECREF(env);
    if (!globals || !PyDict_Check(globals))
        fatal(fd, "preparing the interpreter");
    /* Seccomp goes last: everything above may use what user code may not. */
    if (!seccomp_done && psb__child_load_seccomp() != 0)
        fatal(fd, "loading the seccomp filter");
    if (psb__helper.layers & PSB_LAYER_HOOKS)
        psb__hooks_arm();
    bind_inputs(fd, req->inputs, globals);
    const char *prelude = req->prelude;
    int rc = 0;
    PyObject *begun =
        PyObject_CallMethod(display_mod, "begin_displays", "KK",
                            (unsigned long long)req->limits.v[PSB__LIMIT_DISPLAY_BYTES],
                            (unsigned long long)req->limits.v[PSB__LIMIT_DISPLAYS_BYTES]);
    if (!begun)
        fatal(fd, "preparing the displays");
    Py_DECREF(begun);
    if (prelude)
        rc = run_source(fd, support, prelude, PRELUDE_FILENAME, globals, false);
    if (rc == 0)
        rc = run_source(fd, support, req->code, USER_FILENAME, globals, true);
    if (rc < 0)
        report_exception(fd, support, PSB_KIND_NONE);

    /* stdio is unbuffered, but a replaced sys.stdout may still hold text. */
    const char *const streams[] = {"stdout", "stderr"};
    for (int i = 0; i < 2; i++) {
        PyObject *stream = PySys_GetObject(streams[i]); /* borrowed */
        PyObject *r = stream ? PyObject_CallMethod(stream, "flush", NULL) : NULL;
        Py_XDECREF(r);
        PyErr_Clear();
    }

    /* A reference of our own: converting it may run user code that rebinds `result`. */
    PyObject *result = PyDict_GetItemString(globals, "result");
    Py_XINCREF(result);
    char *error = NULL;
    PyObject *fallback = PyObject_GetAttrString(support, "jsonable");
    PyErr_Clear();
    json_t *j = result ? psb__py_to_json(result, fallback, &error) : json_null();
    Py_XDECREF(fallback);
    Py_XDECREF(result);
    if (!j) {
        if (PyErr_Occurred() && PyErr_ExceptionMatches(PyExc_MemoryError))
            reply_and_exit(fd, PSB_KIND_MEMORY_LIMIT, "MemoryError", error, NULL, NULL, NULL, NULL,
                           0, false);
        reply_and_exit(fd, PSB_KIND_RESULT_NOT_SERIALIZABLE, NULL, error, NULL, NULL, NULL, NULL, 0,
                       false);
    }
    char *text = psb__json_dumps(j);
    json_decref(j);
    if (!text)
        reply_and_exit(fd, PSB_KIND_MEMORY_LIMIT, "MemoryError",
                       "out of memory while encoding the result", NULL, NULL, NULL, NULL, 0, false);
    size_t len = strlen(text);
    uint64_t cap = req->limits.v[PSB__LIMIT_RESULT_BYTES];
    if (len > cap) {
        char msg[200];
        snprintf(msg, sizeof msg, "the result is %zu bytes of JSON, more than the limit of %llu",
                 len, (unsigned long long)cap);
        reply_and_exit(fd, PSB_KIND_OUTPUT_LIMIT, NULL, msg, NULL, NULL, NULL, NULL, 0, false);
    }
    reply_and_exit(fd, PSB_KIND_NONE, NULL, NULL, NULL, NULL, NULL, text, len, true);
}
