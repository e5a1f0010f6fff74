"""Decodes the tagged values of `inputs` back into Python objects.

The C side (embed/inputs.c) calls decode_tag() for every JSON object whose "$type" is a
string, once its members are decoded, in the execution child before the user's code runs.
The tags are the ones results use (support.jsonable; README "Value types"), so one
execution's result can be the next one's inputs unchanged.

The import filter is not armed yet, so the imports made here are not judged; instead a tag
whose value belongs to a module (numpy, pandas, datetime, decimal, pathlib, dataclasses) is
decoded only if the sandbox policy lets user code import that module: decoding never hands
user code an object of a module the policy refuses it. Errors are ValueError (a malformed
tag) or ImportError (the module is refused or missing), naming the tag and its path.
"""

import sys

MAX_NDIM = 32  # numpy's own limit
MAX_ARRAY_BYTES = 1 << 30  # an ndarray or a column may not need more memory than this
_PANDAS_CLOSED = ("right", "left", "both", "neither")
_classes = {}  # (class name, field names) -> the dataclass made for them


class _Bad(Exception):
    """A malformed tag: the message says what is wrong with it."""


def _require(tag, required, optional=()):
    keys = set(tag)
    keys.discard("$type")
    for key in required:
        if key not in keys:
            raise _Bad('lacks the key "%s"' % key)
    extra = sorted(keys - set(required) - set(optional))
    if extra:
        raise _Bad('has the unknown key "%s"' % extra[0])


def _kind(value):
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return "a %s" % type(value).__name__


def _get(tag, key, types, what):
    value = tag[key]
    if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
        raise _Bad('"%s" must be %s, not %s' % (key, what, _kind(value)))
    return value


def _str(tag, key):
    return _get(tag, key, (str,), "a string")


def _list(tag, key):
    return _get(tag, key, (list,), "an array")


def _number(tag, key):
    return _get(tag, key, (int, float), "a number")


def _module(name, type_name):
    """The module a tag's value belongs to, if the policy lets user code have it."""
    import _pysandbox
    if not _pysandbox.policy_allows(name):
        raise ImportError('{"$type": "%s"} needs %s, which the sandbox policy does not allow'
                          % (type_name, name))
    mod = sys.modules.get(name)
    if mod is None:
        import importlib
        try:
            mod = importlib.import_module(name)
        except Exception as e:  # numpy missing, or broken: say so, never crash
            raise ImportError('{"$type": "%s"} needs %s, which cannot be imported here: %s: %s'
                              % (type_name, name, type(e).__name__, e)) from None
    return mod


def _int(tag):
    _require(tag, ("value",))
    text = _str(tag, "value")
    digits = text[1:] if text.startswith("-") else text
    if not (digits.isascii() and digits.isdigit()):
        raise _Bad('"value" must be decimal digits with an optional "-", not %.40r' % text)
    if len(digits) > sys.get_int_max_str_digits():
        raise _Bad('"value" has more than %d digits' % sys.get_int_max_str_digits())
    return int(text)


def _float(tag):
    _require(tag, ("value",))
    text = _str(tag, "value")
    if text not in ("nan", "inf", "-inf"):
        raise _Bad('"value" must be "nan", "inf" or "-inf", not %.40r' % text)
    return float(text)


def _bytes(tag):
    import binascii
    _require(tag, ("base64",))
    try:
        return binascii.a2b_base64(_str(tag, "base64"), strict_mode=True)
    except (binascii.Error, ValueError) as e:
        raise _Bad('"base64" is not valid base64: %s' % e) from None


def _complex(tag):
    _require(tag, ("real", "imag"))
    return complex(_number(tag, "real"), _number(tag, "imag"))


def _decimal(tag):
    decimal = _module("decimal", "decimal")
    _require(tag, ("value",))
    text = _str(tag, "value")
    try:
        return decimal.Decimal(text)
    except decimal.InvalidOperation:
        raise _Bad('"value" is not a decimal number: %.40r' % text) from None


def _iso(type_name):
    def decode(tag):
        datetime = _module("datetime", type_name)
        _require(tag, ("value",))
        text = _str(tag, "value")
        try:
            return getattr(datetime, type_name).fromisoformat(text)
        except ValueError:
            raise _Bad('"value" is not an ISO 8601 %s: %.60r' % (type_name, text)) from None
    return decode


def _timedelta(tag):
    datetime = _module("datetime", "timedelta")
    _require(tag, ("seconds",))
    try:
        return datetime.timedelta(seconds=_number(tag, "seconds"))
    except (OverflowError, ValueError) as e:
        raise _Bad('"seconds" is out of range: %s' % e) from None


def _path(tag):
    pathlib = _module("pathlib", "path")
    _require(tag, ("value",))
    return pathlib.Path(_str(tag, "value"))


