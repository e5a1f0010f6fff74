"""pysandbox serve, driven from outside with Python's standard library only:
every operation, every bad-input row, concurrency over a unix socket,
cancellation, a client that leaves mid-run, sessions, a soak, and stopping."""
import json
import os
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest

CLI = os.environ["PSB_CLI"]


def children(pid):
    """Every descendant pid of pid."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/task/{p}/children") as f:
                kids = [int(k) for k in f.read().split()]
        except OSError:
            kids = []
        out += kids
        todo += kids
    return out


def state(pid):
    """The state letter of pid ("R" running), or None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return None


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Stdio:
    """A serve on stdin/stdout."""

    def __init__(self, *args):
        self.p = subprocess.Popen([CLI, "serve", *args], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, start_new_session=True)
        self.hello = self.read()

    def send(self, obj):
        data = obj if isinstance(obj, bytes) else (json.dumps(obj) + "\n").encode()
        self.p.stdin.write(data)
        self.p.stdin.flush()

    def read(self):
        line = self.p.stdout.readline()
        assert line, "the server closed its output"
        return json.loads(line)

    def answer(self, id_):
        """Events and answers until the answer to id_ (events of id_ are returned too)."""
        events = []
        while True:
            m = self.read()
            if m.get("id") == id_ and "event" in m:
                events.append(m)
            elif m.get("id") == id_:
                return m, events

    def close(self):
        if self.p.poll() is None:
            self.p.stdin.close()
            self.p.wait(60)
        self.p.stdout.close()


class Sock:
    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX)
        self.s.connect(path)
        self.f = self.s.makefile("rwb")
        self.hello = self.read()

    def send(self, obj):
        self.f.write((json.dumps(obj) + "\n").encode())
        self.f.flush()

    def read(self):
        line = self.f.readline()
        assert line, "the server closed the connection"
        return json.loads(line)

    def close(self):
        self.f.close()
        self.s.close()


class Operations(unittest.TestCase):
    def setUp(self):
        self.s = Stdio()

    def tearDown(self):
        self.s.close()

    def test_hello(self):
        h = self.s.hello["hello"]
        self.assertEqual(h["protocol"], 1)
        self.assertEqual(h["max_in_flight"], 16)
        self.assertIn("limits", h["policy"])

    def test_run_ping_and_ids(self):
        self.s.send({"id": "a", "op": "run", "code": "result = inputs['x'] * 2", "inputs": {"x": 21}})
        m, _ = self.s.answer("a")
        self.assertEqual(m["outcome"]["result"], 42)
        self.s.send({"id": 7, "op": "ping"})
        self.assertEqual(self.s.answer(7)[0], {"id": 7, "ok": True})

    def test_stream_order_and_utf8(self):
        code = ("import sys\n"
                "for ch in 'héllo €':\n"
                "    b = ch.encode()\n"
                "    for i in range(len(b)):\n"
                "        sys.stdout.buffer.write(b[i:i+1]); sys.stdout.flush()\n"
                "print(file=sys.stderr)")
        self.s.send({"id": 1, "op": "run", "code": code, "stream": True})
        m, events = self.s.answer(1)
        out = "".join(e["data"] for e in events if e["event"] == "stdout")
        self.assertEqual(out, "héllo €")
        self.assertEqual(out, m["outcome"]["stdout"])
        self.assertNotIn("\ufffd", out)

    def test_tagged_bytes_and_files(self):
        self.s.send({"id": 1, "op": "run", "stdin": {"$type": "bytes", "base64": "AP8="},
                     "files": {"d/x.bin": {"$type": "bytes", "base64": "AQI="}, "t.txt": "hi"},
                     "code": "import sys\nresult = [list(sys.stdin.buffer.read()), "
                             "list(open('d/x.bin','rb').read()), open('t.txt').read()]"})
        self.assertEqual(self.s.answer(1)[0]["outcome"]["result"], [[0, 255], [1, 2], "hi"])

    def test_cold(self):
        self.s.send({"id": 1, "op": "run", "cold": True, "code": "result = 5"})
        m = self.s.answer(1)[0]["outcome"]
        self.assertEqual((m["result"], m["stats"]["start"]), (5, "cold"))

    def test_cancel_stops_the_child_within_half_a_second(self):
        # Once warm, the busy child is the one running process under the server.
        for i in range(200):
            self.s.send({"id": f"w{i}", "op": "run", "code": "1"})
            if self.s.answer(f"w{i}")[0]["outcome"]["stats"]["start"] == "warm":
                break
            time.sleep(0.05)
        time.sleep(0.3)  # the spares are made
        self.s.send({"id": 1, "op": "run", "code": "print('go', flush=True)\nwhile True: pass",
                     "stream": True})
        while "event" not in self.s.read():
            pass
        before = set(children(self.s.p.pid))
        self.s.send({"id": 2, "op": "cancel", "target": 1})
        t0 = time.monotonic()
        got = {}
        while len(got) < 2:
            m = self.s.read()
            if "event" not in m:
                got[m["id"]] = m
        gone_in = None
        while time.monotonic() - t0 < 2:
            # the busy child is one of before; it must no longer exist
            alive = [p for p in before if state(p) == "R"]
            if not alive:
                gone_in = time.monotonic() - t0
                break
            time.sleep(0.01)
        self.assertEqual(got[2], {"id": 2, "ok": True})
        self.assertEqual(got[1]["outcome"]["error"]["kind"], "cancelled")
        self.assertIsNotNone(gone_in, "the cancelled child still runs")
        self.assertLess(gone_in, 0.5)

    def test_shutdown_drains(self):
        self.s.send({"id": 1, "op": "run", "code": "import time\ntime.sleep(0.5)\nresult = 1"})
        self.s.send({"id": 2, "op": "shutdown"})
        self.s.send({"id": 3, "op": "ping"})  # after shutdown: never read
        answers = [self.s.read(), self.s.read()]
        self.assertEqual(sorted(a["id"] for a in answers), [1, 2])
        self.assertEqual(self.s.p.stdout.readline(), b"")
        self.assertEqual(self.s.p.wait(30), 0)


