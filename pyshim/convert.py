"""Values between Python and JSON in Python, as embed/convert.c and embed/inputs.c do in C.

The external-interpreter engine (pyshim/external.py) runs in an interpreter our C code cannot
reach, so `result` goes out and `inputs` come in here, with the same shapes, the same caps
(depth, values), the same paths in messages (result["rows"][3]) and the same escape for a
user's dict that has a "$type" key of its own. support.jsonable and inputs.decode_tag do the
tagged values, as they do for the C side.
"""

import math

MAX_DEPTH = 200


class NotConvertible(Exception):
    pass


def _path_text(path):
    out = "result"
    for step in path:
        if isinstance(step, str):
            out += '["%s%s"]' % (step[:64], "..." if len(step) > 64 else "")
        else:
            out += "[%d]" % step
        if len(out) > 500:
            return out[:508] + "..."
    return out


def _key_text(k, path):
    if isinstance(k, str):
        return k
    if k is True:
        return "true"
    if k is False:
        return "false"
    if k is None:
        return "null"
    if isinstance(k, (int, float)):
        return repr(k) if not isinstance(k, bool) else str(k).lower()
    raise NotConvertible(
        "dict key of type '%s' at %s cannot be converted to JSON (keys must be str, int, "
        "float, bool or None)" % (type(k).__name__, _path_text(path)))


def _convert(o, path, stack, fallback, fb_depth, tag=False):
    if o is None or o is True or o is False:
        return o
    if isinstance(o, int):
        v = int(o)
        return v if -(1 << 63) <= v < (1 << 63) else {"$type": "int", "value": str(v)}
    if isinstance(o, float):
        d = float(o)
        if math.isnan(d):
            return {"$type": "float", "value": "nan"}
        if math.isinf(d):
            return {"$type": "float", "value": "inf" if d > 0 else "-inf"}
        return d
    if isinstance(o, str):
        try:
            o.encode("utf-8")
        except UnicodeEncodeError:
            raise NotConvertible("str at %s is not valid Unicode (it holds a lone surrogate)"
                                  % _path_text(path)) from None
        return str(o)
    if not isinstance(o, (dict, list, tuple, set, frozenset)):
        if fallback is None or fb_depth >= MAX_DEPTH:
            raise NotConvertible("result is not JSON-serializable: object of type '%s' at %s"
                                  % (type(o).__name__, _path_text(path)))
        try:
            ready = fallback(o)
        except MemoryError:
            raise
        except TypeError:
            raise NotConvertible("result is not JSON-serializable: object of type '%s' at %s"
                                  % (type(o).__name__, _path_text(path))) from None
        except Exception as e:
            raise NotConvertible("cannot convert object of type '%s' at %s: %s: %s" % (
                type(o).__name__, _path_text(path), type(e).__name__, e)) from None
        return _convert(ready, path, stack, fallback, fb_depth + 1, isinstance(ready, dict))
    if any(s is o for s in stack):
        raise NotConvertible("result contains a cycle: %s refers back to an enclosing container"
                              % _path_text(path))
    if len(stack) >= MAX_DEPTH:
        raise NotConvertible("result is nested deeper than %d levels (at %s...)"
                              % (MAX_DEPTH, _path_text(path)[:200]))
    stack.append(o)
    try:
        if not isinstance(o, dict):
            out = []
            for i, v in enumerate(tuple(o)):
                path.append(i)
                out.append(_convert(v, path, stack, fallback, fb_depth))
                path.pop()
            return out
        obj = {}
        for k, v in list(o.items()):
            ks = _key_text(k, path)
            path.append(ks)
            if ks in obj:
                raise NotConvertible("two dict keys at %s both convert to the JSON key \"%s\""
                                      % (_path_text(path), ks))
            obj[ks] = _convert(v, path, stack, fallback, fb_depth)
            path.pop()
        if not tag and isinstance(obj.get("$type"), str):
            return {"$type": "dict", "value": obj}
        return obj
    finally:
        stack.pop()


MAX_INPUT_VALUES = 1 << 22
_count = [0]


def _ipath(steps):
    out = "inputs"
    for s in steps:
        out += '["%s%s"]' % (s[:64], "..." if len(s) > 64 else "") if isinstance(s, str) \
            else "[%d]" % s
        if len(out) > 500:
            return out[:508] + "..."
    return out


def _decode(v, steps, decode_tag):
    _count[0] += 1
    if _count[0] > MAX_INPUT_VALUES:
        raise ValueError("inputs hold more than %d values" % MAX_INPUT_VALUES)
    if not isinstance(v, (dict, list)):
        return v
    if len(steps) >= MAX_DEPTH:
        raise ValueError("inputs are nested deeper than %d levels (at %s)"
                         % (MAX_DEPTH, _ipath(steps)))
    if isinstance(v, list):
        return [_decode(x, steps + [i], decode_tag) for i, x in enumerate(v)]
    tag = v.get("$type")
    if isinstance(tag, str) and tag == "dict":
        inner = v.get("value")
        if len(v) != 2 or not isinstance(inner, dict):
            raise ValueError('%s: {"$type": "dict"} must have exactly one other key, "value", '
                             'an object' % _ipath(steps))
        if len(steps) + 2 > MAX_DEPTH:
            raise ValueError("inputs are nested deeper than %d levels (at %s)"
                             % (MAX_DEPTH, _ipath(steps)))
        return {k: _decode(x, steps + ["value", k], decode_tag) for k, x in inner.items()}
    members = {k: _decode(x, steps + [k], decode_tag) for k, x in v.items()}
    return decode_tag(members, _ipath(steps)) if isinstance(tag, str) else members


def to_json(value, fallback):
    """The JSON-ready form of `result` (dicts, lists, scalars); NotConvertible says why not."""
    return _convert(value, [], [], fallback, 0)


def from_json(inputs, decode_tag):
    """`inputs` (a decoded JSON object) with its tagged values made Python objects again."""
    _count[0] = 0
    return _decode(inputs, [], decode_tag)
