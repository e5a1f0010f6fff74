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