class BadInput(unittest.TestCase):
    ROWS = [
        (b"not json\n", None, "invalid_json", None),
        (b"\xff\xfe\n", None, "invalid_utf8", None),
        (b'{"id": 1, "id": 2, "op": "ping"}\n', None, "invalid_json", None),
        (b"[1, 2]\n", None, "wrong_type", None),
        (b'{"op": "ping"}\n', None, "missing_field", "id"),
        (b'{"id": 1.5, "op": "ping"}\n', None, "wrong_type", "id"),
        (b'{"id": 1}\n', 1, "missing_field", "op"),
        (b'{"id": 1, "op": "fly"}\n', 1, "unknown_op", "op"),
        (b'{"id": 1, "op": "ping", "x": 1}\n', 1, "unknown_field", "x"),
        (b'{"id": 1, "op": "run"}\n', 1, "missing_field", "code"),
        (b'{"id": 1, "op": "run", "code": 5}\n', 1, "wrong_type", "code"),
        (b'{"id": 1, "op": "run", "code": "1", "bogus": 1}\n', 1, "unknown_field", "bogus"),
        (b'{"id": 1, "op": "run", "code": "1", "timeout": 0}\n', 1, "out_of_range", "timeout"),
        (b'{"id": 1, "op": "run", "code": "1", "timeout": "5"}\n', 1, "wrong_type", "timeout"),
        (b'{"id": 1, "op": "run", "code": "1", "memory_mb": 1}\n', 1, "out_of_range", "memory_mb"),
        (b'{"id": 1, "op": "run", "code": "1", "memory_mb": -1}\n', 1, "out_of_range", "memory_mb"),
        (b'{"id": 1, "op": "run", "code": "1", "env": {"1A": "x"}}\n', 1, "invalid_value", "env.1A"),
        (b'{"id": 1, "op": "run", "code": "1", "files": {"../x": "y"}}\n', 1, "invalid_value",
         "files.../x"),
        (b'{"id": 1, "op": "run", "code": "1", "stdin": {"$type": "bytes", "base64": "!"}}\n', 1,
         "invalid_value", "stdin"),
        (b'{"id": 1, "op": "run", "code": "1", "inputs": []}\n', 1, "wrong_type", "inputs"),
        (b'{"id": 1, "op": "run", "code": "1", "allow_import": "os"}\n', 1, "wrong_type",
         "allow_import"),
        (b'{"id": 1, "op": "run", "code": "1", "cold": 1}\n', 1, "wrong_type", "cold"),
        (b'{"id": 1, "op": "cancel"}\n', 1, "missing_field", "target"),
        (b'{"id": 1, "op": "cancel", "target": 99}\n', 1, "unknown_id", "target"),
    ]

    def test_every_row_gets_one_error_and_the_server_goes_on(self):
        s = Stdio("--max-line-bytes", "4096")
        try:
            for line, id_, code, field in self.ROWS:
                s.send(line)
                m = s.read()
                self.assertEqual((m["id"], m["error"]["code"], m["error"]["field"]),
                                 (id_, code, field), line)
                self.assertTrue(m["error"]["message"])
            s.send(b'{"id": 1, "op": "run", "code": "' + b"x" * 5000 + b'"}\n')
            self.assertEqual(s.read()["error"]["code"], "line_too_long")
            s.send(b"\n")  # blank lines are skipped
            s.send({"id": 2, "op": "ping"})
            self.assertEqual(s.read(), {"id": 2, "ok": True})  # exactly one answer per bad line
        finally:
            s.close()

    def test_duplicate_id_in_flight(self):
        s = Stdio()
        try:
            s.send({"id": "d", "op": "run", "code": "import time\ntime.sleep(1)"})
            s.send({"id": "d", "op": "run", "code": "1"})
            self.assertEqual(s.read()["error"]["code"], "duplicate_id")
            self.assertEqual(s.read()["outcome"]["status"], "ok")
        finally:
            s.close()

    def test_no_import_overrides(self):
        s = Stdio("--no-import-overrides")
        try:
            s.send({"id": 1, "op": "run", "code": "1", "allow_import": ["socket"]})
            self.assertEqual(s.read()["error"]["code"], "forbidden")
        finally:
            s.close()

    def test_busy_beyond_the_cap(self):
        s = Stdio("--max-in-flight", "2")
        try:
            for i in range(3):
                s.send({"id": i, "op": "run", "code": "import time\ntime.sleep(1)"})
            answers = [s.read() for _ in range(3)]
            busy = [a for a in answers if "error" in a]
            self.assertEqual(len(busy), 1)
            self.assertEqual((busy[0]["id"], busy[0]["error"]["code"]), (2, "busy"))
        finally:
            s.close()


