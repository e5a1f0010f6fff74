/*
 * embed/prompt.c - input() that asks the library (a Jupyter input_request,
 * a host's prompt) instead of reading stdin, for requests that say so. The
 * child sends the prompt as an INPUT frame on its data socket and waits for
 * the line, with the GIL released so the code's other threads run.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "embed/embed.h"

static int prompt_fd = -1;
static PyObject *saved_input;   /* builtins.input before the first swap */
static PyObject *saved_getpass; /* getpass.getpass before it */

/* Flushes sys.stdout and sys.stderr: what was printed goes out before the prompt. */
static void flush_stdio(void) {
    const char *const names[] = {"stdout", "stderr"};
    for (int i = 0; i < 2; i++) {
        PyObject *s = PySys_GetObject(names[i]); /* borrowed */
        PyObject *r = s ? PyObject_CallMethod(s, "flush", NULL) : NULL;
        Py_XDECREF(r);
        PyErr_Clear();
    }
}

static PyObject *ask_line(PyObject *prompt_obj, bool password) {
    if (prompt_fd < 0)
        return PyErr_Format(PyExc_EOFError, "EOF when reading a line");
    PyObject *text = prompt_obj ? PyObject_Str(prompt_obj) : PyUnicode_FromString("");
    PyObject *bytes = text ? PyUnicode_AsEncodedString(text, "utf-8", "replace") : NULL;
    Py_XDECREF(text);
    if (!bytes)
        return NULL;
    flush_stdio();
    /* {password, prompt}: NULs dropped, cut to the cap on a character boundary. */
    const char *p = PyBytes_AS_STRING(bytes);
    size_t n = (size_t)PyBytes_GET_SIZE(bytes), k = 1;
    char *frame = PyMem_Malloc(n + 1 < PSB__MAX_PROMPT_BYTES ? n + 1 : PSB__MAX_PROMPT_BYTES);
    if (!frame) {
        Py_DECREF(bytes);
        return PyErr_NoMemory();
    }
    frame[0] = password ? 1 : 0;
    for (size_t i = 0; i < n && k < PSB__MAX_PROMPT_BYTES; i++)
        if (p[i])
            frame[k++] = p[i];
    while (k > 1 && k == PSB__MAX_PROMPT_BYTES && ((unsigned char)frame[k - 1] & 0xc0) == 0x80)
        k--;
    if (k > 1 && k == PSB__MAX_PROMPT_BYTES && ((unsigned char)frame[k - 1] & 0x80))
        k--; /* the lead byte of the character the cap cut */
    Py_DECREF(bytes);
    int rc;
    uint32_t type = 0;
    psb__buf line = {0};
    Py_BEGIN_ALLOW_THREADS rc = psb__frame_write(prompt_fd, PSB__FRAME_INPUT, frame, k);
    if (rc == 0)
        rc = psb__frame_read(prompt_fd, &type, &line, 0, PSB__MAX_INPUT_LINE_BYTES + 1);
    Py_END_ALLOW_THREADS PyMem_Free(frame);
    PyObject *ret = NULL;
    if (PyErr_CheckSignals() != 0) {
        ret = NULL; /* KeyboardInterrupt: the cell was interrupted while it waited */
    } else if (rc != 0 || type != PSB__FRAME_INPUT || line.len == 0 ||
               line.data[0] != PSB__INPUT_LINE) {
        PyErr_SetString(PyExc_EOFError, "EOF when reading a line");
    } else {
        ret = PyUnicode_DecodeUTF8(line.data + 1, (Py_ssize_t)(line.len - 1), "replace");
    }
    psb__buf_free(&line);
    return ret;
}

static PyObject *input_fn(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *prompt = NULL;
    if (!PyArg_ParseTuple(args, "|O:input", &prompt))
        return NULL;
    return ask_line(prompt, false);
}

static PyObject *getpass_fn(PyObject *self, PyObject *args, PyObject *kw) {
    (void)self;
    static char prompt_kw[] = "prompt", stream_kw[] = "stream";
    static char *names[] = {prompt_kw, stream_kw, NULL};
    PyObject *prompt = NULL, *stream = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|OO:getpass", names, &prompt, &stream))
        return NULL;
    if (!prompt) {
        PyObject *dflt = PyUnicode_FromString("Password: ");
        PyObject *r = dflt ? ask_line(dflt, true) : NULL;
        Py_XDECREF(dflt);
        return r;
    }
    return ask_line(prompt, true);
}

static PyMethodDef input_def = {"input", input_fn, METH_VARARGS,
                                "input(prompt='') -> str: a line from the host"};
static PyMethodDef getpass_def = {"getpass", (PyCFunction)(void (*)(void))getpass_fn,
                                  METH_VARARGS | METH_KEYWORDS,
                                  "getpass(prompt='Password: ') -> str: a hidden line"};

/* Puts fn in place of obj.name (saving the first original), or the original back. */
static void swap(PyObject *obj, const char *name, PyObject **saved, PyMethodDef *def, bool on) {
    if (!obj)
        return;
    if (!*saved)
        *saved = PyObject_GetAttrString(obj, name);
    PyObject *fn = on ? PyCFunction_New(def, NULL) : Py_XNewRef(*saved);
    if (fn && PyObject_SetAttrString(obj, name, fn) != 0)
        PyErr_Clear();
    Py_XDECREF(fn);
    PyErr_Clear();
}

void psb__prompt_set(int fd, bool on) {
    prompt_fd = on ? fd : -1;
    if (!on && !saved_input)
        return; /* never swapped: nothing to put back */
    PyObject *builtins = PyImport_ImportModule("builtins");
    PyObject *getpass = PyImport_ImportModule("getpass");
    PyErr_Clear();
    swap(builtins, "input", &saved_input, &input_def, on);
    swap(getpass, "getpass", &saved_getpass, &getpass_def, on);
    Py_XDECREF(builtins);
    Py_XDECREF(getpass);
}