def _dataclass(tag):
    """An instance of a dataclass of the same name and fields, made here.

    The original class is not known here: the instance has the class name and the
    fields (dataclasses.fields, asdict, replace and attribute access work), so it
    comes back as the same tag, but it is not an instance of the user's own class.
    """
    dataclasses = _module("dataclasses", "dataclass")
    import keyword
    _require(tag, ("class", "fields"))
    name = _str(tag, "class")
    fields = _get(tag, "fields", (dict,), "an object")
    if not name:
        raise _Bad('"class" must not be empty')
    for field in fields:
        if not field.isidentifier() or keyword.iskeyword(field) or field.startswith("__"):
            raise _Bad('field name %.40r is not a usable attribute name' % field)
    key = (name, tuple(fields))
    cls = _classes.get(key)
    if cls is None:
        cls = dataclasses.make_dataclass(name.rpartition(".")[2] or name, list(fields))
        cls.__qualname__ = name
        _classes[key] = cls
    return cls(**fields)


def _shape(tag):
    shape = _list(tag, "shape")
    if len(shape) > MAX_NDIM:
        raise _Bad('"shape" has more than %d dimensions' % MAX_NDIM)
    for n in shape:
        if not isinstance(n, int) or isinstance(n, bool) or n < 0:
            raise _Bad('"shape" must hold non-negative integers, not %.40r' % (n,))
    return shape


def _flatten(data, shape, level, out):
    """Appends the elements of nested lists `data` that must have `shape` to out."""
    if level == len(shape):
        out.append(data)
        return
    if not isinstance(data, list) or len(data) != shape[level]:
        raise _Bad('"data" does not match "shape" %s: %s at depth %d where an array of %d '
                   'was expected' % (shape, _kind(data), level, shape[level]))
    if shape[level] == 0:
        return  # tolist() stops at the first empty dimension
    for item in data:
        _flatten(item, shape, level + 1, out)


def _timedeltas(np, dtype, seconds):
    """timedelta64 elements from their seconds (None or NaN: NaT), as results write them."""
    unit, count = np.datetime_data(dtype)
    if unit == "generic":
        raise _Bad('dtype "%s" has no unit' % dtype)
    per_second = np.timedelta64(1, "s") / np.timedelta64(count, unit)
    nat = np.iinfo(np.int64).min  # how numpy stores NaT
    ticks = np.empty(len(seconds), dtype=np.int64)
    for i, s in enumerate(seconds):
        if s is None or (isinstance(s, float) and s != s):
            ticks[i] = nat
            continue
        if not isinstance(s, (int, float)) or isinstance(s, bool):
            raise _Bad("a timedelta64 element must be seconds, not %s" % _kind(s))
        t = s * per_second
        if t != t or abs(t) >= 2.0 ** 63:
            raise _Bad("a timedelta64 element is out of range: %r seconds" % s)
        ticks[i] = round(t)
    return ticks.view(dtype)


def _too_big(dtype, count):
    """True if count items of dtype pass MAX_ARRAY_BYTES.

    numpy 1.24 computes a str dtype's item size in 32 bits: "U999999999" has
    itemsize -294967300, so a negative size is too big as well.
    """
    return dtype.itemsize < 0 or dtype.itemsize > MAX_ARRAY_BYTES or \
        count * max(dtype.itemsize, 1) > MAX_ARRAY_BYTES


def _ndarray(tag):
    np = _module("numpy", "ndarray")
    _require(tag, ("dtype", "shape", "data"))
    text = _str(tag, "dtype")
    shape = _shape(tag)
    try:
        dtype = np.dtype(text)
    except (TypeError, ValueError, SyntaxError):
        raise _Bad('"dtype" %.60r is not a numpy dtype' % text) from None
    if dtype.kind not in "biufcmMOSU" or dtype.fields is not None:
        raise _Bad('"dtype" %.60r cannot be rebuilt from JSON' % text)
    count = 1
    for n in shape:
        count *= n
    if _too_big(dtype, count):
        raise _Bad('shape %s of %s needs more than %d bytes' % (shape, text, MAX_ARRAY_BYTES))
    leaves = []
    _flatten(tag["data"], shape, 0, leaves)
    if dtype.kind == "m":
        flat = _timedeltas(np, dtype, leaves)
    elif dtype.kind == "O":
        flat = np.empty(len(leaves), dtype=object)
        for i, leaf in enumerate(leaves):
            flat[i] = leaf
    else:
        try:
            flat = np.array(leaves, dtype=dtype)
        except (TypeError, ValueError, OverflowError) as e:
            raise _Bad('"data" does not fit dtype %s: %s: %s' % (text, type(e).__name__, e)) \
                from None
        if flat.shape != (len(leaves),):
            raise _Bad('"data" is nested deeper than "shape" %s' % (shape,))
    return flat.reshape(shape)


def _pandas(type_name):
    return _module("pandas", type_name)


def _quiet(decode):
    """decode() with warnings (pandas' FutureWarning and friends) kept off stderr."""
    def run(tag):
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return decode(tag)
    return run


def _sized_dtype(text, count):
    """text, a pandas dtype; refused when count items of it would pass MAX_ARRAY_BYTES.

    pandas keeps a numpy dtype such as "S1000000000" as it is, so its item size
    is checked like an ndarray's; extension dtypes ("category", "Int64") are
    not numpy dtypes and hold ordinary items.
    """
    np = sys.modules.get("numpy")
    try:
        dtype = np.dtype(text)
    except Exception:
        return text
    if _too_big(dtype, count):
        raise _Bad('%d values of dtype %.60s need more than %d bytes'
                   % (count, text, MAX_ARRAY_BYTES))
    return text


