"""The external-interpreter engine's side of one execution, in the interpreter the host named.

embed/external.c execs that interpreter, confined, with a stub that reads the request from
fd 4 and runs this file (compiled once, by the helper's probe of that interpreter, under
'<pysandbox/external.py>') with ARGS bound. It does in Python
what the embedded engine does in C: the audit hook and the import filter (hooks/), `inputs`
bound (embed/inputs.c), the code run as a notebook cell, `result` converted with the same
JSON shapes (embed/convert.c), and the reply frames written on fd 3 (embed/reply.c) with the
displays, figures and files. The kernel layers are the same; these hooks, installed from
Python rather than C, are the part that is weaker (README).
"""

import builtins
import os
import struct
import sys
import types

A = ARGS  # noqa: F821 (bound by the stub)
CAPS = A["caps"]
LIMITS = A["limits"]
KIND = None  # the last denial: (kind, name, message)
_armed = False


def _write_all(data):
    view = memoryview(data)
    while view:
        view = view[os.write(3, view):]


def _frame(kind, payload):
    _write_all(struct.pack("=IIQ", A["frames"][kind], 0, len(payload)))
    if payload:
        _write_all(payload)


def _load(name):
    """A pyshim module, from the code the probe compiled for this interpreter."""
    import base64
    import marshal
    mod = types.ModuleType("_pysandbox_" + name)
    mod.__file__ = "<pysandbox/%s.py>" % name
    sys.modules[mod.__name__] = mod
    exec(marshal.loads(base64.b64decode(A["probe"]["code"][name])), mod.__dict__)
    return mod


# ---- the import policy and the audit hook (hooks/importfilter.c, hooks/audit.c) ----

def _allowed(module):
    """Longest rule matching the module or a parent wins; deny wins a tie; else the default."""
    best, allow = -1, A["default_allow"]
    for rule in A["rules"]:
        m = rule["module"]
        if module == m or module.startswith(m + "."):
            if len(m) > best or (len(m) == best and not rule["allow"]):
                best, allow = len(m), rule["allow"]
    return allow


def _real(path):
    try:
        return os.path.realpath(path)
    except (OSError, ValueError):
        return None


def _under(path, roots):
    return any(path == r or path.startswith(r.rstrip("/") + "/") for r in roots)


_trusted = []      # library roots: their code's imports are its own
_transparent = []  # import machinery: look further up the stack
_readable = []
_writable = []


def _classify(frame):
    fn = frame.f_code.co_filename
    if fn.startswith(("<pysandbox", "<frozen importlib", "<frozen zipimport")):
        return "transparent"
    if fn.startswith("<frozen "):
        return "trusted"
    if not fn.startswith("/") or "/../" in fn or "/./" in fn:
        return "user"
    if _under(fn, _transparent):
        return "transparent"
    if not _under(fn, _trusted):
        return "user"
    # A library's file name on code run in someone else's globals is the user's.
    name = frame.f_globals.get("__name__")
    mod = sys.modules.get(name) if isinstance(name, str) else None
    ok = isinstance(mod, types.ModuleType) and mod.__dict__ is frame.f_globals
    return "trusted" if ok and name != "__main__" else "user"


_HERE = "<pysandbox/external.py>"


def _caller_is_user(direct=False):
    """Whether the code asking (past this file's own frames) is the user's (hooks/importfilter.c).

    direct: the question comes from builtins.__import__, whose caller is the importer itself:
    an importer that is import machinery imports for someone else and is let through.
    """
    f = sys._getframe(1)
    while f is not None and f.f_code.co_filename == _HERE:
        f = f.f_back
    first = True
    while f is not None:
        cls = _classify(f)
        if cls != "transparent":
            return cls == "user"
        if direct and first:
            return False
        first = False
        f = f.f_back
    return False


def _deny(kind, name, exc_type, message):
    global KIND
    KIND = (kind, name, message)
    raise exc_type(message)


def _check(module, direct=False):
    if _armed and not _allowed(module) and _caller_is_user(direct):
        _deny("import_denied", module, ImportError,
              "import of '%s' is not allowed by the sandbox policy" % module)


def _matches(patterns, event):
    for p in patterns:
        if (p.endswith("*") and event.startswith(p[:-1])) or event == p:
            return True
    return False


