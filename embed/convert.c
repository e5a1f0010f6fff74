/*
 * embed/convert.c - the `result` global into JSON (jansson) in C, with the
 * JSON path of anything that cannot be converted, a depth cap and cycle
 * detection. The way back, `inputs` into Python, is embed/inputs.c.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "embed/convert.h"

/* One step of the path to the value being converted: a key or an index. */
struct step {
    const char *key;  /* dict key (alive while its value converts), or NULL */
    Py_ssize_t index; /* list index when key is NULL */
};

#define MAX_STEPS 1024

/*
 * Conversion state. The path is kept as steps and only rendered as text
 * (result["rows"][3]) for an error message: formatting it for every value
 * would cost more than the conversion itself.
 */
struct conv {
    struct step steps[MAX_STEPS];               /* the path from `result` down */
    int n_steps;                                /* entries used (capped at MAX_STEPS) */
    int skipped;                                /* steps beyond the cap */
    char path[512];                             /* rendered path, cut at the buffer size */
    PyObject *stack[PSB__RESULT_MAX_DEPTH + 1]; /* containers being converted */
    int depth;                                  /* entries in stack */
    char *error;                                /* message (malloc'd) when conversion failed */
    PyObject *fallback;                         /* support.jsonable, or NULL */
    int fallback_depth; /* nested fallback calls (a fallback's output converted) */
    bool tag_next;      /* the dict converted next is a fallback's tag: not escaped */
};

/* The path as text, e.g. result["rows"][3] (cut with "..." when long). */
static const char *path_str(struct conv *c) {
    size_t len = (size_t)snprintf(c->path, sizeof c->path, "result");
    for (int i = 0; i < c->n_steps && len < sizeof c->path; i++) {
        const struct step *st = &c->steps[i];
        int n = st->key ? snprintf(c->path + len, sizeof c->path - len, "[\"%.64s%s\"]", st->key,
                                   strlen(st->key) > 64 ? "..." : "")
                        : snprintf(c->path + len, sizeof c->path - len, "[%zd]", st->index);
        if (n < 0 || (size_t)n >= sizeof c->path - len) {
            strcpy(c->path + sizeof c->path - 4, "...");
            return c->path;
        }
        len += (size_t)n;
    }
    return c->path;
}

