/*
 * embed/convert.h - Python <-> JSON conversion used by the child
 * (convert.c: the result out; inputs.c: the inputs in; display.c: the
 * display bundles out), and what interp.c and run.c share. Kept out
 * of internal.h because it needs <Python.h>, which only the child's files
 * include.
 */
#ifndef PSB_EMBED_CONVERT_H
#define PSB_EMBED_CONVERT_H

#include <jansson.h>

#include "base/wire.h"

/* Containers nested deeper than this make the result not serializable. */
#define PSB__RESULT_MAX_DEPTH 200

/* The most nested containers and the most JSON values `inputs` may hold. */
#define PSB__INPUTS_MAX_DEPTH PSB__MAX_INPUTS_DEPTH
#define PSB__INPUTS_MAX_VALUES PSB__MAX_INPUTS_VALUES
_Static_assert(PSB__INPUTS_MAX_DEPTH == PSB__RESULT_MAX_DEPTH, "a result must fit as inputs");

/*
 * A new Python object for the `inputs` JSON: plain JSON as is, every object
 * whose "$type" is a string decoded by decode_tag(members, path) (the
 * members already decoded; NULL leaves tags as dicts), {"$type": "dict"}
 * unwrapped here. NULL with a Python exception set: ValueError naming the
 * path when a cap is passed or a tag is malformed.
 */
PyObject *psb__inputs_to_py(const json_t *inputs, PyObject *decode_tag);
/*
 * The JSON form of a result object. Values that are not None, bool, int,
 * float, str, list, tuple, dict or set go through `fallback` (a Python
 * callable returning a JSON-ready value or raising TypeError; may be NULL).
 * On failure returns NULL and sets *ret_error to a malloc'd message naming
 * the type and the path, e.g. result["rows"][3].
 */
json_t *psb__py_to_json(PyObject *obj, PyObject *fallback, char **ret_error);
/*
 * The bundles display_mod (pyshim/display.py) holds, emptied, as DISPLAY
 * payloads in *ret (calloc'd; *ret_n of them). true if the caps dropped or
 * cut some, or one could not be encoded (display.c).
 */
bool psb__displays_gather(PyObject *display_mod, psb__buf **ret, size_t *ret_n);

/* The child's pyshim modules, loaded with the interpreter (interp.c), used by run.c. */
extern PyObject *psb__py_support;    /* pyshim/support.py */
extern PyObject *psb__py_decode_tag; /* pyshim/inputs.py's decode_tag */
extern PyObject *psb__py_display;    /* pyshim/display.py */
extern PyObject *psb__py_ask;        /* pyshim/ask.py */
/* true in a warm helper and its children: the interpreter was initialized before the fork. */
bool psb__interp_is_warm(void);

#endif /* PSB_EMBED_CONVERT_H */
