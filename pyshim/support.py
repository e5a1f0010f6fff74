"""Support code run inside each execution child, before and after the user's code.

It is compiled from a C string embedded in the helper, under a '<pysandbox/...>'
filename: the import filter looks past its frames and tracebacks leave them out.
"""

import linecache
import sys
import traceback

_HIDDEN = ("<pysandbox", "<frozen importlib", "<frozen zipimport")


def register_source(filename, source):
    """Makes tracebacks of code compiled under `filename` show its lines."""
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)


def _strip(te):
    """Removes sandbox and import-machinery frames from a TracebackException chain."""
    seen = set()
    while te is not None and id(te) not in seen:
        seen.add(id(te))
        te.stack[:] = [f for f in te.stack if not f.filename.startswith(_HIDDEN)]
        if te.__cause__ is not None:
            _strip(te.__cause__)
        te = te.__context__


def format_exception(exc):
    """(type name, message, traceback text) of an exception, user frames only."""
    cls = type(exc)
    name = cls.__qualname__
    if cls.__module__ not in ("builtins", "__main__"):
        name = cls.__module__ + "." + name
    if isinstance(exc, SyntaxError):
        message = exc.msg or ""
        if exc.lineno:
            message += " (line %d)" % exc.lineno
    else:
        try:
            message = str(exc)
        except Exception:  # a broken __str__ must not hide the error
            message = "<unprintable %s>" % name
    try:
        te = traceback.TracebackException.from_exception(exc)
        _strip(te)
        text = "".join(te.format())
    except Exception:
        text = "%s: %s\n" % (name, message)
    return name, message, text


class ImportFilter:
    """A meta path finder that asks the sandbox whether an import may proceed."""

    def __init__(self, check):
        self._check = check

    def find_spec(self, name, path=None, target=None):
        self._check(name)
        return None

    def invalidate_caches(self):
        pass


def install_import_filter(check, importlib):
    """Puts the filter first on sys.meta_path and guards importlib's entry points.

    importlib.import_module() and importlib.__import__() reach modules already in
    sys.modules without the builtins.__import__ wrapper, so they check first too.
    """
    sys.meta_path.insert(0, ImportFilter(check))
    bootstrap = importlib._bootstrap
    original_import_module = importlib.import_module
    original_dunder_import = importlib.__import__

    def import_module(name, package=None):
        if isinstance(name, str):
            level = len(name) - len(name.lstrip("."))
            absolute = name
            if level:
                try:
                    absolute = bootstrap._resolve_name(name[level:], package, level)
                except Exception:
                    absolute = None
            if absolute:
                check(absolute)
        return original_import_module(name, package)

    def dunder_import(name, globals=None, locals=None, fromlist=(), level=0):
        if isinstance(name, str) and level == 0 and name:
            check(name)
        return original_dunder_import(name, globals, locals, fromlist, level)

    import_module.__doc__ = original_import_module.__doc__
    importlib.import_module = import_module
    importlib.__import__ = dunder_import


# Imported by a warm helper before it forks when the caller names no modules.
DEFAULT_PRELOAD = (
    "json", "re", "math", "statistics", "datetime", "collections", "itertools",
    "functools", "random", "decimal", "fractions", "csv", "io", "base64",
    "hashlib", "textwrap", "string", "typing", "dataclasses", "traceback",
    "numpy", "pandas", "matplotlib", "matplotlib.pyplot",
)


def _warm_up():
    """Runs each library once so its lazy set-up happens in the helper, not per run."""
    import io
    np = sys.modules.get("numpy")
    if np is not None:
        a = np.arange(1000, dtype=float)
        a.mean(), a.std(), np.sort(a), a.reshape(10, 100).sum(axis=0)
        np.random.default_rng(0).random(10)
    pd = sys.modules.get("pandas")
    if pd is not None:
        df = pd.DataFrame({"k": ["a", "b", "a"], "v": [1.0, 2.0, 3.0]})
        df.groupby("k")["v"].agg(["sum", "mean"])
        df.merge(df, on="k").describe()
        df.pivot_table(index="k", values="v", aggfunc="sum")
        pd.to_datetime(["2024-01-01"])
        pd.read_csv(io.StringIO("a,b\n1,2\n"))
    plt = sys.modules.get("matplotlib.pyplot")
    if plt is not None:
        fig, ax = plt.subplots()
        ax.plot([0, 1], [0, 1], label="x")
        ax.bar(["a"], [1])
        ax.legend()
        ax.set_title("warm-up")
        fig.savefig(io.BytesIO(), format="png")
        plt.close("all")


def check_preload(names):
    """Why an explicitly named module cannot be found, or None (nothing is imported)."""
    import importlib.util
    for name in names:
        top = name.split(".")[0]
        try:
            found = importlib.util.find_spec(top) is not None
        except (ImportError, ValueError) as e:
            return "cannot preload %s: %s: %s" % (name, type(e).__name__, e)
        if not found:
            return "cannot preload %s: ModuleNotFoundError: No module named %r" % (name, top)
    return None


