"""Questions about code that a session answers without running it as a cell.

An editor's completion, help on a name, whether a block is complete, and the
values of watch expressions: each answered from the session's own namespace,
inside the confined child, as one JSON object (psb_session_ask() in the
header says which fields). Cursor positions count Unicode code points, as
Jupyter's do. Compiled under '<pysandbox/ask.py>'.
"""

import re
import sys

_MAX_MATCHES = 1000
_IDENT_TAIL = re.compile(r"[^\W\d]\w*(?:\s*\.\s*\w*)*$|\w*$")
_IMPORT_LINE = re.compile(r"^\s*(?:import|from)\s+([\w.]*)$")


def _token_before(code, cursor):
    """The dotted name that ends at cursor ('' when none) and where it starts."""
    m = _IDENT_TAIL.search(code[:cursor])
    token = m.group(0) if m else ""
    return re.sub(r"\s+", "", token), cursor - len(token)


def _modules(prefix):
    import pkgutil
    names = set(sys.builtin_module_names)
    if "." in prefix:
        parent = prefix.rsplit(".", 1)[0]
        module = sys.modules.get(parent)
        path = getattr(module, "__path__", None)
        if path is None:
            return []
        return sorted(parent + "." + m.name for m in pkgutil.iter_modules(path)
                      if (parent + "." + m.name).startswith(prefix))
    try:
        names.update(m.name for m in pkgutil.iter_modules())
    except OSError:
        pass
    return sorted(n for n in names if n.startswith(prefix) and not n.startswith("_"))


def complete(namespace, code, cursor):
    """{"matches", "cursor_start", "cursor_end", "metadata"} for code at cursor."""
    line = code[:cursor].rsplit("\n", 1)[-1]
    imp = _IMPORT_LINE.match(line)
    if imp:
        token = imp.group(1)
        matches = _modules(token)
        start = cursor - len(token)
    else:
        import rlcompleter
        token, start = _token_before(code, cursor)
        completer = rlcompleter.Completer(namespace)
        matches, seen = [], set()
        for state in range(_MAX_MATCHES):
            try:
                m = completer.complete(token, state)
            except Exception:
                break
            if m is None:
                break
            m = m.rstrip("(")
            if m not in seen:
                seen.add(m)
                matches.append(m)
        if "." not in token:
            matches.sort(key=lambda m: (m.startswith("_"), m))
    return {"matches": matches[:_MAX_MATCHES], "cursor_start": start, "cursor_end": cursor,
            "metadata": {}}


def _name_at(code, cursor):
    """The dotted name under or just before cursor, or the callee of an open call."""
    end = cursor
    while end < len(code) and (code[end].isalnum() or code[end] == "_"):
        end += 1
    name, _ = _token_before(code, end)
    if name.strip("."):
        return name.strip(".")
    depth = 0
    for i in range(cursor - 1, -1, -1):
        c = code[i]
        if c == ")":
            depth += 1
        elif c == "(":
            if depth == 0:
                name, _ = _token_before(code, i)
                return name.strip(".")
            depth -= 1
    return ""


def _lookup(namespace, name):
    """The object a dotted name names, by lookups only (nothing is evaluated)."""
    import builtins
    parts = name.split(".")
    if not parts[0].isidentifier():
        raise LookupError(name)
    if parts[0] in namespace:
        obj = namespace[parts[0]]
    elif hasattr(builtins, parts[0]):
        obj = getattr(builtins, parts[0])
    else:
        raise LookupError(name)
    for part in parts[1:]:
        obj = getattr(obj, part)
    return obj


def inspect(namespace, code, cursor, detail):
    """{"found", "data", "metadata"}: help on the name at cursor, as text/plain."""
    import inspect as insp
    name = _name_at(code, cursor)
    try:
        obj = _lookup(namespace, name)
    except Exception:
        return {"found": False, "data": {}, "metadata": {}}
    lines = ["Type:        " + type(obj).__qualname__]
    try:
        form = repr(obj)
    except Exception:
        form = "<unprintable>"
    if len(form) > 200:
        form = form[:200] + "..."
    lines.append("String form: " + form)
    try:
        lines.append("Signature:   " + name + str(insp.signature(obj)))
    except (TypeError, ValueError):
        pass
    doc = insp.getdoc(obj)
    if doc:
        lines.append("Docstring:\n" + doc)
    if detail:
        try:
            lines.append("Source:\n" + insp.getsource(obj))
        except (OSError, TypeError):
            pass
    return {"found": True, "data": {"text/plain": "\n".join(lines)}, "metadata": {}}


def is_complete(code):
    """{"status": "complete" | "incomplete" | "invalid", "indent"} as a console asks."""
    import codeop
    last = code.rstrip("\n").rsplit("\n", 1)[-1]
    indent = last[:len(last) - len(last.lstrip())]
    if last.rstrip().endswith(":"):
        indent += "    "
    import warnings
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            compiled = codeop.compile_command(code, "<input>", "exec")
    except (SyntaxError, OverflowError, ValueError):
        return {"status": "invalid"}
    if compiled is None or code.rstrip(" ").endswith("\\"):
        return {"status": "incomplete", "indent": indent}
    return {"status": "complete"}


def expressions(namespace, exprs, display):
    """Each expression of the object exprs (JSON text) evaluated: a bundle or an error."""
    import json
    import traceback
    out = {}
    for key, expr in json.loads(exprs).items():
        try:
            value = eval(compile(str(expr), "<sandbox>", "eval"), namespace)
            data = dict(display._bundle(value))
            out[key] = {"status": "ok", "data": data, "metadata": {}}
        except BaseException as exc:  # noqa: B902 - the user's expression may raise anything
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            out[key] = {"status": "error", "ename": type(exc).__name__, "evalue": str(exc),
                        "traceback": traceback.format_exception_only(type(exc), exc)}
    return out


def answer(namespace, what, code, cursor, display):
    """The answer to one question (what: the wire's name of it)."""
    if what == "complete":
        return complete(namespace, code, cursor)
    if what in ("inspect", "inspect_detail"):
        return inspect(namespace, code, cursor, what == "inspect_detail")
    if what == "is_complete":
        return is_complete(code)
    if what == "expressions":
        return expressions(namespace, code, display)
    raise ValueError("unknown question: %r" % (what,))