static void fail(struct conv *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(struct conv *c, const char *fmt, ...) {
    if (c->error)
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    c->error = strdup(msg);
}

static void path_push(struct conv *c, const char *key, Py_ssize_t index) {
    if (c->n_steps < MAX_STEPS)
        c->steps[c->n_steps++] = (struct step){key, index};
    else
        c->skipped++;
}

static void path_pop(struct conv *c) {
    if (c->skipped)
        c->skipped--;
    else
        c->n_steps--;
}

static json_t *convert(struct conv *c, PyObject *o);
static json_t *convert_other(struct conv *c, PyObject *o);

static const char *type_name(PyObject *o) {
    return Py_TYPE(o)->tp_name;
}

/* A tagged value for what JSON cannot hold natively: {"$type": t, "value": v}. */
static json_t *tagged(const char *type, const char *value) {
    return json_pack("{s:s,s:s}", "$type", type, "value", value);
}

static json_t *convert_int(struct conv *c, PyObject *o) {
    int overflow = 0;
    long long v = PyLong_AsLongLongAndOverflow(o, &overflow);
    if (!overflow) {
        if (v == -1 && PyErr_Occurred()) {
            PyErr_Clear();
            fail(c, "cannot convert int at %s", path_str(c));
            return NULL;
        }
        return json_integer(v);
    }
    /* Beyond 64 bits: exact decimal digits in a tagged string, never a rounded double. */
    PyObject *s = PyObject_Str(o);
    const char *digits = s ? PyUnicode_AsUTF8(s) : NULL;
    json_t *j = digits ? tagged("int", digits) : NULL;
    if (!j) {
        PyErr_Clear();
        fail(c, "int at %s is too large to convert to text", path_str(c));
    }
    Py_XDECREF(s);
    return j;
}

static json_t *convert_float(PyObject *o) {
    double d = PyFloat_AS_DOUBLE(o);
    if (isnan(d))
        return tagged("float", "nan");
    if (isinf(d))
        return tagged("float", d > 0 ? "inf" : "-inf");
    return json_real(d);
}

static json_t *convert_str(struct conv *c, PyObject *o) {
    Py_ssize_t len;
    const char *s = PyUnicode_AsUTF8AndSize(o, &len);
    if (!s) {
        PyErr_Clear();
        fail(c, "str at %s is not valid Unicode (it holds a lone surrogate)", path_str(c));
        return NULL;
    }
    return json_stringn(s, (size_t)len);
}

/* A dict key as JSON text: str as is; int, float, bool, None as json.dumps does. */
static PyObject *key_text(struct conv *c, PyObject *k) {
    if (PyUnicode_Check(k))
        return Py_NewRef(k);
    if (k == Py_True)
        return PyUnicode_FromString("true");
    if (k == Py_False)
        return PyUnicode_FromString("false");
    if (k == Py_None)
        return PyUnicode_FromString("null");
    if (PyLong_Check(k) || PyFloat_Check(k))
        return PyObject_Repr(k);
    fail(c,
         "dict key of type '%s' at %s cannot be converted to JSON (keys must be str, int, "
         "float, bool or None)",
         type_name(k), path_str(c));
    return NULL;
}

static json_t *convert_dict(struct conv *c, PyObject *o) {
    /* A list of (key, value) pairs holding references, for the same reason. */
    PyObject *items = PyDict_Items(o);
    json_t *obj = items ? json_object() : NULL;
    if (!obj) {
        PyErr_Clear();
        Py_XDECREF(items);
        return NULL;
    }
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(items); i++) {
        PyObject *pair = PyList_GET_ITEM(items, i);
        PyObject *k = PyTuple_GET_ITEM(pair, 0), *v = PyTuple_GET_ITEM(pair, 1);
        PyObject *kt = key_text(c, k);
        const char *ks = kt ? PyUnicode_AsUTF8(kt) : NULL;
        if (!ks) {
            PyErr_Clear();
            fail(c, "dict key at %s cannot be converted", path_str(c));
            Py_XDECREF(kt);
            goto fail;
        }
        path_push(c, ks, 0);
        if (json_object_get(obj, ks)) {
            fail(c, "two dict keys at %s both convert to the JSON key \"%s\"", path_str(c), ks);
            Py_DECREF(kt);
            goto fail;
        }
        json_t *jv = convert(c, v);
        path_pop(c);
        if (!jv || json_object_set_new(obj, ks, jv) != 0) {
            Py_DECREF(kt);
            goto fail;
        }
        Py_DECREF(kt);
    }
    Py_DECREF(items);
    return obj;
fail:
    Py_DECREF(items);
    json_decref(obj);
    return NULL;
}

static json_t *convert_sequence(struct conv *c, PyObject *o) {
    /*
     * A tuple copy holding references: converting an item can run user code
     * (a fallback reading a dataclass field) that changes the list itself.
     */
    PyObject *seq = PySequence_Tuple(o);
    json_t *arr = seq ? json_array() : NULL;
    if (!arr) {
        PyErr_Clear();
        Py_XDECREF(seq);
        return NULL;
    }
    Py_ssize_t n = PyTuple_GET_SIZE(seq);
    for (Py_ssize_t i = 0; i < n; i++) {
        path_push(c, NULL, i);
        json_t *jv = convert(c, PyTuple_GET_ITEM(seq, i));
        path_pop(c);
        if (!jv || json_array_append_new(arr, jv) != 0) {
            json_decref(arr);
            Py_DECREF(seq);
            return NULL;
        }
    }
    Py_DECREF(seq);
    return arr;
}

