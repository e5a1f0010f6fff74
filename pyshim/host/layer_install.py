"""Installs packages into a module layer: phase one of pysandbox's two-phase layers.

The library (host/layer_install.c) runs this file as the code of one sandboxed execution
whose only writable places are its scratch dir and `inputs["target"]`, the layer's new
generation (an empty directory). It copies the current generation in, checks that every
wheel given by path fits this interpreter, runs pip (Debian's python3-pip) to install into
a directory beside it, replaces the distributions pip installed anew (removing the files the
old version's RECORD lists) and moves the rest in. `result` is the list of distributions
installed. Any failure raises: the library then throws the new generation away, and the
layer stays as it was.
"""

import csv
import os
import platform
import re
import shutil
import sys


def _canon(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def _check_wheels(paths):
    from pip._vendor.packaging.tags import sys_tags
    from pip._vendor.packaging.utils import InvalidWheelFilename, parse_wheel_filename

    supported = list(sys_tags())
    accepted = set(supported)
    for path in paths:
        base = os.path.basename(path)
        try:
            tags = parse_wheel_filename(base)[3]
        except InvalidWheelFilename as e:
            raise ValueError("%s is not a wheel file name: %s" % (base, e)) from None
        if not tags & accepted:
            raise ValueError(
                "%s is built for %s; this sandbox's interpreter is CPython %d.%d on %s and "
                "loads only wheels tagged for it (the most specific: %s)"
                % (base, ", ".join(sorted(str(t) for t in tags)), sys.version_info[0],
                   sys.version_info[1], platform.machine(), supported[0]))


def _dists(site):
    """canonical name -> NAME-VERSION.dist-info"""
    return {_canon(e[:-10].split("-")[0]): e for e in os.listdir(site) if e.endswith(".dist-info")}


def _remove_dist(site, info):
    """Removes an installed distribution's files (as its RECORD lists them) and dirs."""
    top = os.path.realpath(site)
    try:
        with open(os.path.join(site, info, "RECORD"), newline="") as f:
            rows = list(csv.reader(f))
    except OSError:
        rows = []
    dirs = set()
    for row in rows:
        rel = os.path.normpath(row[0]) if row else ""
        if not rel or os.path.isabs(rel) or rel.split(os.sep)[0] in ("..", info):
            continue
        path = os.path.join(top, rel)
        if os.path.lexists(path) and not os.path.isdir(path):
            os.unlink(path)
        parent = os.path.dirname(rel)
        while parent:
            dirs.add(parent)
            parent = os.path.dirname(parent)
    for d in sorted(dirs, key=len, reverse=True):
        try:
            os.rmdir(os.path.join(top, d))
        except OSError:
            pass  # not empty: shared with another distribution
    shutil.rmtree(os.path.join(top, info), ignore_errors=True)


def _merge(src, dst):
    """Moves src to dst; a directory into an existing one entry by entry."""
    if os.path.isdir(src) and not os.path.islink(src) and os.path.isdir(dst):
        for e in os.listdir(src):
            _merge(os.path.join(src, e), os.path.join(dst, e))
        os.rmdir(src)
        return
    if os.path.isdir(dst) and not os.path.islink(dst):
        shutil.rmtree(dst)
    elif os.path.lexists(dst):
        os.unlink(dst)
    os.rename(src, dst)


def install(args):
    target = args["target"]
    if args.get("old"):
        shutil.copytree(args["old"], target, dirs_exist_ok=True)
    _check_wheels(args["wheels"])
    incoming = os.path.join(target, ".incoming")
    os.makedirs(os.environ["TMPDIR"], exist_ok=True)
    cmd = ["install", "--no-cache-dir", "--disable-pip-version-check", "--no-input",
           "--no-warn-script-location", "--progress-bar", "off", "--target", incoming]
    cmd += ["--index-url", args["index_url"]] if args.get("index_url") else ["--no-index"]
    for link in args["links"]:
        cmd += ["--find-links", link]
    cmd += args["wheels"] + args["requirements"]
    from pip._internal.cli.main import main as pip_main

    status = pip_main(cmd)
    if status != 0:
        raise RuntimeError("pip install failed with status %d (its output is above)" % status)
    new, have = _dists(incoming), _dists(target)
    for key in new:
        if key in have:
            _remove_dist(target, have[key])
    shutil.rmtree(os.path.join(incoming, "bin"), ignore_errors=True)  # no scripts run here
    for e in os.listdir(incoming):
        _merge(os.path.join(incoming, e), os.path.join(target, e))
    os.rmdir(incoming)
    shutil.rmtree(os.environ["TMPDIR"], ignore_errors=True)
    return [{"name": info[:-10].split("-")[0], "version": info[:-10].split("-", 1)[1]}
            for info in sorted(new.values())]


result = {"installed": install(inputs)}  # noqa: F821 (bound by the sandbox)
