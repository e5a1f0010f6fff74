"""Module layers from outside, through `pysandbox layer` and `pysandbox run --layer`:
installs offline from wheels nobody here wrote (Debian's pip, setuptools and wheel), from a
wheel built here with `pip wheel`, and from a simple index this test serves on loopback;
upgrades, failed installs that change nothing, wheels for another ABI, and code that tries to
change a layer, through the audit hook and around it."""
import http.server
import json
import os
import shutil
import subprocess
import tempfile
import threading
import unittest

CLI = os.environ["PSB_CLI"]
PY = "/usr/bin/python3.11"
DEBIAN_WHEELS = "/usr/share/python-wheels"


def build_wheel(work, version, answer):
    """A wheel of the package psbdemo (answer() returns answer), built with pip."""
    src = os.path.join(work, f"src-{version}")
    os.makedirs(os.path.join(src, "psbdemo"))
    with open(os.path.join(src, "pyproject.toml"), "w") as f:
        f.write('[build-system]\nrequires = ["setuptools"]\n'
                'build-backend = "setuptools.build_meta"\n'
                f'[project]\nname = "psbdemo"\nversion = "{version}"\n')
    with open(os.path.join(src, "psbdemo", "__init__.py"), "w") as f:
        f.write(f"def answer():\n    return {answer}\n")
    out = os.path.join(work, f"wheels-{version}")
    subprocess.run([PY, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "--no-cache-dir", "-q", "-w", out, src], check=True,
                   env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
                   stdout=subprocess.DEVNULL)
    return os.path.join(out, f"psbdemo-{version}-py3-none-any.whl"), src