def _same_length(tag, a, b):
    if len(tag[a]) != len(tag[b]):
        raise _Bad('"%s" has %d entries and "%s" %d' % (a, len(tag[a]), b, len(tag[b])))


def _dataframe(tag):
    pd = _pandas("DataFrame")
    _require(tag, ("columns", "index", "data", "dtypes"))
    columns, index, rows = _list(tag, "columns"), _list(tag, "index"), _list(tag, "data")
    dtypes = _get(tag, "dtypes", (dict,), "an object")
    _same_length(tag, "data", "index")
    for i, row in enumerate(rows):
        if not isinstance(row, list) or len(row) != len(columns):
            raise _Bad('"data"[%d] must be an array of %d values, one per column'
                       % (i, len(columns)))
    names = [str(c) for c in columns]
    for key, dtype in dtypes.items():
        if key not in names:
            raise _Bad('"dtypes" names "%.60s", which is not a column' % key)
        if not isinstance(dtype, str):
            raise _Bad('"dtypes"["%.60s"] must be a string' % key)
    series = []
    for i, name in enumerate(names):
        if name not in dtypes:
            raise _Bad('"dtypes" lacks the column "%.60s"' % name)
        dtype = _sized_dtype(dtypes[name], len(rows))
        series.append(pd.Series([row[i] for row in rows], dtype=dtype))
    if series:
        frame = pd.concat(series, axis=1, ignore_index=True)
    else:
        frame = pd.DataFrame(index=range(len(rows)))
    frame.columns = columns
    frame.index = pd.Index(index)
    return frame


def _series(tag):
    pd = _pandas("Series")
    _require(tag, ("name", "dtype", "index", "data"))
    _list(tag, "index"), _list(tag, "data")
    _same_length(tag, "data", "index")
    dtype = _sized_dtype(_str(tag, "dtype"), len(tag["data"]))
    return pd.Series(tag["data"], index=pd.Index(tag["index"]), dtype=dtype, name=tag["name"])


def _index(tag):
    pd = _pandas("Index")
    _require(tag, ("name", "dtype", "data"))
    data = _list(tag, "data")
    return pd.Index(data, dtype=_sized_dtype(_str(tag, "dtype"), len(data)), name=tag["name"])


def _categorical(tag):
    pd = _pandas("Categorical")
    _require(tag, ("categories", "codes", "ordered"))
    categories, codes = _list(tag, "categories"), _list(tag, "codes")
    ordered = _get(tag, "ordered", (bool,), "a boolean")
    for c in codes:
        if not isinstance(c, int) or isinstance(c, bool) or not -1 <= c < len(categories):
            raise _Bad('"codes" must be integers from -1 to %d, not %.40r'
                       % (len(categories) - 1, c))
    return pd.Categorical.from_codes(codes, categories=categories, ordered=ordered)


def _period(tag):
    pd = _pandas("period")
    _require(tag, ("value", "freq"))
    return pd.Period(_str(tag, "value"), freq=_str(tag, "freq"))


def _interval(tag):
    pd = _pandas("interval")
    _require(tag, ("left", "right", "closed"))
    closed = _str(tag, "closed")
    if closed not in _PANDAS_CLOSED:
        raise _Bad('"closed" must be one of %s, not %.40r' % (", ".join(_PANDAS_CLOSED), closed))
    return pd.Interval(tag["left"], tag["right"], closed=closed)


_DECODERS = {
    "int": _int,
    "float": _float,
    "bytes": _bytes,
    "complex": _complex,
    "decimal": _decimal,
    "datetime": _iso("datetime"),
    "date": _iso("date"),
    "time": _iso("time"),
    "timedelta": _timedelta,
    "path": _path,
    "dataclass": _dataclass,
    "ndarray": _quiet(_ndarray),
    "DataFrame": _quiet(_dataframe),
    "Series": _quiet(_series),
    "Index": _quiet(_index),
    "Categorical": _quiet(_categorical),
    "period": _quiet(_period),
    "interval": _quiet(_interval),
}


def decode_tag(tag, path):
    """The Python value of a tagged object (members already decoded) at `path`."""
    type_name = tag["$type"]
    decoder = _DECODERS.get(type_name)
    try:
        if decoder is None:
            raise _Bad("is not a known type (known: %s)" % ", ".join(sorted(_DECODERS) + ["dict"]))
        return decoder(tag)
    except _Bad as e:
        raise ValueError('%s: {"$type": "%.60s"}: %s' % (path, type_name, e)) from None
    except ImportError as e:
        raise ImportError("%s: %s" % (path, e)) from None
    except (MemoryError, RecursionError):
        raise
    except Exception as e:  # what numpy, pandas or a constructor refused
        raise ValueError('%s: {"$type": "%.60s"}: %s: %s'
                         % (path, type_name, type(e).__name__, e)) from None