/* Types outside the core set: numpy, pandas, datetime, bytes... via the fallback. */
static json_t *convert_other(struct conv *c, PyObject *o) {
    if (!c->fallback || c->fallback_depth >= PSB__RESULT_MAX_DEPTH) {
        fail(c, "result is not JSON-serializable: object of type '%s' at %s", type_name(o),
             path_str(c));
        return NULL;
    }
    PyObject *ready = PyObject_CallOneArg(c->fallback, o);
    if (!ready) {
        if (PyErr_ExceptionMatches(PyExc_MemoryError)) {
            fail(c, "out of memory converting the result at %s", path_str(c));
            return NULL; /* the MemoryError stays raised for the caller */
        }
        if (PyErr_ExceptionMatches(PyExc_TypeError)) {
            PyErr_Clear();
            fail(c, "result is not JSON-serializable: object of type '%s' at %s", type_name(o),
                 path_str(c));
            return NULL;
        }
        /* The value is of a known kind but its conversion failed: say why. */
        PyObject *type, *value, *tb;
        PyErr_Fetch(&type, &value, &tb);
        PyObject *text = value ? PyObject_Str(value) : NULL;
        const char *why = text ? PyUnicode_AsUTF8(text) : NULL;
        fail(c, "cannot convert object of type '%s' at %s: %s: %s", type_name(o), path_str(c),
             type ? ((PyTypeObject *)type)->tp_name : "error", why ? why : "?");
        Py_XDECREF(text);
        Py_XDECREF(type);
        Py_XDECREF(value);
        Py_XDECREF(tb);
        PyErr_Clear();
        return NULL;
    }
    c->fallback_depth++;
    c->tag_next = PyDict_Check(ready);
    json_t *j = convert(c, ready);
    c->fallback_depth--;
    Py_DECREF(ready);
    return j;
}

/*
 * A user's dict with a "$type" string of its own would read as a tag on the
 * way back in (embed/inputs.c): it goes out as {"$type": "dict", "value":
 * {...}}, which the inputs decoder unwraps, so the two sides stay inverse.
 */
static json_t *escape_dict(json_t *obj) {
    if (!obj || !json_is_string(json_object_get(obj, "$type")))
        return obj;
    return json_pack("{s:s,s:o}", "$type", "dict", "value", obj);
}

static json_t *convert(struct conv *c, PyObject *o) {
    bool tag = c->tag_next;
    c->tag_next = false;
    if (o == Py_None)
        return json_null();
    if (PyBool_Check(o))
        return json_boolean(o == Py_True);
    if (PyLong_Check(o))
        return convert_int(c, o);
    if (PyFloat_Check(o))
        return convert_float(o);
    if (PyUnicode_Check(o))
        return convert_str(c, o);
    bool container = PyDict_Check(o) || PyList_Check(o) || PyTuple_Check(o) || PyAnySet_Check(o);
    if (!container)
        return convert_other(c, o);
    for (int i = 0; i < c->depth; i++)
        if (c->stack[i] == o) {
            fail(c, "result contains a cycle: %s refers back to an enclosing container",
                 path_str(c));
            return NULL;
        }
    if (c->depth >= PSB__RESULT_MAX_DEPTH) {
        fail(c, "result is nested deeper than %d levels (at %.200s...)", PSB__RESULT_MAX_DEPTH,
             path_str(c));
        return NULL;
    }
    c->stack[c->depth++] = o;
    json_t *j = !PyDict_Check(o) ? convert_sequence(c, o)
                : tag            ? convert_dict(c, o)
                                 : escape_dict(convert_dict(c, o));
    c->depth--;
    if (!j && !c->error)
        fail(c, "out of memory converting the result at %s", path_str(c));
    return j;
}

json_t *psb__py_to_json(PyObject *obj, PyObject *fallback, char **ret_error) {
    struct conv *c = calloc(1, sizeof *c); /* ~20 KiB: not on the stack */
    if (!c) {
        *ret_error = strdup("out of memory converting the result");
        return NULL;
    }
    c->fallback = fallback;
    json_t *j = convert(c, obj);
    if (!j)
        *ret_error = c->error ? c->error : strdup("the result could not be converted");
    else
        free(c->error);
    free(c);
    return j;
}
