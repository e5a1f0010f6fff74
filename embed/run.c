/*
 * embed/run.c - running code in the child's interpreter: `inputs` bound,
 * the prelude and the code run in __main__ as a notebook cell (the last
 * expression shown), and the `result` global (or the error), the displays,
 * figures and files sent back. A one-shot execution runs one cell and
 * exits; a session's child returns after each cell and runs the next in
 * the same __main__.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "embed/convert.h"
#include "embed/embed.h"
#include "hooks/hooks.h"

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
/* It is a question (psb_session_ask()): its reply carries no extras. */
static bool asking;

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
    if (asking)
        return;
    PyObject *r = PyObject_CallMethod(psb__py_support, "collect_figures", "Ki",
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
    x->displays_trunc = psb__displays_gather(psb__py_display, &x->displays, &x->n_displays);
    x->files_over =
        psb__outputs_collect(current->scratch, current->inputs, current->n_inputs,
                             request_limit(PSB__LIMIT_FILES_BYTES), &x->files, &x->n_files);
}

/*
 * A session's child runs cell after cell: the reply of each jumps back to
 * where the cell started instead of exiting. `result` stays a variable
 * between cells; a cell returns it only if its code names it.
 */
static bool in_session;
static jmp_buf cell_jump;
static PyObject *session_globals; /* the session's __main__ */
static bool names_result;         /* the cell's code names `result` */
static char *result_text;         /* the cell's result JSON, freed when the next starts */

static void extras_free(struct extras *x) {
    Py_XDECREF(x->list);
    free(x->figures);
    for (size_t i = 0; i < x->n_displays; i++)
        psb__buf_free(&x->displays[i]);
    free(x->displays);
    psb__files_free(x->files, x->n_files);
}

/* The end of a cell's reply: exit, or back to the session's loop. */
static _Noreturn void cell_over(struct extras *x) {
    if (!in_session)
        psb__child_finish();
    extras_free(x);
    longjmp(cell_jump, 1);
}

