/*
 * embed/convert.h - Python <-> JSON conversion used by the child. Kept out
 * of internal.h because it needs <Python.h>, which only the child's files
 * include.
 */
#ifndef PSB_EMBED_CONVERT_H
#define PSB_EMBED_CONVERT_H

#include <jansson.h>

/* Containers nested deeper than this make the result not serializable. */
#define PSB__RESULT_MAX_DEPTH 200

/* A new Python object for a JSON value, or NULL with a Python exception set. */
PyObject *psb__json_to_py(const json_t *v);
/*
 * The JSON form of a result object. Values that are not None, bool, int,
 * float, str, list, tuple, dict or set go through `fallback` (a Python
 * callable returning a JSON-ready value or raising TypeError; may be NULL).
 * On failure returns NULL and sets *ret_error to a malloc'd message naming
 * the type and the path, e.g. result["rows"][3].
 */
json_t *psb__py_to_json(PyObject *obj, PyObject *fallback, char **ret_error);

#endif /* PSB_EMBED_CONVERT_H */
