"""pysandbox_client against the real `pysandbox serve`."""

import base64
import os
import subprocess
import tempfile
import threading
import time

import pytest

from pysandbox_client import PySandbox, PySandboxError


def test_hello(sb):
    assert sb.hello["protocol"] == 1
    assert sb.hello["max_in_flight"] == 4
    assert isinstance(sb.hello["policy"], dict)


def test_ping(sb):
    assert sb.ping() is True


def test_run_with_inputs(sb):
    o = sb.run("print('hi')\nresult = {'sum': sum(inputs['xs'])}", inputs={"xs": [1, 2, 3]})
    assert o["status"] == "ok"
    assert o["result"] == {"sum": 6}
    assert o["stdout"] == "hi\n"
    assert o["error"] is None


def test_stdin_files_and_bytes(sb):
    o = sb.run(
        "import sys\nopen('out.txt', 'w').write('written')\n"
        "result = [sys.stdin.read(), open('a.txt').read(), list(open('b.bin', 'rb').read())]",
        stdin=b"raw stdin",
        files={"a.txt": "text", "b.bin": bytes([0, 255, 7])},
    )
    assert o["status"] == "ok", o["error"]
    assert o["result"] == ["raw stdin", "text", [0, 255, 7]]
    out = next(f for f in o["files"] if f["name"] == "out.txt")
    assert base64.b64decode(out["base64"]) == b"written"


def test_exception_is_an_outcome(sb):
    o = sb.run("raise KeyError('k')")
    assert o["status"] == "error"
    assert o["error"]["kind"] == "exception"
    assert o["error"]["type"] == "KeyError"


def test_streaming_callbacks(sb):
    seen = []
    o = sb.run(
        "import sys, time\nprint('one', flush=True)\ntime.sleep(0.2)\nprint('two', file=sys.stderr)",
        on_stdout=lambda d: seen.append(("out", d)),
        on_stderr=lambda d: seen.append(("err", d)),
    )
    assert o["status"] == "ok"
    assert "".join(d for s, d in seen if s == "out") == "one\n"
    assert "".join(d for s, d in seen if s == "err") == "two\n"


def test_cancel(sb):
    f = sb.submit("import time\ntime.sleep(30)")
    time.sleep(0.3)
    assert sb.cancel(f) is True
    assert f.result(10)["error"]["kind"] == "cancelled"
    assert sb.cancel(f.id) is False  # finished: nothing to cancel


def test_protocol_errors_carry_code_and_field(sb):
    with pytest.raises(PySandboxError) as e:
        sb.run("1", no_such_field=1)
    assert (e.value.code, e.value.field) == ("unknown_field", "no_such_field")
    with pytest.raises(PySandboxError) as e:
        sb.run("1", timeout="soon")
    assert (e.value.code, e.value.field) == ("wrong_type", "timeout")
    with pytest.raises(PySandboxError) as e:
        sb.run("1", memory_mb=-1)
    assert (e.value.code, e.value.field) == ("out_of_range", "memory_mb")
    assert sb.ping() is True


def test_duplicate_id(sb):
    f = sb.submit("import time\ntime.sleep(0.5)", id="same")
    with pytest.raises(PySandboxError) as e:
        sb.submit("1", id="same")
    assert e.value.code == "duplicate_id"
    assert f.result(10)["status"] == "ok"


def test_many_threads_many_runs(sb):
    results = {}

    def worker(t):
        futures = [sb.submit("result = inputs['n'] * 3", inputs={"n": t * 100 + i}) for i in range(6)]
        results[t] = [f.result(60)["result"] for f in futures]

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert results == {t: [(t * 100 + i) * 3 for i in range(6)] for t in range(5)}


def test_queued_run_cancels_without_reaching_the_server(sb):
    slow = [sb.submit("import time\ntime.sleep(1)") for _ in range(4)]
    queued = sb.submit("result = 'never'")
    assert sb.cancel(queued) is True
    assert queued.result(1)["error"]["kind"] == "cancelled"
    for f in slow:
        sb.cancel(f)
    assert all(f.result(10)["error"]["kind"] == "cancelled" for f in slow)


def test_close_drains_and_exits_0(cli):
    own = PySandbox.spawn(cli)
    f = own.submit("import time\ntime.sleep(0.3)\nresult = 'done'")
    assert own.close() == 0
    assert f.result(0)["result"] == "done"
    with pytest.raises(PySandboxError) as e:
        own.ping()
    assert e.value.code == "closed"


def test_server_death_fails_pending(cli):
    own = PySandbox.spawn(cli)
    fs = [own.submit("import time\ntime.sleep(30)") for _ in range(2)]
    time.sleep(0.2)
    own.kill()
    for f in fs:
        with pytest.raises(PySandboxError) as e:
            f.result(10)
        assert e.value.code == "closed"
    own.close()


def test_spawn_of_a_missing_command():
    with pytest.raises(PySandboxError) as e:
        PySandbox.spawn("/nonexistent/pysandbox")
    assert e.value.code == "spawn"


def test_connect_to_a_socket_server_shared_by_two_clients(cli):
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "sock")
        server = subprocess.Popen([cli, "serve", "--listen", "unix:" + path, "--max-in-flight", "1"])
        try:
            for _ in range(200):
                if os.path.exists(path):
                    break
                time.sleep(0.05)
            a = PySandbox.connect("unix:" + path)
            b = PySandbox.connect("unix:" + path)
            # One slot for both: b finds it busy while a runs, and is sent again.
            fa = a.submit("import time\ntime.sleep(0.5)\nresult = 'a'")
            time.sleep(0.1)
            fb = b.submit("result = 'b'")
            assert (fa.result(30)["result"], fb.result(30)["result"]) == ("a", "b")
            assert a.close() is None
            assert b.ping() is True  # one client leaving leaves the server up
            b.close()
        finally:
            server.terminate()
            assert server.wait(30) == 0


def value(outcome):
    """The text/plain of a cell's last expression."""
    shown = [d for d in outcome["displays"] if d["type"] == "execute_result"]
    return shown[0]["data"]["text/plain"] if shown else None


def test_session_cells_snapshots_and_branches(sb):
    s = sb.session(memory_mb=256)
    s.run("import pandas as pd\ndf = pd.DataFrame({'v': [1, 2, 3]})")
    assert value(s.run("int(df.v.sum())")) == "6"
    n = s.snapshot()
    s.run("df = df[df.v > 1]")
    assert value(s.run("len(df)")) == "2"
    assert s.restore(n) is True
    assert value(s.run("len(df)")) == "3"
    b = s.branch(n)
    b.run("df['w'] = df.v * 2")
    assert value(b.run("list(df.columns)")) == "['v', 'w']"
    assert value(s.run("list(df.columns)")) == "['v']"
    assert s.drop(n) is True
    b.close()
    s.close()
    with pytest.raises(PySandboxError) as e:
        s.run("1")
    assert e.value.code == "unknown_session"