class Layers(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # Executions get a private /tmp: layers live elsewhere.
        cls.work = tempfile.mkdtemp(prefix="psb-layers-", dir="/var/tmp")
        os.chmod(cls.work, 0o755)
        cls.root = os.path.join(cls.work, "layers")
        cls.wheel1, cls.src = build_wheel(cls.work, "1.0", 42)
        cls.wheel2, _ = build_wheel(cls.work, "2.0", 43)
        cls.env = {**os.environ, "PYSANDBOX_LAYERS": cls.root}

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.work, ignore_errors=True)

    def cli(self, *args, stdin=None, env=None):
        return subprocess.run([CLI, *args], input=stdin, capture_output=True, text=True,
                              env=env or self.env, timeout=600)

    def layer(self, *args):
        return self.cli("layer", *args)

    def run_code(self, code, *args):
        p = self.cli("run", "--json", *args, "-", stdin=code)
        return p.returncode, json.loads(p.stdout)

    def listing(self):
        p = self.layer("list", "--json")
        self.assertEqual(p.returncode, 0, p.stderr)
        return {l["name"]: l for l in json.loads(p.stdout)}

    def fresh(self, name):
        self.layer("remove", name)
        p = self.layer("create", name)
        self.assertEqual(p.returncode, 0, p.stderr)

    def test_debian_wheels_offline(self):
        self.fresh("debian")
        p = self.layer("install", "debian", DEBIAN_WHEELS)
        self.assertEqual(p.returncode, 0, p.stderr)
        for name in ("pip", "setuptools", "wheel"):
            self.assertRegex(p.stdout, rf"installed {name} \d")
        layer = self.listing()["debian"]
        self.assertEqual(sorted(d["name"] for d in layer["packages"]),
                         ["pip", "setuptools", "wheel"])
        # The layer comes before Debian's own copies on sys.path. (setuptools is only
        # found: the interpreter imported Debian's _distutils_hack at start, from a .pth.)
        rc, out = self.run_code("import importlib.util, pip, wheel\n"
                                "result = [pip.__file__, wheel.__file__,\n"
                                "          importlib.util.find_spec('setuptools').origin]",
                                "--layer", "debian")
        self.assertEqual(rc, 0, out)
        for path in out["result"]:
            self.assertTrue(path.startswith(layer["path"] + "/"), path)

    def test_named_layer_only(self):
        self.fresh("demo")
        self.assertEqual(self.layer("install", "demo", self.wheel1).returncode, 0)
        rc, out = self.run_code("import psbdemo\nresult = psbdemo.answer()", "--layer", "demo")
        self.assertEqual((rc, out["result"]), (0, 42), out)
        rc, out = self.run_code("import psbdemo")
        self.assertEqual(out["error"]["type"], "ModuleNotFoundError", out)
        # The cold engine mounts it the same way.
        rc, out = self.run_code("import psbdemo\nresult = psbdemo.answer()", "--cold",
                                "--layer", "demo")
        self.assertEqual(out.get("result"), 42, out)
        # A policy can name it too.
        policy = os.path.join(self.work, "layers-policy.json")
        with open(policy, "w") as f:
            json.dump({"layers": ["demo"]}, f)
        rc, out = self.run_code("import psbdemo\nresult = psbdemo.answer()", "--policy", policy)
        self.assertEqual(out.get("result"), 42, out)
        # The import policy judges a layer's modules like any other.
        rc, out = self.run_code("import psbdemo", "--layer", "demo", "--deny-import", "psbdemo")
        self.assertEqual(out["error"]["kind"], "import_denied", out)

    def test_missing_and_bad_layer_names(self):
        rc, out = self.run_code("result = 1", "--layer", "absent")
        self.assertEqual(rc, 2)
        self.assertIn("no module layer named 'absent'", out["error"]["message"])
        rc, out = self.run_code("result = 1", "--layer", "../etc")
        self.assertEqual(rc, 2)
        self.assertIn("invalid layer name", out["error"]["message"])
        for bad in ("../x", ".hidden", "a/b", "x" * 65, ""):
            p = self.layer("create", bad)
            self.assertEqual(p.returncode, 2, bad)
            self.assertIn("invalid layer name", p.stderr)
        p = self.layer("install", "absent", self.wheel1)
        self.assertEqual(p.returncode, 2)
        self.assertIn("no module layer named 'absent'", p.stderr)
        p = self.cli("layer", "create", "x", env={**self.env, "PYSANDBOX_LAYERS": "/tmp/lay"})
        self.assertEqual(p.returncode, 2)
        self.assertIn("under /tmp", p.stderr)

    def test_upgrade_replaces_the_old_version(self):
        self.fresh("up")
        self.assertEqual(self.layer("install", "up", self.wheel1).returncode, 0)
        old = self.listing()["up"]["path"]
        p = self.layer("install", "up", self.wheel2)
        self.assertEqual(p.returncode, 0, p.stderr)
        layer = self.listing()["up"]
        self.assertEqual(layer["packages"], [{"name": "psbdemo", "version": "2.0"}])
        self.assertNotEqual(layer["path"], old)
        rc, out = self.run_code("import psbdemo\nresult = psbdemo.answer()", "--layer", "up")
        self.assertEqual(out.get("result"), 43, out)
        # The previous generation stays (a running sandbox may still read it); older ones go.
        self.assertEqual(self.layer("install", "up", self.wheel1).returncode, 0)
        gens = [e for e in os.listdir(self.root) if e.startswith(".up@")]
        self.assertEqual(len(gens), 2, gens)

    def test_failed_install_changes_nothing(self):
        self.fresh("keep")
        self.assertEqual(self.layer("install", "keep", self.wheel1).returncode, 0)
        before = self.listing()["keep"]
        files = sorted(os.listdir(before["path"]))
        gens = sorted(e for e in os.listdir(self.root) if e.startswith(".keep@"))
        broken = os.path.join(self.work, "broken")
        os.makedirs(broken, exist_ok=True)
        bad = os.path.join(broken, "psbdemo-3.0-py3-none-any.whl")
        with open(bad, "wb") as f:
            f.write(b"this is not a zip file")
        p = self.layer("install", "keep", bad)
        self.assertNotEqual(p.returncode, 0)
        self.assertEqual(self.listing()["keep"], before)
        self.assertEqual(sorted(os.listdir(before["path"])), files)
        self.assertEqual(sorted(e for e in os.listdir(self.root) if e.startswith(".keep@")),
                         gens)
        # Nothing to install, or a source tree: refused before anything runs.
        p = self.layer("install", "keep", self.src)
        self.assertEqual(p.returncode, 2)
        self.assertIn("source tree", p.stderr)
        p = self.layer("install", "keep", os.path.join(self.work, "missing.whl"))
        self.assertEqual(p.returncode, 2)

    def test_wheel_for_another_abi_is_refused(self):
        self.fresh("abi")
        other = os.path.join(self.work, "abi")
        os.makedirs(other, exist_ok=True)
        native = os.path.join(other, "psbdemo-1.0-cp312-cp312-manylinux_2_17_x86_64.whl")
        shutil.copy(self.wheel1, native)
        p = self.layer("install", "abi", native)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("is built for cp312-cp312-manylinux_2_17_x86_64", p.stderr)
        self.assertIn("CPython 3.11", p.stderr)
        self.assertEqual(self.listing()["abi"]["packages"], [])

    def test_code_cannot_change_a_layer(self):
        self.fresh("ro")
        self.assertEqual(self.layer("install", "ro", self.wheel1).returncode, 0)
        path = self.listing()["ro"]["path"]
        target = os.path.join(path, "psbdemo", "planted.py")
        init = os.path.join(path, "psbdemo", "__init__.py")
        with open(init) as f:
            original = f.read()
        # Through the audit hook: a typed refusal.
        rc, out = self.run_code(f"open({target!r}, 'w').write('x')", "--layer", "ro")
        self.assertEqual(out["error"]["kind"], "denied", out)
        # Around it, with libc's own calls: the kernel refuses.
        policy = os.path.join(self.work, "native-policy.json")
        with open(policy, "w") as f:
            json.dump({"layers": ["ro"], "user_denied_events": []}, f)
        code = ("import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\n"
                f"fd = libc.open({target!r}.encode(), os.O_WRONLY | os.O_CREAT, 0o644)\n"
                "e1 = ctypes.get_errno()\n"
                f"fd2 = libc.open({init!r}.encode(), os.O_WRONLY | os.O_TRUNC)\n"
                "e2 = ctypes.get_errno()\n"
                f"rc = libc.unlink({init!r}.encode())\n"
                "result = [fd, e1, fd2, e2, rc]")
        rc, out = self.run_code(code, "--policy", policy, "--allow-import", "ctypes")
        self.assertEqual(rc, 0, out)
        fd, e1, fd2, e2, urc = out["result"]
        self.assertEqual((fd, fd2, urc), (-1, -1, -1), out)
        self.assertFalse(os.path.exists(target))
        with open(init) as f:
            self.assertEqual(f.read(), original)

    def test_index_on_loopback(self):
        index = os.path.join(self.work, "index")
        os.makedirs(os.path.join(index, "simple", "psbdemo"), exist_ok=True)
        shutil.copy(self.wheel2, os.path.join(index, "simple", "psbdemo"))
        with open(os.path.join(index, "simple", "psbdemo", "index.html"), "w") as f:
            f.write('<html><body><a href="psbdemo-2.0-py3-none-any.whl">'
                    'psbdemo-2.0-py3-none-any.whl</a></body></html>')

        class Quiet(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *a, **k):
                super().__init__(*a, directory=index, **k)

            def log_message(self, *a):
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            url = f"http://127.0.0.1:{server.server_address[1]}/simple/"
            self.fresh("net")
            # No network without a policy that grants it.
            p = self.layer("install", "net", "psbdemo", "--index-url", url)
            self.assertEqual(p.returncode, 2)
            self.assertIn("needs the network", p.stderr)
            policy = os.path.join(self.work, "net-policy.json")
            with open(policy, "w") as f:
                json.dump({"network": True}, f)
            p = self.layer("install", "net", "psbdemo==2.0", "--index-url", url,
                           "--policy", policy)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertEqual(self.listing()["net"]["packages"],
                             [{"name": "psbdemo", "version": "2.0"}])
        finally:
            server.shutdown()
            server.server_close()

    def serve(self, *args):
        p = subprocess.Popen([CLI, "serve", *args], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True, env=self.env)
        hello = json.loads(p.stdout.readline())["hello"]

        def ask(req):
            p.stdin.write(json.dumps(req) + "\n")
            p.stdin.flush()
            return json.loads(p.stdout.readline())
        return p, hello, ask

    def test_serve(self):
        self.fresh("srv")
        self.assertEqual(self.layer("install", "srv", self.wheel1).returncode, 0)
        p, hello, ask = self.serve()
        try:
            self.assertFalse(hello["layer_admin"])
            self.assertIn("srv", [l["name"] for l in ask({"id": 1, "op": "layer_list"})["layers"]])
            # Changing a layer needs --layer-admin.
            a = ask({"id": 2, "op": "layer_create", "layer": "other"})
            self.assertEqual(a["error"]["code"], "forbidden", a)
            a = ask({"id": 3, "op": "run", "code": "import psbdemo\nresult = psbdemo.answer()",
                     "layers": ["srv"]})
            self.assertEqual(a["outcome"]["result"], 42, a)
            a = ask({"id": 4, "op": "run", "code": "result = 1", "layers": ["nope"]})
            self.assertIn("no module layer named 'nope'", json.dumps(a), a)
            a = ask({"id": 5, "op": "run", "code": "result = 1", "layers": "srv"})
            self.assertEqual(a["error"]["code"], "wrong_type", a)
        finally:
            p.stdin.close()
            self.assertEqual(p.wait(timeout=60), 0)
            p.stdout.close()
        self.layer("remove", "adm")
        p, hello, ask = self.serve("--layer-admin")
        try:
            self.assertTrue(hello["layer_admin"])
            self.assertTrue(ask({"id": 1, "op": "layer_create", "layer": "adm"})["ok"])
            a = ask({"id": 2, "op": "layer_create", "layer": "adm"})
            self.assertEqual(a["error"]["code"], "invalid_value", a)
            a = ask({"id": 3, "op": "layer_install", "layer": "adm", "sources": [self.wheel2],
                     "timeout": 300})
            self.assertEqual(a["outcome"]["status"], "ok", a)
            self.assertEqual(a["outcome"]["result"]["installed"],
                             [{"name": "psbdemo", "version": "2.0"}])
            for bad in ({"sources": []}, {"sources": [1]}, {"sources": [self.wheel2], "x": 1},
                        {"sources": [self.wheel2], "timeout": 0}, {"sources": ["../nope.whl"]}):
                a = ask({"id": 4, "op": "layer_install", "layer": "adm", **bad})
                self.assertIn("error", a, bad)
            self.assertEqual(ask({"id": 5, "op": "ping"}), {"id": 5, "ok": True})
            self.assertTrue(ask({"id": 6, "op": "layer_remove", "layer": "adm"})["ok"])
        finally:
            p.stdin.close()
            self.assertEqual(p.wait(timeout=60), 0)
            p.stdout.close()

    def test_remove(self):
        self.fresh("gone")
        self.assertEqual(self.layer("install", "gone", self.wheel1).returncode, 0)
        p = self.layer("remove", "gone")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertNotIn("gone", self.listing())
        self.assertEqual([e for e in os.listdir(self.root) if "gone" in e], [])
        self.assertEqual(self.layer("remove", "gone").returncode, 2)


if __name__ == "__main__":
    unittest.main()
