"""pysandbox kernel, driven by clients nobody here wrote: jupyter_client
(started through its kernelspec, every message type, interrupt, restart,
stdin, bad messages) and nbclient (a real notebook with pandas and
matplotlib, and a cell that tries to escape)."""
import json
import os
import queue
import subprocess
import tempfile
import time
import unittest

import nbformat
from jupyter_client import KernelManager
from jupyter_client.session import Session
from nbclient import NotebookClient

CLI = os.environ["PSB_CLI"]
PREFIX = tempfile.mkdtemp(prefix="psb-kernelspec-")
subprocess.run([CLI, "kernel", "install", "--prefix", PREFIX, "--timeout", "60"], check=True,
               stdout=subprocess.DEVNULL)
os.environ["JUPYTER_PATH"] = os.path.join(PREFIX, "share", "jupyter")
TIMEOUT = 60


def start():
    km = KernelManager(kernel_name="pysandbox")
    km.start_kernel()
    kc = km.client()
    kc.start_channels()
    kc.wait_for_ready(timeout=TIMEOUT)
    return km, kc


def run(kc, code, **kw):
    """(execute_reply content, [(msg_type, content) of its IOPub messages])."""
    msgs = []
    reply = kc.execute_interactive(code, output_hook=msgs.append, timeout=TIMEOUT, **kw)
    return reply["content"], [(m["msg_type"], m["content"]) for m in msgs]


def outputs(msgs, kind):
    return [c for t, c in msgs if t == kind]


