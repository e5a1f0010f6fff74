"""Notebook semantics inside an execution child: a cell's last expression and display().

Each shown object becomes a MIME bundle (text/plain always, then what its
_repr_*_ methods or its type give) within the per-bundle and total caps; the
C side sends each as a DISPLAY frame. Compiled under '<pysandbox/display.py>'.
"""

import sys


_displays = []  # DISPLAY payload parts: (is_result, [(mime, text), ...])
_display_caps = {"bundle": 4 << 20, "total": 16 << 20, "used": 0, "truncated": False}
_RICH = (
    ("_repr_html_", "text/html"), ("_repr_markdown_", "text/markdown"),
    ("_repr_svg_", "image/svg+xml"), ("_repr_latex_", "text/latex"),
    ("_repr_json_", "application/json"), ("_repr_png_", "image/png"),
    ("_repr_jpeg_", "image/jpeg"),
)


def compile_cell(source, filename):
    """(code of every statement but a last expression, that expression's code or None,
    whether the code names `result`).

    As a notebook runs a cell: the value of a trailing expression statement
    is shown, unless the cell ends with ';'. A session's cell returns the
    `result` global only if it names it. Raises SyntaxError.
    """
    import ast
    tree = ast.parse(source, filename, "exec")
    names = any(isinstance(n, ast.Name) and n.id == "result" or
                isinstance(n, (ast.Global, ast.Nonlocal)) and "result" in n.names
                for n in ast.walk(tree))
    last = None
    if tree.body and isinstance(tree.body[-1], ast.Expr) and not source.rstrip().endswith(";"):
        last = ast.Expression(tree.body.pop().value)
    body = compile(tree, filename, "exec", dont_inherit=True)
    return body, (compile(last, filename, "eval", dont_inherit=True) if last else None), names


def begin_displays(bundle_bytes, total_bytes):
    """Empties the bundles and sets the caps for the code about to run."""
    del _displays[:]
    _display_caps.update(bundle=bundle_bytes, total=total_bytes, used=0, truncated=False)


def _size(entries):
    return 1 + sum(len(m) + 9 + len(t.encode("utf-8", "surrogatepass")) for m, t in entries)


def _text(value):
    if isinstance(value, str):
        return value.encode("utf-8", "replace").decode("utf-8")
    return None


def _bundle(obj):
    """The MIME entries of obj: text/plain first, then what its _repr_*_ methods give."""
    import base64
    import json
    try:
        plain = repr(obj)
    except Exception:
        plain = "<unprintable %s>" % type(obj).__qualname__
    entries = [("text/plain", _text(plain) or "")]
    fig_type = None
    mpl_figure = sys.modules.get("matplotlib.figure")
    if mpl_figure is not None:
        fig_type = mpl_figure.Figure
    if fig_type is not None and isinstance(obj, fig_type):
        try:
            import io
            buf = io.BytesIO()
            obj.savefig(buf, format="png")
            entries.append(("image/png", base64.b64encode(buf.getvalue()).decode("ascii")))
        except Exception:
            pass
        return entries
    for method, mime in _RICH:
        if getattr(type(obj), method, None) is None:
            continue
        try:
            value = getattr(obj, method)()
        except Exception:
            continue
        if isinstance(value, tuple) and value:
            value = value[0]  # (data, metadata)
        if value is None:
            continue
        try:
            if mime in ("image/png", "image/jpeg") and isinstance(value, (bytes, bytearray)):
                value = base64.b64encode(bytes(value)).decode("ascii")
            elif mime == "application/json":
                value = json.dumps(value, allow_nan=False)
        except Exception:
            continue
        value = _text(value)
        if value is not None and all(m != mime for m, _ in entries):
            entries.append((mime, value))
    if type(obj) in (dict, list, tuple) and all(m != "application/json" for m, _ in entries):
        try:
            entries.append(("application/json", json.dumps(obj, allow_nan=False)))
        except Exception:
            pass
    return entries


def _fit(entries, cap):
    """entries within cap bytes: the largest rich entries go first, then text/plain is cut."""
    cut = False
    while len(entries) > 1 and _size(entries) > cap:
        rich = max(range(1, len(entries)), key=lambda i: len(entries[i][1]))
        del entries[rich]
        cut = True
    if _size(entries) > cap:
        room = max(cap - _size([("text/plain", "")]) - 3, 0)
        text = entries[0][1].encode("utf-8")[:room].decode("utf-8", "ignore")
        entries = [("text/plain", text + "..." if cap >= _size([("text/plain", "...")]) else "")]
        cut = True
        if _size(entries) > cap:
            return None, True
    return entries, cut


def _add(obj, is_result):
    caps = _display_caps
    if len(_displays) >= 256:
        caps["truncated"] = True
        return
    entries, cut = _fit(_bundle(obj), caps["bundle"])
    size = _size(entries) if entries else 0
    if entries is None or caps["used"] + size > caps["total"]:
        caps["truncated"] = True
        return
    caps["truncated"] |= cut
    caps["used"] += size
    _displays.append((is_result, entries))


def display(*objs, **kwargs):
    """Shows each object as a notebook would: a MIME bundle in the outcome's displays."""
    for obj in objs:
        _add(obj, False)


def show_value(value):
    """The last expression's value, when it is not None (a cell's Out[])."""
    if value is not None:
        _add(value, True)


def take_displays():
    """([(is_result, [(mime, text), ...]), ...], truncated), emptying the list."""
    out = list(_displays)
    del _displays[:]
    return out, _display_caps["truncated"]
