"""The external-interpreter engine from outside, through `pysandbox run --python`:
Debian's /usr/bin/python3.11 gives the same outcomes as the embedded engine for the same
code (results, errors, limits, files, figures, displays), a venv made with `python3 -m venv`
runs with the package a local wheel put in it and without the system's, and what the code
does around the Python hooks (libc's own calls, a second exec) meets the kernel layers."""
import json
import os
import shutil
import subprocess
import tempfile
import unittest

CLI = os.environ["PSB_CLI"]
PY = "/usr/bin/python3.11"

# name -> (code, extra flags): run by both engines, outcomes compared.
CASES = {
    "types": ("import numpy as np, pandas as pd, datetime, decimal\n"
              "result = {'a': np.arange(3), 'df': pd.DataFrame({'x': [1, 2], 'y': ['a', 'b']}),\n"
              "  'd': datetime.date(2020, 1, 2), 'b': b'xy', 'big': 2**70, 'nan': float('nan'),\n"
              "  's': {1}, 't': (1, 2), 'tag': {'$type': 'x'}, 1: 'one', 2.5: 'f', None: 0,\n"
              "  'dec': decimal.Decimal('1.5'), 'f32': np.float32(0.5)}", []),
    "exception": ("def f():\n    raise ValueError('boom')\nf()", []),
    "syntax": ("x = (", []),
    "import_denied": ("import socket", []),
    "read_denied": ("open('/etc/shadow').read()", []),
    "write_denied": ("open('/usr/x', 'w')", []),
    "not_serializable": ("result = object()", []),
    "cycle": ("a = []\na.append(a)\nresult = a", []),
    "bad_key": ("result = {(1, 2): 3}", []),
    "exit0": ("import sys\nresult = 5\nsys.exit(0)", []),
    "exit3": ("import sys\nsys.exit(3)", []),
    "inputs": ("result = [inputs, type(inputs['a']).__name__]",
               ["--inputs", '{"a": {"$type": "ndarray", "dtype": "int64", "shape": [2],'
                ' "data": [1, 2]}, "d": {"$type": "dict", "value": {"$type": "kept"}}}']),
    "bad_inputs": ("result = 1", ["--inputs", '{"a": {"$type": "nonesuch"}}']),
    "stdin_prelude": ("import sys\nresult = [sys.stdin.read(), PRE]",
                      ["--stdin-file", "/etc/hostname", "--prelude-file", "PRELUDE"]),
    "files": ("import os\nos.makedirs('d')\nopen('d/out.txt', 'w').write('hello')\nresult = 1",
              []),
    "display": ("display('x')\n1 + 1", []),
    "fork": ("import os\nos.fork()", []),
    "subprocess": ("import subprocess", []),
    "os_system": ("import os\nos.system('true')", []),
    "memory": ("x = bytearray(2 << 30)", ["--memory-mb", "256"]),
    "timeout": ("while True:\n    pass", ["--timeout", "1"]),
    "result_cap": ("result = 'x' * 5000", ["--result-limit-bytes", "1000"]),
    "files_cap": ("open('big', 'w').write('x' * 5000)", ["--files-limit-bytes", "1000"]),
    "stdout_cap": ("print('y' * 5000)", ["--stdout-limit-bytes", "100"]),
    "listdir": ("import os\nresult = sorted(os.listdir('/usr/share'))[:2]", []),
}