def preload(names):
    """Imports the preload set. Returns None, or why an explicitly named module failed."""
    import gc
    import importlib
    explicit = names is not None
    for name in names if explicit else DEFAULT_PRELOAD:
        try:
            if name == "matplotlib" or name.startswith("matplotlib."):
                import matplotlib
                matplotlib.use("Agg")
            importlib.import_module(name)
        except Exception as e:
            if explicit:
                return "cannot preload %s: %s: %s" % (name, type(e).__name__, e)
    try:
        _warm_up()
    except Exception as e:
        return "warming up the preloaded libraries failed: %s: %s" % (type(e).__name__, e)
    # Objects that exist now are never collected: the children do not touch
    # (and so do not copy) their pages for garbage collection.
    gc.collect()
    gc.freeze()
    return None


def after_fork():
    """Makes a forked interpreter independent of its siblings (before its request).

    Random streams re-seeded, SIGINT raising KeyboardInterrupt again (the
    signal reset after fork removed the handler), plt.show() capturing.
    """
    import random
    import signal
    signal.signal(signal.SIGINT, signal.default_int_handler)
    random.seed()
    np = sys.modules.get("numpy")
    if np is not None and hasattr(np, "random"):
        np.random.seed()
    tempfile = sys.modules.get("tempfile")
    if tempfile is not None:
        tempfile.tempdir = None
    install_figure_capture()


class _AfterLoader:
    """A module's loader that runs fn(module) once the module's own code ran."""

    def __init__(self, loader, fn):
        self._loader = loader
        self._fn = fn

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._loader.exec_module(module)
        self._fn(module)

    def __getattr__(self, name):
        return getattr(self._loader, name)


class _OnImport:
    """A meta path finder that gives some modules an _AfterLoader."""

    def __init__(self, hooks):
        self._hooks = hooks

    def find_spec(self, name, path=None, target=None):
        fn = self._hooks.get(name)
        if fn is None:
            return None
        import importlib.machinery
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is not None and spec.loader is not None:
            spec.loader = _AfterLoader(spec.loader, fn)
        return spec

    def invalidate_caches(self):
        pass


def early(font_cache):
    """In a child forked before the preload: libraries imported on demand behave as warm.

    plt.show() captures once pyplot is imported, and matplotlib reads the font
    list from the shared, read-only cache (font_cache, or None when there is no
    trusted one) instead of building its own.
    """
    hooks = {"matplotlib.pyplot": lambda module: install_figure_capture()}
    if font_cache:
        def use_cache(mpl):
            mpl.get_cachedir = lambda: font_cache
        hooks["matplotlib"] = use_cache
    # After the import filter, which must judge the import first.
    sys.meta_path.insert(1, _OnImport(hooks))


def pretouch():
    """Runs a throwaway snippet in the spare, before its request.

    Compiling and running code touches (and so copies) pages of the shared
    heap; doing it here, at idle priority, takes those copy-on-write faults
    off the path of the request that follows. (Touching pandas as well helped
    a pandas run after a pause, 6 -> 4 ms, but doubled back-to-back latency:
    a spare that is still pre-touching is not ready.)
    """
    scratch = {"__builtins__": __builtins__}
    code = compile("result = {'a': [1, 2.5, 'x'], 'b': len(str(inputs))}\n", "<pysandbox/warm>",
                   "exec")
    scratch["inputs"] = {"k": [1, 2]}
    exec(code, scratch)
    register_source("<pysandbox/warm>", "")
    linecache.cache.pop("<pysandbox/warm>", None)
    return scratch["result"]


def enter(environ):
    """os.environ as the execution's environment; returns a fresh __main__'s globals."""
    import builtins
    import os
    import types
    # The C environment is already set: replace the mapping without putenv calls.
    data = os.environ._data
    data.clear()
    for key, value in environ.items():
        data[os.environ.encodekey(key)] = os.environ.encodevalue(value)
    main = types.ModuleType("__main__")
    main.__builtins__ = builtins
    sys.modules["__main__"] = main
    return main.__dict__


def _tag(type_name, **fields):
    d = {"$type": type_name}
    d.update(fields)
    return d


def _iso(value):
    return value.isoformat()


