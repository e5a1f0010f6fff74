"""A client for `pysandbox serve`, for any Python 3.8+ outside the sandbox.

Standard library only. Spawns the server as a child process (JSON lines on
its stdin and stdout) or connects to one on a unix socket; one reader thread
matches answers to requests, so any number of threads may run code at once:

    with PySandbox.spawn() as sb:
        outcome = sb.run("result = sum(inputs['xs'])", inputs={"xs": [1, 2]})
        future = sb.submit("import time; time.sleep(9)")
        sb.cancel(future)

Runs beyond the server's max_in_flight wait in this client for a slot.
"""

import base64
import json
import os
import queue
import socket
import subprocess
import threading
from concurrent.futures import Future

__all__ = ["PySandbox", "PySandboxError", "bytes_field"]

PROTOCOL = 1
BUSY_TRIES = 40  # how often a run the server found busy is sent again


class PySandboxError(Exception):
    """An error the server answered with, or the connection ending under a request.

    code is the protocol's code (busy, unknown_field, ...) or "closed";
    field the request field it names, or None; id the request's id.
    """

    def __init__(self, code, message, field=None, id=None):
        super().__init__(message)
        self.code = code
        self.field = field
        self.id = id


def bytes_field(value):
    """bytes travel as {"$type": "bytes", "base64": ...}; str as it is."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"$type": "bytes", "base64": base64.b64encode(bytes(value)).decode("ascii")}
    return value


def _cancelled_outcome():
    # What the server answers for a cancelled run, for one that never reached it.
    return {
        "status": "error", "result": None, "stdout": "", "stdout_truncated": False,
        "stderr": "", "stderr_truncated": False,
        "error": {"kind": "cancelled", "type": None, "message": "the execution was cancelled",
                  "traceback": None, "module": None, "event": None},
        "stats": {"wall_ms": 0, "cpu_ms": 0, "peak_rss_kib": 0, "peak_memory_kib": 0},
        "figures": [], "figures_truncated": False, "files": [],
        "displays_truncated": False, "displays": [],
    }


class _Pending:
    __slots__ = ("id", "key", "future", "run", "sent", "on_stdout", "on_stderr", "line", "busy_tries",
                 "timer")

    def __init__(self, id, run, on_stdout=None, on_stderr=None):
        self.id = id
        self.key = json.dumps(id)
        self.future = Future()
        self.future.set_running_or_notify_cancel()  # cancel through PySandbox.cancel
        self.future.id = id
        self.run = run
        self.sent = False
        self.on_stdout = on_stdout
        self.on_stderr = on_stderr
        self.line = None  # the request as sent
        self.busy_tries = 0
        self.timer = None  # set while waiting to be sent again after busy


class PySandbox:
    """One connection to a server. Use spawn() or connect(). Thread-safe."""

    def __init__(self, reader, write, close_write, process=None, sock=None):
        self._reader = reader  # binary file: the server's lines
        self._write_raw = write  # bytes -> None
        self._close_write = close_write
        self._process = process
        self._sock = sock
        self._lock = threading.Lock()  # everything below, and the writes
        self._pending = {}  # key -> _Pending
        self._queue = []  # (request, _Pending) waiting for a slot
        self._running = 0  # runs sent and not answered
        self._next_id = 1
        self._closed = None  # the PySandboxError every later call gets
        self._idle = threading.Condition(self._lock)  # _pending became empty
        self._hello = Future()
        self.hello = None
        self._outbox = queue.Queue()  # lines for the writer thread; None ends it
        self._thread = threading.Thread(target=self._read_loop, name="pysandbox-reader", daemon=True)
        self._writer = threading.Thread(target=self._write_loop, name="pysandbox-writer", daemon=True)
        self._thread.start()
        self._writer.start()

    @classmethod
    def spawn(cls, command="pysandbox", args=("serve",), env=None, stderr=None, timeout=60):
        """Starts `command *args` and returns once it has said hello.

        env defaults to this process's environment (the server needs
        PYSANDBOX_HELPER when its helper is not next to it); stderr is passed
        to subprocess.Popen (None: inherited).
        """
        try:
            proc = subprocess.Popen([command, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=stderr, env=env, bufsize=0, close_fds=True)
        except OSError as e:
            raise PySandboxError("spawn", "%s: %s" % (command, e)) from e

        def write(data):
            proc.stdin.write(data)
            proc.stdin.flush()

        sb = cls(proc.stdout, write, proc.stdin.close, process=proc)
        sb._wait_hello(timeout)
        return sb

    @classmethod
    def connect(cls, address, timeout=60):
        """Connects to `pysandbox serve --listen unix:PATH`; address is "unix:PATH"."""
        if not isinstance(address, str) or not address.startswith("unix:"):
            raise PySandboxError("invalid_value", "the address must be unix:PATH")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(address[5:])
        except OSError as e:
            sock.close()
            raise PySandboxError("closed", "%s: %s" % (address, e)) from e
        sb = cls(sock.makefile("rb"), sock.sendall, lambda: sock.shutdown(socket.SHUT_WR), sock=sock)
        sb._wait_hello(timeout)
        return sb

    def _wait_hello(self, timeout):
        try:
            self.hello = self._hello.result(timeout)
        except BaseException:
            self.kill()
            raise

    # The reader thread.

    def _read_loop(self):
        reason = None
        try:
            for line in self._reader:
                if line.strip():
                    self._dispatch(json.loads(line))
        except (OSError, ValueError) as e:
            reason = PySandboxError("closed", "reading from the server: %s" % e)
        if self._process is not None:
            code = self._process.wait()
            reason = reason or PySandboxError("closed", "the server exited (status %s)" % code)
        self._end(reason or PySandboxError("closed", "the connection to the server ended"))

    def _dispatch(self, msg):
        if "hello" in msg:
            if msg["hello"].get("protocol") != PROTOCOL:
                raise ValueError("unsupported protocol %r" % msg["hello"].get("protocol"))
            self._hello.set_result(msg["hello"])
            return
        if msg.get("id") is None:
            return  # an answer to no request (a line the server could not read)
        with self._lock:
            p = self._pending.get(json.dumps(msg["id"]))
        if p is None:
            return
        if "event" in msg:
            cb = p.on_stdout if msg["event"] == "stdout" else p.on_stderr
            if cb is not None:
                cb(msg.get("data", ""))
            return
        with self._lock:
            if "error" in msg and msg["error"].get("code") == "busy" and p.run and self._retry_busy(p):
                return
            self._forget(p)
            self._pump()
        if "error" in msg:
            e = msg["error"]
            p.future.set_exception(PySandboxError(e.get("code"), e.get("message"), e.get("field"), msg["id"]))
        else:
            if "outcome" in msg:
                p.future.set_result(msg["outcome"])
            elif "session" in msg or "snapshot" in msg:
                p.future.set_result(msg.get("session", msg.get("snapshot")))
            else:
                p.future.set_result(msg.get("ok", True))

    def _end(self, reason):
        with self._lock:
            if self._closed is None:
                self._closed = reason
            pending = list(self._pending.values())
            self._pending.clear()
            self._queue = []
            self._idle.notify_all()
            self._outbox.put(None)
        if not self._hello.done():
            self._hello.set_exception(reason)
        for p in pending:
            if p.timer is not None:
                p.timer.cancel()
            p.future.set_exception(reason)

    # Requests. Call the underscored ones with self._lock held.

    def _retry_busy(self, p):
        # busy: the server had no free slot. This client never sends more than
        # max_in_flight, but other clients of a socket server share the slots,
        # so a run can still find them taken. Such a run is sent again a
        # little later, up to BUSY_TRIES times.
        p.busy_tries += 1
        if p.busy_tries > BUSY_TRIES:
            return False
        p.sent = False
        self._running -= 1
        p.timer = threading.Timer(min(0.005 * 2 ** (p.busy_tries - 1), 0.25), self._requeue, (p,))
        p.timer.daemon = True
        p.timer.start()
        return True

    def _requeue(self, p):
        with self._lock:
            p.timer = None
            if self._pending.get(p.key) is p and self._closed is None:
                self._queue.insert(0, (p.line, p))
                self._pump()

    def _forget(self, p):
        if p.timer is not None:
            p.timer.cancel()
            p.timer = None
        self._pending.pop(p.key, None)
        if p.run and p.sent:
            self._running -= 1
        if not self._pending:
            self._idle.notify_all()

    def _slots(self):
        return self.hello["max_in_flight"] if self.hello else 1

    def _pump(self):
        while self._queue and self._running < self._slots():
            line, p = self._queue.pop(0)
            p.sent = True
            self._running += 1
            self._outbox.put(line)

    def _write_loop(self):
        # The only writer: a request is queued here under self._lock, so lines go
        # out in the order they were decided (a cancel never overtakes its run),
        # and neither the reader nor a caller ever blocks on a full pipe.
        while True:
            line = self._outbox.get()
            if line is None:
                break
            try:
                self._write_raw(line)
            except (OSError, ValueError) as e:
                self._end(PySandboxError("closed", "writing to the server: %s" % e))
                break
        try:
            self._close_write()
        except OSError:
            pass

    def _request(self, op, fields, on_stdout=None, on_stderr=None):
        id = fields.pop("id", None)
        with self._lock:
            if self._closed is not None:
                raise self._closed
            if id is None:
                id = self._next_id
                self._next_id += 1
            p = _Pending(id, op == "run", on_stdout, on_stderr)
            if p.key in self._pending:
                raise PySandboxError("duplicate_id", "an execution with this id is in flight", "id", id)
            line = (json.dumps(dict(fields, id=id, op=op), ensure_ascii=False) + "\n").encode("utf-8")
            limit = self.hello["max_line_bytes"] if self.hello else None
            if limit is not None and len(line) - 1 > limit:
                # The server would answer it with id null; refused here instead.
                raise PySandboxError("line_too_long", "the request is longer than %d bytes" % limit, None, id)
            self._pending[p.key] = p
            p.line = line
            if op == "run":
                self._queue.append((line, p))
                self._pump()
            else:
                p.sent = True
                self._outbox.put(line)
        return p.future

    def submit(self, code, on_stdout=None, on_stderr=None, id=None, **fields):
        """Starts a run; returns a concurrent.futures.Future of its outcome (with .id).

        fields are the protocol's run fields (inputs, stdin, env, files,
        timeout, memory_mb, ...); bytes in stdin or files travel as bytes.
        on_stdout/on_stderr(text) turn on streaming and are called on the
        reader thread, so they must not block for long. A run that fails
        inside the sandbox still resolves: see outcome["error"].
        """
        req = {"code": code}
        for k, v in fields.items():
            if v is not None:
                req[k] = v
        if "stdin" in req:
            req["stdin"] = bytes_field(req["stdin"])
        if "files" in req:
            req["files"] = {n: bytes_field(v) for n, v in req["files"].items()}
        if on_stdout is not None or on_stderr is not None:
            req["stream"] = True
        if id is not None:
            req["id"] = id
        return self._request("run", req, on_stdout, on_stderr)

    def run(self, code, timeout=None, wait=None, **kwargs):
        """submit() and wait: the outcome dict. timeout is the sandbox's (seconds);
        wait bounds how long this call waits (None: until the answer)."""
        return self.submit(code, timeout=timeout, **kwargs).result(wait)

    def cancel(self, target):
        """Cancels a run by its future or id: True if it was still running (it
        then resolves with error kind "cancelled"), False if it had finished."""
        id = getattr(target, "id", target)
        key = json.dumps(id)
        with self._lock:
            p = self._pending.get(key)
            if p is not None and p.run and not p.sent:  # queued here: answered here
                self._queue = [q for q in self._queue if q[1] is not p]
                self._forget(p)
            else:
                p = None
            known = key in self._pending
        if p is not None:
            p.future.set_result(_cancelled_outcome())
            return True
        if not known:
            return False
        try:
            self._request("cancel", {"target": id}).result()
            return True
        except PySandboxError as e:
            if e.code == "unknown_id":
                return False
            raise

    def session(self, name=None, wait=None, **fields):
        """Opens a session: cells that share one confined interpreter (a Session).

        fields are what holds for the whole session (memory_mb, cpu_seconds,
        env, prelude, inputs, session_idle_seconds, ...); name is optional.
        """
        req = {k: v for k, v in fields.items() if v is not None}
        if name is not None:
            req["session"] = name
        return Session(self, self._request("session_new", req).result(wait))

    def ping(self, wait=None):
        """True once the server answers."""
        return self._request("ping", {}).result(wait)

    @property
    def in_flight(self):
        """Runs waiting for an answer, sent or queued here."""
        with self._lock:
            return self._running + len(self._queue)

    def drain(self, wait=None):
        """Waits until every request has been answered; False if wait ran out."""
        with self._lock:
            return self._idle.wait_for(lambda: not self._pending, wait)

    def close(self, wait=None):
        """A spawned server: waits for the runs, asks it to shut down, returns its
        exit status. A connection: waits for the runs and disconnects (the
        server keeps running); returns None."""
        if self._closed is None:
            self.drain(wait)
            if self._process is not None:
                try:
                    self._request("shutdown", {}).result(wait)
                except PySandboxError:
                    pass
            self._outbox.put(None)  # the writer closes our end: EOF for the server
        self._thread.join(wait)
        if self._sock is not None:
            self._sock.close()
        if self._process is not None:
            code = self._process.wait(wait)
            self._process.stdout.close()
            return code
        return None

    def kill(self):
        """Stops a spawned server at once (SIGKILL) or drops a connection:
        every pending request fails with code "closed"."""
        if self._process is not None:
            if self._process.poll() is None:
                self._process.kill()
        elif self._sock is not None:
            try:
                self._sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    @property
    def pid(self):
        return self._process.pid if self._process is not None else None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


if __name__ == "__main__":  # a smoke test: python3 pysandbox_client.py [COMMAND]
    import sys

    with PySandbox.spawn(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("PSB_CLI", "pysandbox")) as sb:
        print(sb.run("import sys; result = sys.version"))


class Session:
    """A session of a PySandbox: each run() is a cell; state persists between cells.

    One cell at a time: run() waits for the answer. snapshot() keeps the
    state (a number), restore(n) goes back to it, branch(n) opens a second
    session from it; close() ends the session (as does the client's close).
    """

    def __init__(self, client, name):
        self.client = client
        self.name = name

    def run(self, code, timeout=None, wait=None, **fields):
        """One cell: the outcome dict (its displays hold the last expression's value)."""
        return self.client.submit(code, session=self.name, timeout=timeout, **fields).result(wait)

    def snapshot(self, wait=None):
        return self.client._request("session_snapshot", {"session": self.name}).result(wait)

    def restore(self, snapshot, wait=None):
        req = {"session": self.name, "snapshot": snapshot}
        return self.client._request("session_restore", req).result(wait)

    def branch(self, snapshot, name=None, wait=None):
        req = {"session": self.name, "snapshot": snapshot}
        if name is not None:
            req["new_session"] = name
        return Session(self.client, self.client._request("session_branch", req).result(wait))

    def drop(self, snapshot, wait=None):
        req = {"session": self.name, "snapshot": snapshot}
        return self.client._request("snapshot_drop", req).result(wait)

    def close(self, wait=None):
        return self.client._request("session_close", {"session": self.name}).result(wait)