class External(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.work = tempfile.mkdtemp(prefix="psb-external-", dir="/var/tmp")
        os.chmod(cls.work, 0o755)
        cls.prelude = os.path.join(cls.work, "prelude.py")
        with open(cls.prelude, "w") as f:
            f.write("PRE = 'from the prelude'\n")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.work, ignore_errors=True)

    def native_policy(self):
        """The default policy with ctypes' events allowed: native code, past the hooks."""
        policy = os.path.join(self.work, "native.json")
        with open(policy, "w") as f:
            json.dump({"user_denied_events": []}, f)
        return policy

    def run_code(self, code, *flags, python=PY):
        flags = [self.prelude if f == "PRELUDE" else f for f in flags]
        engine = ["--python", python] if python else []
        p = subprocess.run([CLI, "run", "--json", *engine, *flags, "-"], input=code,
                           capture_output=True, text=True, timeout=120)
        out = json.loads(p.stdout)
        out.pop("stats")
        return p.returncode, out

    def test_same_outcomes_as_the_embedded_engine(self):
        for name, (code, flags) in CASES.items():
            if name == "memory" and os.environ.get("PSB_SANITIZE") == "1":
                continue  # ASan's allocator exits at RLIMIT_AS (crashed) in the embedded engine
            with self.subTest(name):
                self.assertEqual(self.run_code(code, *flags, python=None),
                                 self.run_code(code, *flags), name)

    def test_figures(self):
        code = "import matplotlib.pyplot as plt\nplt.plot([1, 2])\nplt.show()\nresult = 1"
        rc, out = self.run_code(code)
        self.assertEqual(rc, 0, out)
        self.assertEqual([(f["mime"], f["width"], f["height"]) for f in out["figures"]],
                         [("image/png", 640, 480)])

    def test_venv_with_a_wheel(self):
        venv = os.path.join(self.work, "venv")
        subprocess.run([PY, "-m", "venv", "--without-pip", venv], check=True)
        src = os.path.join(self.work, "src")
        os.makedirs(os.path.join(src, "psbvenv"))
        with open(os.path.join(src, "pyproject.toml"), "w") as f:
            f.write('[build-system]\nrequires = ["setuptools"]\n'
                    'build-backend = "setuptools.build_meta"\n'
                    '[project]\nname = "psbvenv"\nversion = "0.3"\n')
        with open(os.path.join(src, "psbvenv", "__init__.py"), "w") as f:
            f.write("VALUE = 'from the venv'\n")
        wheels = os.path.join(self.work, "wheels")
        env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
        subprocess.run([PY, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                        "--no-cache-dir", "-q", "-w", wheels, src], check=True, env=env,
                       stdout=subprocess.DEVNULL)
        subprocess.run([PY, "-m", "pip", "--python", os.path.join(venv, "bin", "python"),
                        "install", "--no-index", "--no-cache-dir", "-q",
                        os.path.join(wheels, "psbvenv-0.3-py3-none-any.whl")], check=True,
                       env=env, stdout=subprocess.DEVNULL)
        python = os.path.join(venv, "bin", "python")
        rc, out = self.run_code("import sys, psbvenv\nresult = [psbvenv.VALUE, sys.prefix]",
                                python=python)
        self.assertEqual(out.get("result"), ["from the venv", venv], out)
        # The venv has no system site packages: numpy is not there.
        rc, out = self.run_code("import numpy", python=python)
        self.assertEqual(out["error"]["type"], "ModuleNotFoundError", out)
        rc, out = self.run_code("import psbvenv", python=None)
        self.assertEqual(out["error"]["type"], "ModuleNotFoundError", out)

    def test_kernel_layers_around_the_hooks(self):
        policy = self.native_policy()
        code = ("import ctypes, os, errno\nlibc = ctypes.CDLL(None, use_errno=True)\n"
                "def err(rc):\n    return errno.errorcode.get(ctypes.get_errno()) if rc < 0 else rc\n"
                "r = {}\n"
                "r['read'] = err(libc.open(b'/etc/shadow', os.O_RDONLY))\n"
                "r['write'] = err(libc.open(b'/usr/planted', os.O_WRONLY | os.O_CREAT, 0o644))\n"
                "r['fork'] = err(libc.fork())\n"
                "argv = (ctypes.c_char_p * 2)(b'/bin/true', None)\n"
                "r['exec'] = err(libc.execv(b'/bin/true', argv))\n"
                "r['socket'] = err(libc.socket(2, 1, 0))\n"
                "result = r")
        rc, out = self.run_code(code, "--policy", policy, "--allow-import", "ctypes")
        self.assertEqual(rc, 0, out)
        r = out["result"]
        self.assertIn(r["read"], ("EACCES", "EPERM"))
        self.assertIn(r["write"], ("EACCES", "EPERM", "EROFS"))
        self.assertEqual(r["fork"], "EPERM")
        self.assertEqual(r["exec"], "EPERM")  # seccomp, after the bootstrap (and Landlock)
        self.assertIn(r["socket"], ("EPERM", "EACCES", "EAFNOSUPPORT"))
        self.assertFalse(os.path.exists("/usr/planted"))

    def test_no_second_exec(self):
        """Exec started the interpreter; before any code runs, seccomp refuses it from then on,
        the interpreter itself included (Landlock alone would have let that one run)."""
        policy = self.native_policy()
        code = ("import ctypes, errno, sys\nlibc = ctypes.CDLL(None, use_errno=True)\n"
                "args = [sys.executable.encode(), b'-I', b'-c', b'print(1)', None]\n"
                "argv = (ctypes.c_char_p * 5)(*args)\n"
                "rc = libc.execv(sys.executable.encode(), argv)\n"
                "result = [rc, errno.errorcode.get(ctypes.get_errno())]")
        rc, out = self.run_code(code, "--policy", policy, "--allow-import", "ctypes")
        self.assertEqual(out.get("result"), [-1, "EPERM"], out)

    def test_serve(self):
        """pysandbox serve --python: runs on that interpreter; sessions say they need ours."""
        venv = os.path.join(self.work, "serve-venv")
        subprocess.run([PY, "-m", "venv", "--without-pip", venv], check=True)
        lines = ['{"id": 1, "op": "run", "code": "import sys; result = sys.prefix"}',
                 '{"id": 2, "op": "session_new"}']
        p = subprocess.run([CLI, "serve", "--python", os.path.join(venv, "bin", "python")],
                           input="\n".join(lines) + "\n", capture_output=True, text=True,
                           timeout=120)
        answers = {a.get("id"): a for a in map(json.loads, p.stdout.splitlines()) if "id" in a}
        self.assertEqual(answers[1]["outcome"]["result"], venv, answers)
        self.assertIn("sessions need the embedded interpreter", answers[2]["error"]["message"])

    def test_bad_interpreter(self):
        plain = os.path.join(self.work, "not-executable")
        with open(plain, "w") as f:
            f.write("#!/bin/sh\n")
        os.chmod(plain, 0o644)
        p = subprocess.run([CLI, "run", "--python", plain, "-"], input="result = 1",
                           capture_output=True, text=True)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("not an executable file", p.stderr)
        p = subprocess.run([CLI, "run", "--python", "python3", "-"], input="result = 1",
                           capture_output=True, text=True)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("absolute path", p.stderr)
        p = subprocess.run([CLI, "run", "--python", "/bin/true", "-"], input="result = 1",
                           capture_output=True, text=True)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("/bin/true printed nothing when asked for its paths", p.stderr)


if __name__ == "__main__":
    unittest.main()