class Socket(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp()
        self.path = os.path.join(self.dir, "s.sock")
        self.p = subprocess.Popen([CLI, "serve", "--listen", "unix:" + self.path,
                                   "--max-in-flight", "64"], start_new_session=True)
        for _ in range(600):
            if os.path.exists(self.path):
                break
            time.sleep(0.05)

    def tearDown(self):
        self.p.send_signal(signal.SIGTERM)
        self.assertEqual(self.p.wait(60), 0)
        self.assertFalse(os.path.exists(self.path))
        os.rmdir(self.dir)

    def test_mode_and_a_live_socket_is_refused(self):
        self.assertEqual(os.stat(self.path).st_mode & 0o777, 0o600)
        r = subprocess.run([CLI, "serve", "--listen", "unix:" + self.path], capture_output=True)
        self.assertEqual(r.returncode, 2)
        self.assertIn(b"listening already", r.stderr)

    def test_50_in_flight_from_4_clients(self):
        clients = [Sock(self.path) for _ in range(4)]
        results = {}

        def work(k, c):
            ids = [f"c{k}-{i}" for i in range(13 if k < 2 else 12)]
            for i in ids:
                c.send({"id": i, "op": "run", "code": f"import time\ntime.sleep(0.2)\nresult = '{i}'"})
            got = [c.read() for _ in ids]
            results[k] = (ids, got)

        threads = [threading.Thread(target=work, args=(k, c)) for k, c in enumerate(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        total = 0
        for ids, got in results.values():
            self.assertEqual(sorted(g["id"] for g in got), sorted(ids))
            for g in got:
                self.assertEqual(g["outcome"]["result"], g["id"])
            total += len(got)
        self.assertEqual(total, 50)
        for c in clients:
            c.close()

    def test_a_client_that_leaves_mid_run_leaks_nothing(self):
        c = Sock(self.path)
        c.send({"id": 1, "op": "run", "code": "1"})
        c.read()
        time.sleep(0.5)
        fds, kids = fd_count(self.p.pid), len(children(self.p.pid))
        scratch = set(os.listdir("/tmp"))
        c.close()
        for _ in range(3):
            c = Sock(self.path)
            c.send({"id": 1, "op": "run", "code": "while True: pass"})
            time.sleep(0.5)
            c.close()  # gone: its run is cancelled
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and (fd_count(self.p.pid) > fds or
                                               len(children(self.p.pid)) > kids):
            time.sleep(0.05)
        self.assertLessEqual(fd_count(self.p.pid), fds)
        self.assertLessEqual(len(children(self.p.pid)), kids)
        self.assertFalse([d for d in set(os.listdir("/tmp")) - scratch if d.startswith("pysandbox-")])
        c = Sock(self.path)
        c.send({"id": 1, "op": "ping"})
        self.assertEqual(c.read(), {"id": 1, "ok": True})
        c.close()

    def test_soak_1000_requests(self):
        c = Sock(self.path)
        sent = done = 0

        def batch(n):
            nonlocal sent, done
            for _ in range(n):
                c.send({"id": sent, "op": "run", "code": "result = 1"})
                sent += 1
            for _ in range(n):
                m = c.read()
                self.assertEqual(m["outcome"]["result"], 1, m)
                done += 1

        for _ in range(25):  # warm-up: 200
            batch(8)
        fds, rss = fd_count(self.p.pid), rss_kib(self.p.pid)
        for _ in range(100):  # 800 more
            batch(8)
        self.assertEqual(done, 1000)
        # A thread frees its run's token just after the answer: let the last ones end.
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and fd_count(self.p.pid) > fds:
            time.sleep(0.05)
        self.assertLessEqual(fd_count(self.p.pid), fds)
        if os.environ.get("PSB_SANITIZE"):
            print("soak: RSS not compared: AddressSanitizer keeps freed memory in quarantine; "
                  "its leak check covers this build")
        else:
            self.assertLess(rss_kib(self.p.pid), rss + 8 * 1024, "the server's RSS grew by 8 MiB")
        c.close()


class Stopping(unittest.TestCase):
    def helper_of(self, pid):
        kids = children(pid)
        self.assertTrue(kids)
        return kids

    def test_eof_drains_and_the_helper_goes(self):
        s = Stdio()
        s.send({"id": 1, "op": "run", "code": "import time\ntime.sleep(0.5)\nresult = 9"})
        procs = self.helper_of(s.p.pid)
        s.p.stdin.close()
        self.assertEqual(s.read()["outcome"]["result"], 9)
        self.assertEqual(s.p.wait(30), 0)
        s.p.stdout.close()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and any(os.path.exists(f"/proc/{p}") for p in procs):
            time.sleep(0.05)
        self.assertFalse([p for p in procs if os.path.exists(f"/proc/{p}")])

    def test_sigterm_drains(self):
        s = Stdio()
        s.send({"id": 1, "op": "run", "code": "import time\ntime.sleep(0.5)\nresult = 8"})
        time.sleep(0.2)
        s.p.send_signal(signal.SIGTERM)
        self.assertEqual(s.read()["outcome"]["result"], 8)
        self.assertEqual(s.p.wait(30), 0)
        s.p.stdin.close()
        s.p.stdout.close()


class Sessions(unittest.TestCase):
    """session_new, run with "session", session_close; sessions close with their client."""

    def setUp(self):
        self.s = Stdio("--max-sessions", "2")

    def tearDown(self):
        self.s.close()

    def cell(self, sid, code, id_="c", **fields):
        self.s.send({"id": id_, "op": "run", "session": sid, "code": code, **fields})
        return self.s.answer(id_)[0]

    def value(self, sid, code):
        m = self.cell(sid, code)
        self.assertEqual(m["outcome"]["status"], "ok", m)
        shown = [d for d in m["outcome"]["displays"] if d["type"] == "execute_result"]
        return shown[0]["data"]["text/plain"] if shown else None

    def test_state_across_cells_and_close(self):
        self.assertEqual(self.s.hello["hello"]["max_sessions"], 2)
        self.s.send({"id": 1, "op": "session_new", "memory_mb": 256})
        sid = self.s.answer(1)[0]["session"]
        self.value(sid, "import pandas as pd\ndf = pd.DataFrame({'v': [1, 2, 3]})")
        self.assertEqual(self.value(sid, "int(df.v.sum())"), "6")
        m = self.cell(sid, "df.describe()")
        self.assertIn("<table", m["outcome"]["displays"][0]["data"]["text/html"])
        # Only a cell's own fields: the session's are refused, and it goes on.
        m = self.cell(sid, "1", memory_mb=64)
        self.assertEqual(m["error"]["code"], "invalid_request")
        self.assertEqual(self.value(sid, "len(df)"), "3")
        self.s.send({"id": 2, "op": "session_close", "session": sid})
        self.assertEqual(self.s.answer(2)[0], {"id": 2, "ok": True})
        self.assertEqual(self.cell(sid, "1")["error"]["code"], "unknown_session")

    def test_named_busy_too_many_and_bad_rows(self):
        self.s.send({"id": 1, "op": "session_new", "session": "mine"})
        self.assertEqual(self.s.answer(1)[0], {"id": 1, "session": "mine"})
        self.s.send({"id": 2, "op": "session_new", "session": "mine"})
        self.assertEqual(self.s.answer(2)[0]["error"]["code"], "duplicate_session")
        self.s.send({"id": 3, "op": "session_new"})
        self.assertIn("session", self.s.answer(3)[0])
        self.s.send({"id": 4, "op": "session_new"})
        self.assertEqual(self.s.answer(4)[0]["error"]["code"], "too_many_sessions")
        # One cell at a time: the second is refused while the first runs.
        self.s.send({"id": 5, "op": "run", "session": "mine", "code": "import time\ntime.sleep(1)"})
        time.sleep(0.2)
        self.s.send({"id": 6, "op": "run", "session": "mine", "code": "1"})
        self.assertEqual(self.s.answer(6)[0]["error"]["code"], "session_busy")
        self.assertEqual(self.s.answer(5)[0]["outcome"]["status"], "ok")
        rows = [
            ({"id": 7, "op": "session_new", "code": "1"}, "unknown_field"),
            ({"id": 8, "op": "session_new", "session": ""}, "wrong_type"),
            ({"id": 9, "op": "session_new", "session": 5}, "wrong_type"),
            ({"id": 10, "op": "session_close"}, "missing_field"),
            ({"id": 11, "op": "session_close", "session": "nope"}, "unknown_session"),
            ({"id": 12, "op": "session_close", "session": "mine", "x": 1}, "unknown_field"),
            ({"id": 13, "op": "run", "session": "nope", "code": "1"}, "unknown_session"),
            ({"id": 14, "op": "session_new", "memory_mb": 1}, "out_of_range"),
        ]
        for req, code in rows:
            self.s.send(req)
            self.assertEqual(self.s.answer(req["id"])[0]["error"]["code"], code, req)
        self.assertEqual(self.value("mine", "6 * 7"), "42")

    def test_snapshot_restore_branch_drop(self):
        self.s.send({"id": 1, "op": "session_new", "session": "a"})
        self.s.answer(1)
        self.value("a", "x = 1\nopen('f.txt', 'w').write('one')")
        self.s.send({"id": 2, "op": "session_snapshot", "session": "a"})
        self.assertEqual(self.s.answer(2)[0], {"id": 2, "snapshot": 1})
        self.value("a", "x = 2\nopen('f.txt', 'w').write('two')")
        self.s.send({"id": 3, "op": "session_restore", "session": "a", "snapshot": 1})
        self.assertEqual(self.s.answer(3)[0], {"id": 3, "ok": True})
        self.assertEqual(self.value("a", "(x, open('f.txt').read())"), "(1, 'one')")
        self.s.send({"id": 4, "op": "session_branch", "session": "a", "snapshot": 1,
                     "new_session": "b"})
        self.assertEqual(self.s.answer(4)[0], {"id": 4, "session": "b"})
        self.value("b", "x = 50")
        self.assertEqual(self.value("a", "x"), "1")
        self.assertEqual(self.value("b", "x"), "50")
        self.s.send({"id": 5, "op": "snapshot_drop", "session": "a", "snapshot": 1})
        self.assertEqual(self.s.answer(5)[0], {"id": 5, "ok": True})
        rows = [
            ({"id": 6, "op": "session_restore", "session": "a", "snapshot": 1}, "unknown_snapshot"),
            ({"id": 7, "op": "session_restore", "session": "a"}, "missing_field"),
            ({"id": 8, "op": "session_restore", "session": "a", "snapshot": "1"}, "unknown_snapshot"),
            ({"id": 9, "op": "session_snapshot", "session": "nope"}, "unknown_session"),
            ({"id": 10, "op": "session_snapshot", "session": "a", "snapshot": 1}, "unknown_field"),
            ({"id": 11, "op": "session_branch", "session": "a", "snapshot": 9}, "unknown_snapshot"),
            ({"id": 12, "op": "session_snapshot"}, "missing_field"),
        ]
        for req, code in rows:
            self.s.send(req)
            self.assertEqual(self.s.answer(req["id"])[0]["error"]["code"], code, req)
        # Branching past --max-sessions (2 here) is refused, and nothing changed.
        self.s.send({"id": 13, "op": "session_snapshot", "session": "a"})
        n = self.s.answer(13)[0]["snapshot"]
        self.s.send({"id": 14, "op": "session_branch", "session": "a", "snapshot": n})
        self.assertEqual(self.s.answer(14)[0]["error"]["code"], "too_many_sessions")
        self.assertEqual(self.value("a", "x"), "1")

    def test_a_timed_out_cell_keeps_the_session(self):
        self.s.send({"id": 1, "op": "session_new", "session": "t"})
        self.s.answer(1)
        self.value("t", "x = 5")
        m = self.cell("t", "while True: pass", timeout=0.5)
        self.assertEqual(m["outcome"]["error"]["kind"], "timeout")
        self.assertIn("KeyboardInterrupt", m["outcome"]["error"]["traceback"])
        self.assertEqual(self.value("t", "x"), "5")


class SessionsCloseWithTheirClient(unittest.TestCase):
    def test_a_client_that_leaves_takes_its_sessions(self):
        d = tempfile.mkdtemp(prefix="psb-serve-")
        path = os.path.join(d, "s.sock")
        p = subprocess.Popen([CLI, "serve", "--listen", "unix:" + path], start_new_session=True)
        try:
            for _ in range(600):
                if os.path.exists(path):
                    break
                time.sleep(0.05)
            a = Sock(path)
            a.send({"id": 1, "op": "session_new", "session": "shared-name"})
            self.assertEqual(a.read(), {"id": 1, "session": "shared-name"})
            a.send({"id": 2, "op": "run", "session": "shared-name", "code": "secret = 'A-only'"})
            a.read()
            kids = len(children(p.pid))
            # Another client cannot reach it, even by its name.
            b = Sock(path)
            b.send({"id": 1, "op": "run", "session": "shared-name", "code": "secret"})
            self.assertEqual(b.read()["error"]["code"], "unknown_session")
            b.send({"id": 2, "op": "session_new", "session": "shared-name"})
            self.assertEqual(b.read(), {"id": 2, "session": "shared-name"})
            b.send({"id": 3, "op": "run", "session": "shared-name", "code": "'secret' in globals()"})
            shown = b.read()["outcome"]["displays"][0]["data"]["text/plain"]
            self.assertEqual(shown, "False")
            b.close()
            a.close()
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and len(children(p.pid)) >= kids:
                time.sleep(0.05)
            self.assertLess(len(children(p.pid)), kids, "the session's process outlived its client")
        finally:
            p.send_signal(signal.SIGTERM)
            self.assertEqual(p.wait(60), 0)
            os.rmdir(d)


if __name__ == "__main__":
    unittest.main()