_WRITE_EVENTS = {
    "os.remove": (0,), "os.rmdir": (0,), "os.rename": (0, 1), "os.mkdir": (0,),
    "os.symlink": (1,), "os.link": (0, 1), "os.chmod": (0,), "os.chown": (0,),
    "os.truncate": (0,), "os.utime": (0,), "os.setxattr": (0,), "os.removexattr": (0,),
    "shutil.rmtree": (0,), "shutil.move": (0, 1), "shutil.make_archive": (0,),
}


def _path_arg(event, args, i, write):
    if i >= len(args):
        return
    arg = args[i]
    if arg is None and not write:
        arg = "."
    if isinstance(arg, int) or arg is None:
        return
    try:
        path = _real(os.fsdecode(arg))
    except (TypeError, ValueError):
        return
    if path is None or path == "/dev/null":
        return
    if _under(path, _writable) or (not write and _under(path, _readable)):
        return
    if write:
        _deny("denied", event, PermissionError,
              "writing '%s' is not allowed by the sandbox policy: files may be written only in "
              "the working directory (audit event '%s')" % (path, event))
    _deny("denied", event, PermissionError,
          "reading '%s' is not allowed by the sandbox policy (audit event '%s')" % (path, event))


def _opens_for_writing(args):
    mode = args[1] if len(args) > 1 else None
    flags = args[2] if len(args) > 2 else None
    if isinstance(mode, str) and any(c in mode for c in "wax+"):
        return True
    if isinstance(flags, int) and ((flags & os.O_ACCMODE) != os.O_RDONLY or
                                   flags & (os.O_CREAT | os.O_TRUNC | os.O_APPEND)):
        return True
    return False


def _audit(event, args):
    if not _armed:
        return
    if event == "socket.__new__" and len(args) > 1 and args[1] == 1:  # AF_UNIX socketpair
        return
    if _matches(A["denied_events"], event) or (
            _matches(A["user_denied_events"], event) and _caller_is_user()):
        _deny("denied", event, PermissionError,
              "'%s' is not allowed by the sandbox policy (audit event '%s')" % (event, event))
    if event == "open":
        _path_arg(event, args, 0, _opens_for_writing(args))
    elif event in ("os.listdir", "os.scandir"):
        _path_arg(event, args, 0, False)
    elif event in _WRITE_EVENTS:
        for i in _WRITE_EVENTS[event]:
            _path_arg(event, args, i, True)


def _install_hooks(support):
    import importlib

    for site in reversed(A.get("sites") or []):
        if site not in sys.path:
            sys.path.insert(0, site)
    for p in list(sys.path) + list(A["trusted"]):
        r = _real(p) if p.startswith("/") else None
        if r and os.path.isdir(r):
            _trusted.append(r)
    # importlib is machinery and ctypes a thin layer over its C part: their callers decide.
    _transparent.append(os.path.dirname(_real(importlib.__file__)))
    _transparent.append(os.path.join(os.path.dirname(_real(os.__file__)), "ctypes"))
    _readable.extend(r for r in map(_real, A["readable_paths"] + _trusted) if r)
    _writable.extend(r for r in map(_real, [A["scratch"], A.get("writable")] if A.get("writable")
                                    else [A["scratch"]]) if r)
    original = builtins.__import__

    def guarded_import(name, globals=None, locals=None, fromlist=(), level=0):
        absname = name
        if level:
            pkg = (globals or {}).get("__package__") or ""
            parts = pkg.split(".") if pkg else []
            absname = None
            if pkg and level - 1 < len(parts):
                base = ".".join(parts[:len(parts) - (level - 1)])
                absname = base + ("." + name if name else "")
            elif pkg and _armed and _caller_is_user(True):
                _deny("import_denied", name, ImportError,
                      "relative import of '%s' could not be checked, so it is not allowed by "
                      "the sandbox policy" % name)
        if absname:
            _check(absname, True)
            for item in fromlist or ():
                if isinstance(item, str) and item != "*":
                    _check(absname + "." + item, True)
        return original(name, globals, locals, fromlist, level)

    builtins.__import__ = guarded_import
    support.install_import_filter(_check, importlib)
    stand_in = types.ModuleType("_pysandbox")
    stand_in.policy_allows = _allowed
    stand_in.check_import = _check
    sys.modules["_pysandbox"] = stand_in
    sys.addaudithook(_audit)