/* Sends the reply with the extras, and exits (or ends the cell). */
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
    cell_over(&x);
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
        PyObject *pair = PyObject_CallMethod(psb__py_display, "compile_cell", "Os", text, filename);
        if (pair && PyTuple_Check(pair) && PyTuple_GET_SIZE(pair) == 3) {
            code = Py_NewRef(PyTuple_GET_ITEM(pair, 0));
            expr =
                PyTuple_GET_ITEM(pair, 1) == Py_None ? NULL : Py_NewRef(PyTuple_GET_ITEM(pair, 1));
            names_result = PyObject_IsTrue(PyTuple_GET_ITEM(pair, 2)) == 1;
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
        PyObject *shown =
            ret ? PyObject_CallMethod(psb__py_display, "show_value", "(O)", ret) : NULL;
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

/* Replies with value (a new reference, or NULL for null) as the result JSON, within its cap. */
static _Noreturn void reply_value(int fd, const struct psb__request *req, PyObject *result,
                                  bool with_extras) {
    char *error = NULL;
    PyObject *fallback = PyObject_GetAttrString(psb__py_support, "jsonable");
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
    char *text = result_text = psb__json_dumps(j);
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
    reply_and_exit(fd, PSB_KIND_NONE, NULL, NULL, NULL, NULL, NULL, text, len, with_extras);
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
    PyObject *inputs = psb__inputs_to_py(inputs_json ? inputs_json : empty, psb__py_decode_tag);
    json_decref(empty);
    if (!inputs)
        report_exception(fd, psb__py_support, PSB_KIND_NONE);
    if (PyDict_SetItemString(globals, "inputs", inputs) != 0)
        fatal(fd, "binding inputs");
    Py_DECREF(inputs);
}

/*
 * A question about code (psb_session_ask()): answered from the session's
 * globals by pyshim/ask.py, as the result; no cell runs, nothing else is
 * sent, and the displays, figures and files stay the next cell's.
 */
static _Noreturn void answer_question(int fd, const struct psb__request *req, PyObject *globals) {
    asking = true;
    PyObject *code = PyUnicode_FromStringAndSize(req->code, (Py_ssize_t)req->code_len);
    PyObject *answer = code ? PyObject_CallMethod(psb__py_ask, "answer", "OsOnO", globals, req->ask,
                                                  code, (Py_ssize_t)req->cursor, psb__py_display)
                            : NULL;
    Py_XDECREF(code);
    if (!answer)
        report_exception(fd, psb__py_support, PSB_KIND_NONE);
    reply_value(fd, req, answer, false);
}

/*
 * Runs one cell of code in globals (the first also binds `inputs` when the
 * request has none, and runs the prelude) and replies. Never returns: the
 * reply exits, or jumps back to the session's loop.
 */
static _Noreturn void run_code(const struct psb__child_run *run, int fd, PyObject *globals,
                               bool first) {
    const struct psb__request *req = run->req;
    asking = false;
    psb__prompt_set(fd, req->input);
    if (req->ask && !first)
        answer_question(fd, req, globals);
    if (first || req->inputs)
        bind_inputs(fd, req->inputs, globals);
    PyObject *begun =
        PyObject_CallMethod(psb__py_display, "begin_displays", "KK",
                            (unsigned long long)req->limits.v[PSB__LIMIT_DISPLAY_BYTES],
                            (unsigned long long)req->limits.v[PSB__LIMIT_DISPLAYS_BYTES]);
    if (!begun)
        fatal(fd, "preparing the displays");
    Py_DECREF(begun);
    int rc = 0;
    if (first && req->prelude)
        rc = run_source(fd, psb__py_support, req->prelude, PRELUDE_FILENAME, globals, false);
    if (rc == 0)
        rc = run_source(fd, psb__py_support, req->code, USER_FILENAME, globals, true);
    if (rc < 0)
        report_exception(fd, psb__py_support, PSB_KIND_NONE);

    /* stdio is unbuffered, but a replaced sys.stdout may still hold text. */
    const char *const streams[] = {"stdout", "stderr"};
    for (int i = 0; i < 2; i++) {
        PyObject *stream = PySys_GetObject(streams[i]); /* borrowed */
        PyObject *r = stream ? PyObject_CallMethod(stream, "flush", NULL) : NULL;
        Py_XDECREF(r);
        PyErr_Clear();
    }

    /* A reference of our own: converting it may run user code that rebinds `result`. */
    PyObject *result = !in_session || names_result ? PyDict_GetItemString(globals, "result") : NULL;
    Py_XINCREF(result);
    reply_value(fd, req, result, true);
}

void psb__interp_run(const struct psb__child_run *run, int fd, bool seccomp_done) {
    current = run;
    const struct psb__request *req = run->req;
    const char *scratch = run->scratch;
    if (!psb__interp_is_warm()) {
        PyObject *r = PyObject_CallMethod(psb__py_support, "after_fork", NULL);
        Py_XDECREF(r);
        if (!r)
            fatal(fd, "preparing the interpreter");
    }
    if (psb__hooks_configure(req, scratch) != 0)
        fatal(fd, "configuring the sandbox hooks");
    PyObject *env = environ_dict();
    PyObject *globals = env ? PyObject_CallMethod(psb__py_support, "enter", "O", env) : NULL;
    Py_XDECREF(env);
    if (!globals || !PyDict_Check(globals))
        fatal(fd, "preparing the interpreter");
    /* Seccomp goes last: everything above may use what user code may not. */
    if (!seccomp_done && psb__child_load_seccomp() != 0)
        fatal(fd, "loading the seccomp filter");
    if (psb__helper.layers & PSB_LAYER_HOOKS)
        psb__hooks_arm();
    if (req->session) {
        in_session = true;
        session_globals = globals;
        if (setjmp(cell_jump))
            return;
    }
    run_code(run, fd, globals, true);
}

void psb__interp_cell(const struct psb__child_run *run, int fd) {
    current = run;
    free(result_text);
    result_text = NULL;
    /* A SIGINT meant for the cell before that came as it ended: not this cell's. */
    if (PyErr_CheckSignals() != 0)
        PyErr_Clear();
    if (setjmp(cell_jump))
        return;
    run_code(run, fd, session_globals, false);
}

void psb__interp_cell_end(void) {
    PyObject *r = PyObject_CallMethod(psb__py_support, "forget_figures", NULL);
    Py_XDECREF(r);
    PyErr_Clear();
}

static PyThreadState *idle_state;

void psb__interp_unlock(void) {
    idle_state = PyEval_SaveThread();
}

void psb__interp_lock(void) {
    PyEval_RestoreThread(idle_state);
}
