/*
 * embed/inputs.c - the request's `inputs` JSON into Python objects, in the
 * child before the user's code. Plain JSON is converted here; an object
 * whose "$type" is a string is a tagged value (README "Value types") that
 * pyshim/inputs.py turns back into the Python value, after its members.
 * Nesting and the number of values are capped, so no input can make the
 * decoder recurse or allocate without bound (tests/test_inputs.c).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "embed/convert.h"

/* One step of the path to the value being decoded: a key or an index. */
struct istep {
    const char *key; /* object key (alive while its value decodes), or NULL */
    size_t index;    /* array index when key is NULL */
};

/* Decoding state of one `inputs` object. */
struct idec {
    PyObject *decode_tag; /* inputs.decode_tag(tag, path), or NULL: tags stay dicts */
    size_t values;        /* JSON values decoded so far (capped at PSB__INPUTS_MAX_VALUES) */
    int depth;            /* containers entered (capped at PSB__INPUTS_MAX_DEPTH) */
    struct istep steps[PSB__INPUTS_MAX_DEPTH + 1]; /* the path from `inputs` down */
};

/* The path as text, e.g. inputs["rows"][3] (cut with "..." when long). */
static const char *ipath(const struct idec *d, char *out, size_t size) {
    size_t len = (size_t)snprintf(out, size, "inputs");
    for (int i = 0; i < d->depth && len < size; i++) {
        const struct istep *st = &d->steps[i];
        int n = st->key ? snprintf(out + len, size - len, "[\"%.64s%s\"]", st->key,
                                   strlen(st->key) > 64 ? "..." : "")
                        : snprintf(out + len, size - len, "[%zu]", st->index);
        if (n < 0 || (size_t)n >= size - len) {
            strcpy(out + size - 4, "...");
            break;
        }
        len += (size_t)n;
    }
    return out;
}

static PyObject *decode(struct idec *d, const json_t *v);

/* Members of an object into a new dict (tags among them decoded). */
static PyObject *decode_members(struct idec *d, const json_t *v) {
    PyObject *dict = PyDict_New();
    const char *k;
    json_t *item;
    if (!dict)
        return NULL;
    json_object_foreach((json_t *)(uintptr_t)v, k, item) {
        d->steps[d->depth - 1] = (struct istep){k, 0};
        PyObject *pv = decode(d, item);
        if (!pv || PyDict_SetItemString(dict, k, pv) != 0) {
            Py_XDECREF(pv);
            Py_DECREF(dict);
            return NULL;
        }
        Py_DECREF(pv);
    }
    return dict;
}

/*
 * A tagged object, named in messages by its own path. {"$type": "dict",
 * "value": {...}} is the escape of a plain dict that has a "$type" key of
 * its own (convert.c writes it): its value is a dict whatever its keys say.
 * Every other tag goes to decode_tag once its members are decoded.
 */
static PyObject *decode_tagged(struct idec *d, const json_t *v, const char *type) {
    char path[512];
    ipath(d, path, sizeof path);
    if (strcmp(type, "dict") == 0) {
        const json_t *inner = json_object_get(v, "value");
        if (json_object_size(v) != 2 || !json_is_object(inner))
            return PyErr_Format(PyExc_ValueError,
                                "%s: {\"$type\": \"dict\"} must have exactly one other key, "
                                "\"value\", an object",
                                path);
        if (d->depth + 2 > PSB__INPUTS_MAX_DEPTH)
            return PyErr_Format(PyExc_ValueError, "inputs are nested deeper than %d levels (at %s)",
                                PSB__INPUTS_MAX_DEPTH, path);
        d->steps[d->depth++] = (struct istep){"value", 0};
        d->depth++;
        PyObject *dict = decode_members(d, inner);
        d->depth -= 2;
        return dict;
    }
    d->depth++;
    PyObject *members = decode_members(d, v);
    d->depth--;
    if (!members || !d->decode_tag)
        return members;
    PyObject *text = PyUnicode_FromString(path);
    PyObject *value =
        text ? PyObject_CallFunctionObjArgs(d->decode_tag, members, text, NULL) : NULL;
    Py_XDECREF(text);
    Py_DECREF(members);
    return value;
}

static PyObject *decode_array(struct idec *d, const json_t *v) {
    PyObject *l = PyList_New((Py_ssize_t)json_array_size(v));
    size_t i;
    json_t *item;
    if (!l)
        return NULL;
    json_array_foreach(v, i, item) {
        d->steps[d->depth - 1] = (struct istep){NULL, i};
        PyObject *pv = decode(d, item);
        if (!pv) {
            Py_DECREF(l);
            return NULL;
        }
        PyList_SET_ITEM(l, (Py_ssize_t)i, pv);
    }
    return l;
}

static PyObject *decode(struct idec *d, const json_t *v) {
    if (++d->values > PSB__INPUTS_MAX_VALUES)
        return PyErr_Format(PyExc_ValueError, "inputs hold more than %d values",
                            PSB__INPUTS_MAX_VALUES);
    switch (json_typeof(v)) {
    case JSON_OBJECT:
    case JSON_ARRAY: {
        char path[512];
        if (d->depth >= PSB__INPUTS_MAX_DEPTH)
            return PyErr_Format(PyExc_ValueError, "inputs are nested deeper than %d levels (at %s)",
                                PSB__INPUTS_MAX_DEPTH, ipath(d, path, sizeof path));
        const char *type =
            json_is_object(v) ? json_string_value(json_object_get(v, "$type")) : NULL;
        if (type)
            return decode_tagged(d, v, type);
        d->depth++;
        PyObject *o = json_is_object(v) ? decode_members(d, v) : decode_array(d, v);
        d->depth--;
        return o;
    }
    case JSON_STRING:
        return PyUnicode_FromStringAndSize(json_string_value(v), (Py_ssize_t)json_string_length(v));
    case JSON_INTEGER:
        return PyLong_FromLongLong(json_integer_value(v));
    case JSON_REAL:
        return PyFloat_FromDouble(json_real_value(v));
    case JSON_TRUE:
        Py_RETURN_TRUE;
    case JSON_FALSE:
        Py_RETURN_FALSE;
    case JSON_NULL:
    default:
        Py_RETURN_NONE;
    }
}

PyObject *psb__inputs_to_py(const json_t *inputs, PyObject *decode_tag) {
    struct idec *d = calloc(1, sizeof *d);
    if (!d)
        return PyErr_NoMemory();
    d->decode_tag = decode_tag;
    PyObject *o = decode(d, inputs);
    free(d);
    return o;
}