def jsonable(obj):
    """The JSON-ready form of a value the C converter does not know natively.

    Returns dicts, lists and scalars (which the C side converts further), or
    raises TypeError. The shapes are documented in the README ("Value types");
    pyshim/inputs.py reads them back when a result is fed in as inputs.
    """
    import base64
    import dataclasses
    import datetime
    import decimal
    import pathlib

    if isinstance(obj, (bytes, bytearray, memoryview)):
        return _tag("bytes", base64=base64.b64encode(bytes(obj)).decode("ascii"))
    if isinstance(obj, complex):
        return _tag("complex", real=obj.real, imag=obj.imag)
    if isinstance(obj, decimal.Decimal):
        return _tag("decimal", value=str(obj))
    if isinstance(obj, pathlib.PurePath):
        return _tag("path", value=str(obj))
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        fields = {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
        return _tag("dataclass", **{"class": type(obj).__qualname__, "fields": fields})

    pd = sys.modules.get("pandas")
    np = sys.modules.get("numpy")
    if pd is not None:
        if obj is pd.NaT or obj is getattr(pd, "NA", object()):
            return None
        if isinstance(obj, pd.DataFrame):
            return _tag(
                "DataFrame",
                columns=list(obj.columns),
                index=_pandas_values(obj.index),
                data=[_row(r) for r in obj.itertuples(index=False, name=None)],
                dtypes={str(c): str(t) for c, t in obj.dtypes.items()},
            )
        if isinstance(obj, pd.Series):
            return _tag("Series", name=obj.name, dtype=str(obj.dtype),
                        index=_pandas_values(obj.index), data=_pandas_values(obj))
        if isinstance(obj, pd.Index):
            return _tag("Index", name=obj.name, dtype=str(obj.dtype), data=_pandas_values(obj))
        if isinstance(obj, pd.Categorical):
            return _tag("Categorical", categories=list(obj.categories),
                        codes=[int(c) for c in obj.codes], ordered=bool(obj.ordered))
        if isinstance(obj, pd.Timestamp):
            return _tag("datetime", value=_iso(obj))
        if isinstance(obj, pd.Timedelta):
            return _tag("timedelta", seconds=obj.total_seconds())
        if isinstance(obj, pd.Period):
            return _tag("period", value=str(obj), freq=str(obj.freqstr))
        if isinstance(obj, pd.Interval):
            return _tag("interval", left=obj.left, right=obj.right, closed=obj.closed)
    if np is not None:
        if isinstance(obj, np.ndarray):
            return _tag("ndarray", dtype=str(obj.dtype), shape=list(obj.shape),
                        data=_array_data(np, obj))
        if isinstance(obj, np.generic):
            if isinstance(obj, np.datetime64):
                return None if np.isnat(obj) else _tag(
                    "datetime", value=str(np.datetime_as_string(obj)))
            if isinstance(obj, np.timedelta64):
                return None if np.isnat(obj) else _tag(
                    "timedelta", seconds=obj / np.timedelta64(1, "s"))
            return obj.item()  # bool_, integer, floating, complex, str_, bytes_
    if isinstance(obj, datetime.datetime):
        return _tag("datetime", value=_iso(obj))
    if isinstance(obj, datetime.date):
        return _tag("date", value=_iso(obj))
    if isinstance(obj, datetime.time):
        return _tag("time", value=_iso(obj))
    if isinstance(obj, datetime.timedelta):
        return _tag("timedelta", seconds=obj.total_seconds())
    raise TypeError(type(obj).__qualname__)


def _row(values):
    return list(values)


def _array_data(np, a):
    kind = a.dtype.kind
    if kind == "M":  # datetime64: ISO strings, NaT as None
        text = np.datetime_as_string(a).astype(object)
        text[np.isnat(a)] = None
        return text.tolist()
    if kind == "m":  # timedelta64: seconds
        seconds = (a / np.timedelta64(1, "s"))
        return seconds.tolist()
    return a.tolist()


def _pandas_values(values):
    """A pandas Index/Series as a plain list; datetimes and categories handled per value."""
    try:
        return values.tolist()
    except Exception:
        return list(values)


_shown = []  # PNG bytes of figures captured when plt.show() was called
_shown_ids = set()


def _render(fig):
    import io
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def install_figure_capture():
    """Makes plt.show() capture the open figures (Agg cannot display them)."""
    plt = sys.modules.get("matplotlib.pyplot")
    if plt is None or getattr(plt.show, "_pysandbox", False):
        return

    def show(*args, **kwargs):
        for num in plt.get_fignums():
            fig = plt.figure(num)
            _shown.append(_render(fig))
            _shown_ids.add(id(fig))

    show._pysandbox = True
    plt.show = show


def collect_figures(limit_bytes, limit_count):
    """Every figure shown or still open, as PNG, within the caps.

    Returns (list of PNG bytes, truncated).
    """
    images = list(_shown)
    plt = sys.modules.get("matplotlib.pyplot")
    if plt is not None:
        for num in plt.get_fignums():
            fig = plt.figure(num)
            if id(fig) not in _shown_ids:
                images.append(_render(fig))
    out, total, truncated = [], 0, False
    for data in images:
        if len(out) >= limit_count or total + len(data) > limit_bytes:
            truncated = True
            break
        total += len(data)
        out.append(bytes(data))
    return out, truncated



def forget_figures():
    """After a session's cell: its figures went back with it; the next starts with none."""
    del _shown[:]
    _shown_ids.clear()
    plt = sys.modules.get("matplotlib.pyplot")
    if plt is not None:
        plt.close("all")