class Kernel(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.km, cls.kc = start()

    @classmethod
    def tearDownClass(cls):
        cls.kc.stop_channels()
        cls.km.shutdown_kernel(now=False)
        assert not cls.km.is_alive()

    def test_kernelspec(self):
        spec = self.km.kernel_spec
        self.assertEqual(spec.display_name, "Python (pysandbox)")
        self.assertEqual(spec.language, "python")
        self.assertEqual(spec.interrupt_mode, "message")
        self.assertEqual(spec.argv[1:4], ["kernel", "-f", "{connection_file}"])

    def test_kernel_info(self):
        c = self.kc.kernel_info(reply=True)["content"]
        self.assertEqual(c["status"], "ok")
        self.assertEqual(c["protocol_version"], "5.3")
        self.assertEqual(c["implementation"], "pysandbox")
        self.assertEqual(c["language_info"]["name"], "python")
        self.assertRegex(c["language_info"]["version"], r"^3\.\d+\.\d+$")

    def test_execute_messages(self):
        reply, msgs = run(self.kc, "seen = 41\nprint('out')\nimport sys\n"
                                   "print('err', file=sys.stderr)\nseen + 1")
        self.assertEqual(reply["status"], "ok")
        count = reply["execution_count"]
        types = [t for t, _ in msgs]
        self.assertEqual(types[0], "status")
        self.assertEqual(msgs[0][1]["execution_state"], "busy")
        self.assertEqual(types[-1], "status")
        self.assertEqual(msgs[-1][1]["execution_state"], "idle")
        self.assertEqual(outputs(msgs, "execute_input")[0]["execution_count"], count)
        text = {"stdout": "", "stderr": ""}
        for s in outputs(msgs, "stream"):
            text[s["name"]] += s["text"]
        self.assertEqual(text, {"stdout": "out\n", "stderr": "err\n"})
        result = outputs(msgs, "execute_result")
        self.assertEqual(result[0]["data"]["text/plain"], "42")
        self.assertEqual(result[0]["execution_count"], count)
        # State persists; the next stored cell counts one more.
        reply, msgs = run(self.kc, "seen * 2")
        self.assertEqual(reply["execution_count"], count + 1)
        self.assertEqual(outputs(msgs, "execute_result")[0]["data"]["text/plain"], "82")

    def test_silent_store_history_and_user_expressions(self):
        before = run(self.kc, "pass")[0]["execution_count"]
        reply, msgs = run(self.kc, "hidden = 5\nprint('quiet')\nhidden", silent=True)
        self.assertEqual(reply["execution_count"], before)
        self.assertEqual([t for t, _ in msgs if t not in ("status",)], [])
        reply, _ = run(self.kc, "hidden += 1", store_history=False)
        self.assertEqual(reply["execution_count"], before)
        reply, _ = run(self.kc, "pass", user_expressions={"h": "hidden * 7", "bad": "1/0"})
        self.assertEqual(reply["execution_count"], before + 1)
        ue = reply["user_expressions"]
        self.assertEqual(ue["h"]["status"], "ok")
        self.assertEqual(ue["h"]["data"]["text/plain"], "42")
        self.assertEqual(ue["bad"]["status"], "error")
        self.assertEqual(ue["bad"]["ename"], "ZeroDivisionError")

    def test_errors_and_refusals(self):
        reply, msgs = run(self.kc, "{}['missing']")
        self.assertEqual(reply["status"], "error")
        self.assertEqual(reply["ename"], "KeyError")
        err = outputs(msgs, "error")[0]
        self.assertEqual(err["ename"], "KeyError")
        self.assertTrue(any("missing" in line for line in err["traceback"]))
        for code, ename, word in [
            ("import socket", "ImportError", "socket"),
            ("import ctypes", "ImportError", "ctypes"),
            ("open('/etc/shadow').read()", "PermissionError", ""),
        ]:
            reply, msgs = run(self.kc, code)
            self.assertEqual(reply["status"], "error", code)
            self.assertEqual(reply["ename"], ename, code)
            self.assertIn(word, reply["evalue"])
            self.assertEqual(outputs(msgs, "error")[0]["ename"], ename)
        # The session goes on.
        self.assertEqual(run(self.kc, "1 + 1")[0]["status"], "ok")

    def test_displays(self):
        code = ("import pandas as pd\nimport matplotlib.pyplot as plt\n"
                "display({'a': 1})\nplt.plot([1, 2, 3])\n"
                "pd.DataFrame({'x': [1, 2]})")
        reply, msgs = run(self.kc, code)
        self.assertEqual(reply["status"], "ok")
        shown = outputs(msgs, "display_data")
        self.assertEqual(shown[0]["data"]["application/json"], {"a": 1})
        self.assertTrue(any("image/png" in d["data"] for d in shown))
        png = next(d for d in shown if "image/png" in d["data"])["data"]["image/png"]
        import base64
        self.assertTrue(base64.b64decode(png).startswith(b"\x89PNG"))
        result = outputs(msgs, "execute_result")[0]
        self.assertIn("<table", result["data"]["text/html"])

    def test_questions(self):
        run(self.kc, "sandbox_value = 3\nclass Thing:\n    length_m = 2\nthing = Thing()")
        c = self.kc.complete("sandbox_va", 10, reply=True)["content"]
        self.assertEqual(c["status"], "ok")
        self.assertIn("sandbox_value", c["matches"])
        self.assertEqual((c["cursor_start"], c["cursor_end"]), (0, 10))
        c = self.kc.complete("thing.len", 9, reply=True)["content"]
        self.assertIn("thing.length_m", c["matches"])
        c = self.kc.inspect("sorted(", 7, reply=True)["content"]
        self.assertTrue(c["found"])
        self.assertIn("sorted", c["data"]["text/plain"])
        for code, status in [("x = 1", "complete"), ("for i in range(2):", "incomplete"),
                             ("x = )", "invalid")]:
            msg_id = self.kc.is_complete(code)
            c = self.kc.get_shell_msg(timeout=TIMEOUT)["content"]
            self.assertEqual(c["status"], status, code)
        bad = self.kc.complete("abc", 99, reply=True)["content"]
        self.assertEqual(bad["status"], "error")
        del msg_id

    def test_history(self):
        run(self.kc, "history_marker = 'h1'")
        run(self.kc, "history_marker * 2")
        c = self.kc.history(hist_access_type="tail", n=2, reply=True)["content"]
        self.assertEqual(c["status"], "ok")
        codes = [entry[2] for entry in c["history"]]
        self.assertEqual(codes, ["history_marker = 'h1'", "history_marker * 2"])
        c = self.kc.history(hist_access_type="search", pattern="history_marker =*",
                            reply=True)["content"]
        self.assertEqual([e[2] for e in c["history"]], ["history_marker = 'h1'"])

    def test_interrupt(self):
        run(self.kc, "survivor = 'still here'")
        msg_id = self.kc.execute("while True:\n    pass")
        # Wait until it runs, then interrupt through the control channel.
        deadline = time.time() + TIMEOUT
        while time.time() < deadline:
            m = self.kc.get_iopub_msg(timeout=TIMEOUT)
            if m["msg_type"] == "execute_input" and m["parent_header"]["msg_id"] == msg_id:
                break
        time.sleep(0.5)
        self.km.interrupt_kernel()
        reply = self.kc.get_shell_msg(timeout=TIMEOUT)
        self.assertEqual(reply["parent_header"]["msg_id"], msg_id)
        self.assertEqual(reply["content"]["status"], "error")
        self.assertEqual(reply["content"]["ename"], "KeyboardInterrupt")
        reply, msgs = run(self.kc, "survivor")
        self.assertEqual(outputs(msgs, "execute_result")[0]["data"]["text/plain"],
                         "'still here'")

    def test_stdin(self):
        answers = []

        def stdin_hook(msg):
            answers.append(msg["content"])
            self.kc.input("Ada" if not msg["content"]["password"] else "s3cret")

        reply = self.kc.execute_interactive(
            "name = input('who? ')\nimport getpass\npw = getpass.getpass()\n(name, len(pw))",
            allow_stdin=True, stdin_hook=stdin_hook, timeout=TIMEOUT,
            output_hook=lambda m: answers.append(m["content"]) if m["msg_type"] ==
            "execute_result" else None)
        self.assertEqual(reply["content"]["status"], "ok")
        self.assertEqual(answers[0], {"prompt": "who? ", "password": False})
        self.assertTrue(answers[1]["password"])
        self.assertEqual(answers[2]["data"]["text/plain"], "('Ada', 6)")
        # Without allow_stdin, input() meets the end of input.
        reply, _ = run(self.kc, "input()", allow_stdin=False)
        self.assertEqual(reply["ename"], "EOFError")

    def test_bad_messages(self):
        # A message signed with another key is dropped; the kernel keeps serving.
        session = Session(key=b"not-the-key")
        msg = session.msg("execute_request", {"code": "print('never')", "silent": False})
        session.send(self.kc.shell_channel.socket, msg)
        # Parts past the cap, and frames that are no message at all, are dropped too.
        sock = self.kc.shell_channel.socket
        sock.send_multipart([b"x"] * 3000)
        sock.send_multipart([b"<IDS|MSG>", b"sig", b"{"])
        # A correctly signed request without code gets a typed error.
        msg = self.kc.session.msg("execute_request", {"silent": False})
        self.kc.shell_channel.send(msg)
        reply = self.kc.get_shell_msg(timeout=TIMEOUT)
        self.assertEqual(reply["parent_header"]["msg_id"], msg["header"]["msg_id"])
        self.assertEqual(reply["content"]["status"], "error")
        self.assertEqual(reply["content"]["ename"], "InvalidRequest")
        self.assertEqual(run(self.kc, "'alive'")[0]["status"], "ok")
        with self.assertRaises(queue.Empty):
            m = self.kc.get_iopub_msg(timeout=0.5)
            while m["msg_type"] == "status":
                m = self.kc.get_iopub_msg(timeout=0.5)


class Restart(unittest.TestCase):
    def test_restart_gives_a_fresh_session(self):
        km, kc = start()
        try:
            run(kc, "before_restart = 1")
            km.restart_kernel(now=False)
            kc.wait_for_ready(timeout=TIMEOUT)
            reply, _ = run(kc, "before_restart")
            self.assertEqual(reply["ename"], "NameError")
        finally:
            kc.stop_channels()
            km.shutdown_kernel(now=True)


class SignalInterrupt(unittest.TestCase):
    def test_sigint_interrupts_the_cell(self):
        d = tempfile.mkdtemp()
        subprocess.run([CLI, "kernel", "install", "--prefix", d, "--name", "psb-signal",
                        "--interrupt-mode", "signal"], check=True, stdout=subprocess.DEVNULL)
        old = os.environ["JUPYTER_PATH"]
        os.environ["JUPYTER_PATH"] = os.path.join(d, "share", "jupyter")
        km = KernelManager(kernel_name="psb-signal")
        try:
            km.start_kernel()
            kc = km.client()
            kc.start_channels()
            kc.wait_for_ready(timeout=TIMEOUT)
            self.assertEqual(km.kernel_spec.interrupt_mode, "signal")
            run(kc, "kept = 7")
            msg_id = kc.execute("import time\nwhile True:\n    time.sleep(0.01)")
            time.sleep(1.0)
            km.interrupt_kernel()  # SIGINT to the kernel's process
            reply = kc.get_shell_msg(timeout=TIMEOUT)
            self.assertEqual(reply["parent_header"]["msg_id"], msg_id)
            self.assertEqual(reply["content"]["ename"], "KeyboardInterrupt")
            reply, msgs = run(kc, "kept")
            self.assertEqual(outputs(msgs, "execute_result")[0]["data"]["text/plain"], "7")
            kc.stop_channels()
        finally:
            km.shutdown_kernel(now=True)
            os.environ["JUPYTER_PATH"] = old


class Notebook(unittest.TestCase):
    def test_notebook_with_pandas_matplotlib_and_an_escape(self):
        nb = nbformat.v4.new_notebook()
        nb.cells = [
            nbformat.v4.new_code_cell("import pandas as pd\n"
                                      "df = pd.DataFrame({'city': ['a', 'b', 'a'], "
                                      "'n': [1, 2, 3]})\n"
                                      "df.groupby('city').sum()"),
            nbformat.v4.new_code_cell("import matplotlib.pyplot as plt\n"
                                      "plt.bar(['a', 'b'], [4, 2])\nplt.show()"),
            nbformat.v4.new_code_cell("open('/etc/shadow').read()"),
            nbformat.v4.new_code_cell("import socket\nsocket.socket()"),
            nbformat.v4.new_code_cell("print(int(df.n.sum()))"),
        ]
        client = NotebookClient(nb, kernel_name="pysandbox", timeout=TIMEOUT,
                                allow_errors=True)
        client.execute()
        path = os.path.join(PREFIX, "run.ipynb")
        nbformat.write(nb, path)
        saved = nbformat.read(path, as_version=4)
        table = saved.cells[0].outputs[0]
        self.assertEqual(table.output_type, "execute_result")
        self.assertIn("<table", table.data["text/html"])
        self.assertTrue(any(o.output_type == "display_data" and "image/png" in o.data
                            for o in saved.cells[1].outputs))
        self.assertEqual(saved.cells[2].outputs[0].output_type, "error")
        self.assertEqual(saved.cells[2].outputs[0].ename, "PermissionError")
        self.assertEqual(saved.cells[3].outputs[0].ename, "ImportError")
        self.assertEqual("".join(o.text for o in saved.cells[4].outputs
                                 if o.output_type == "stream"), "6\n")
        self.assertEqual([c.execution_count for c in saved.cells], [1, 2, 3, 4, 5])


class Install(unittest.TestCase):
    def test_kernel_json_and_bad_flags(self):
        d = tempfile.mkdtemp()
        r = subprocess.run([CLI, "kernel", "install", "--prefix", d, "--name", "strict-box",
                            "--policy", "strict", "--interrupt-mode", "signal",
                            "--display-name", "Strict"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(os.path.join(d, "share/jupyter/kernels/strict-box/kernel.json")) as f:
            spec = json.load(f)
        self.assertEqual(spec["interrupt_mode"], "signal")
        self.assertEqual(spec["display_name"], "Strict")
        self.assertEqual(spec["argv"][-2:], ["--policy", "strict"])
        for args in (["--name", "../x"], ["--interrupt-mode", "never"], ["--user", "--prefix", d],
                     ["--timeout", "0"]):
            r = subprocess.run([CLI, "kernel", "install"] + args, capture_output=True, text=True)
            self.assertEqual(r.returncode, 2, args)
            self.assertIn("error", r.stderr)
        r = subprocess.run([CLI, "kernel", "-f", "/nonexistent.json"], capture_output=True,
                           text=True)
        self.assertEqual(r.returncode, 2)
        self.assertIn("connection file", r.stderr)


if __name__ == "__main__":
    unittest.main()
