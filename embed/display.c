/*
 * embed/display.c - the child's display bundles (pyshim/display.py made
 * them: display() calls and the last expression) as DISPLAY payloads for
 * the reply.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdlib.h>

#include "embed/convert.h"
#include "embed/embed.h"

/* One (is_result, [(mime, text), ...]) from display.take_displays() as a payload. 0 or -1. */
static int display_payload(PyObject *item, psb__buf *ret) {
    struct psb__mime_entry e[PSB__MAX_MIMES];
    size_t n = 0;
    PyObject *entries =
        PyTuple_Check(item) && PyTuple_GET_SIZE(item) == 2 ? PyTuple_GET_ITEM(item, 1) : NULL;
    if (!entries || !PyList_Check(entries))
        return -1;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(entries) && n < PSB__MAX_MIMES; i++) {
        PyObject *pair = PyList_GET_ITEM(entries, i);
        Py_ssize_t len = 0;
        const char *mime, *data;
        if (!PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 2 ||
            !(mime = PyUnicode_AsUTF8(PyTuple_GET_ITEM(pair, 0))) ||
            !(data = PyUnicode_AsUTF8AndSize(PyTuple_GET_ITEM(pair, 1), &len)))
            return -1;
        e[n++] = (struct psb__mime_entry){.mime = mime, .data = data, .len = (size_t)len};
    }
    return psb__display_frame(PyObject_IsTrue(PyTuple_GET_ITEM(item, 0)) == 1, e, n, ret);
}

bool psb__displays_gather(PyObject *display_mod, psb__buf **ret, size_t *ret_n) {
    bool truncated = false;
    psb__buf *out = NULL;
    size_t kept = 0;
    PyObject *r = PyObject_CallMethod(display_mod, "take_displays", NULL);
    if (r && PyTuple_Check(r) && PyTuple_GET_SIZE(r) == 2 && PyList_Check(PyTuple_GET_ITEM(r, 0))) {
        PyObject *list = PyTuple_GET_ITEM(r, 0);
        Py_ssize_t n = PyList_GET_SIZE(list);
        truncated = PyObject_IsTrue(PyTuple_GET_ITEM(r, 1)) == 1;
        out = n ? calloc((size_t)n, sizeof *out) : NULL;
        for (Py_ssize_t i = 0; out && i < n; i++)
            if (display_payload(PyList_GET_ITEM(list, i), &out[kept]) == 0)
                kept++;
            else
                truncated = true;
    }
    Py_XDECREF(r);
    PyErr_Clear();
    *ret = out;
    *ret_n = kept;
    return truncated;
}