# ---- the reply (embed/reply.c) ----

def _cut(s, limit, keep_end=False):
    if s is None:
        return None
    b = s.encode("utf-8", "replace")
    if len(b) <= limit:
        return s.encode("utf-8", "replace").decode("utf-8", "replace")
    b = b"..." + b[-limit:] if keep_end else b[:limit] + b"..."
    return b.decode("utf-8", "replace")


def _files():
    """The files the code left in its working directory: (name, bytes), or None over the caps."""
    import stat
    seen = {tuple(s) for s in A["input_stats"]}
    top = A["scratch"]
    out, total = [], 0
    for dirpath, dirnames, filenames in os.walk(top):
        dirnames.sort()
        for name in sorted(filenames):
            path = os.path.join(dirpath, name)
            try:
                st = os.lstat(path)
            except OSError:
                continue
            if not stat.S_ISREG(st.st_mode):
                continue
            key = (st.st_dev, st.st_ino, st.st_size, int(st.st_mtime_ns // 10**9),
                   st.st_mtime_ns % 10**9)
            if key in seen:
                continue
            total += st.st_size
            if len(out) >= CAPS["max_files"] or total > LIMITS["files_bytes"]:
                return None
            with open(path, "rb", opener=lambda p, f: os.open(p, f | os.O_NOFOLLOW)) as f:
                out.append((os.path.relpath(path, top), f.read(LIMITS["files_bytes"] + 1)))
    return out


def _display_payload(is_result, entries):
    b = bytearray(b"R" if is_result else b"D")
    for mime, text in entries[:CAPS["max_mimes"]]:
        data = text.encode("utf-8")
        b += mime.encode("ascii") + b"\0" + struct.pack("=Q", len(data)) + data
    return bytes(b)


def reply(kind=None, type_=None, message=None, tb=None, module=None, event=None,
          result=None, extras=True):
    global _armed
    _armed = False  # what runs from here on is ours
    import json
    figures, fig_trunc, displays, disp_trunc, files = [], False, [], False, []
    if extras:
        try:
            figures, fig_trunc = SUPPORT.collect_figures(LIMITS["figures_bytes"],
                                                         CAPS["max_figures"])
        except Exception:
            figures = []
        try:
            displays, disp_trunc = DISPLAY.take_displays()
        except Exception:
            displays = []
        try:
            files = _files()
            over = files is None
        except Exception:
            files, over = [], -1
        if over and kind in (None, "exception"):
            kind, type_, tb, module, event = ("output_limit" if over is True else "internal",
                                              None, None, None, None)
            message = ("the files written in the working directory exceed the limit of %d "
                       "bytes or %d files" % (LIMITS["files_bytes"], CAPS["max_files"]))
        files = files or []
    if kind is None:
        doc = {"status": "ok"}
    else:
        err = {"kind": kind}
        for key, value, cap, end in (("type", type_, CAPS["name"], False),
                                     ("message", message, CAPS["message"], False),
                                     ("traceback", tb, CAPS["traceback"], True),
                                     ("module", module, CAPS["name"], False),
                                     ("event", event, CAPS["name"], False)):
            if value is not None:
                err[key] = _cut(value, cap, end)
        doc = {"status": "error", "error": err}
    if fig_trunc:
        doc["figures_truncated"] = True
    if disp_trunc:
        doc["displays_truncated"] = True
    _frame("reply", json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode())
    _frame("result", result.encode() if kind is None and result is not None else b"null")
    for is_result, entries in displays:
        _frame("display", _display_payload(is_result, entries))
    for png in figures:
        _frame("figure", png)
    for name, data in files:
        _frame("file", name.encode() + b"\0" + data)
    os._exit(0)


def _report(exc, kind=None):
    global _armed
    _armed = False
    module = event = None
    if kind is None:
        kind = "exception"
        if isinstance(exc, MemoryError):
            kind = "memory_limit"
        elif KIND is not None and str(exc) == KIND[2]:
            kind = KIND[0]
            module, event = (KIND[1], None) if kind == "import_denied" else (None, KIND[1])
    try:
        type_, message, tb = SUPPORT.format_exception(exc)
    except Exception:
        type_, message, tb = type(exc).__name__, "(the exception could not be formatted)", None
    if kind == "memory_limit" and not message:
        message = ("out of memory: the execution reached its memory limit of %d MiB"
                   % LIMITS["memory_mib"])
    reply(kind, type_, message, tb, module, event)


# ---- running the code (embed/run.c) ----

def _run_source(source, filename, globals_, cell):
    global _armed
    SUPPORT.register_source(filename, source)
    expr = None
    try:
        if cell:
            code, expr, _ = DISPLAY.compile_cell(source, filename)
        else:
            code = compile(source, filename, "exec")
    except SyntaxError as e:
        _report(e, "syntax_error")
    except Exception as e:
        _report(e)
    try:
        _armed = A["hooks"]
        exec(code, globals_)
        if expr is not None:
            value = eval(expr, globals_)
            try:
                DISPLAY.show_value(value)
            except Exception:
                pass
    except SystemExit as e:
        if e.code not in (None, 0):
            _report(e)
        return 1
    except BaseException as e:  # noqa: B036 (KeyboardInterrupt too: the deadline's SIGINT)
        _report(e)
    return 0


def _refuse_exec():
    """Stacks the helper's seccomp program that refuses execve (the interpreter is running)."""
    prog = A.get("no_exec_filter")
    if not prog:
        return  # seccomp is off (a diagnostic run)
    import base64
    import ctypes
    code = base64.b64decode(prog)

    class Fprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    buf = ctypes.create_string_buffer(code, len(code))
    fprog = Fprog(len(code) // 8, ctypes.addressof(buf))
    libc = ctypes.CDLL(None, use_errno=True)
    PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 22, 2
    if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_SECCOMP)")


def main():
    import json
    global SUPPORT, DISPLAY, CONVERT
    try:
        _refuse_exec()
    except Exception as e:  # no ctypes, or the kernel said no: never run code that could exec
        reply("internal", type(e).__name__,
              "sandbox set-up failed: refusing exec with seccomp: %s" % e, extras=False)
    SUPPORT = _load("support")
    CONVERT = _load("convert")
    inputs_mod = _load("inputs")
    DISPLAY = _load("display")
    builtins.display = DISPLAY.display
    _install_hooks(SUPPORT)
    import signal
    signal.signal(signal.SIGINT, signal.default_int_handler)
    SUPPORT.install_figure_capture()
    # matplotlib reads the shared font list (when the host's cache is trusted) and captures
    # plt.show() once pyplot is imported, as in an early child of the embedded engine.
    SUPPORT.early(A.get("font_cache"))
    main_mod = types.ModuleType("__main__")
    main_mod.__builtins__ = builtins
    sys.modules["__main__"] = main_mod
    g = main_mod.__dict__
    try:
        g["inputs"] = CONVERT.from_json(A.get("inputs") or {}, inputs_mod.decode_tag)
    except BaseException as e:  # noqa: B036 (as the embedded engine reports it)
        _report(e)
    DISPLAY.begin_displays(LIMITS["display_bytes"], LIMITS["displays_bytes"])
    rc = 0
    if A.get("prelude"):
        rc = _run_source(A["prelude"], "<prelude>", g, False)
    if rc == 0:
        _run_source(A["code"], "<sandbox>", g, True)
    for s in (sys.stdout, sys.stderr):
        try:
            s.flush()
        except Exception:
            pass
    try:
        value = g.get("result")
        text = "null" if value is None else json.dumps(
            CONVERT.to_json(value, SUPPORT.jsonable), ensure_ascii=False,
            separators=(",", ":"), allow_nan=False)
    except CONVERT.NotConvertible as e:
        reply("result_not_serializable", None, str(e), extras=False)
    except MemoryError:
        reply("memory_limit", "MemoryError", "out of memory while converting the result",
              extras=False)
    if len(text.encode()) > LIMITS["result_bytes"]:
        reply("output_limit", None, "the result is %d bytes of JSON, more than the limit of %d"
              % (len(text.encode()), LIMITS["result_bytes"]), extras=False)
    reply(result=text)


main()
