// protocol.js - the client side of `pysandbox serve`'s JSON lines, with no
// transport and no Node built-ins, so the same code runs in Node (index.js
// adds a child process or a unix socket) and in a webview (the Tauri example
// feeds it the lines of a sidecar). One Session owns one connection.

/** An error the server answered with, or the connection ending under a request. */
export class PySandboxError extends Error {
  constructor(code, message, field = null, id = null) {
    super(message);
    this.name = "PySandboxError";
    this.code = code; // the protocol's code (busy, unknown_field, ...) or "closed"
    this.field = field; // the request field it names, or null
    this.id = id; // the request's id, or null
  }
}

// How often a run the server found busy is sent again (see _retryBusy).
const BUSY_TRIES = 40;

// Options that steer the client and are never sent.
const LOCAL = new Set(["onStdout", "onStderr", "signal", "id"]);

/** Bytes travel as {"$type":"bytes","base64"}; strings travel as they are. */
export function bytesField(value) {
  if (typeof value === "string" || value === null || typeof value !== "object") return value;
  if (value instanceof ArrayBuffer) value = new Uint8Array(value);
  if (!ArrayBuffer.isView(value)) return value; // already {"$type": ...}
  const u8 = new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  let bin = "";
  for (let i = 0; i < u8.length; i += 0x8000)
    bin += String.fromCharCode.apply(null, u8.subarray(i, i + 0x8000));
  return { $type: "bytes", base64: btoa(bin) };
}

/** The outcome the server would have sent for a run cancelled before it started. */
function cancelledOutcome() {
  return {
    status: "error", result: null, stdout: "", stdout_truncated: false,
    stderr: "", stderr_truncated: false,
    error: { kind: "cancelled", type: null, message: "the execution was cancelled",
      traceback: null, module: null, event: null },
    stats: { wall_ms: 0, cpu_ms: 0, peak_rss_kib: 0, peak_memory_kib: 0 },
    figures: [], figures_truncated: false, files: [], displays_truncated: false, displays: [],
  };
}

/**
 * One connection's requests and answers. write(line) sends one line
 * (newline included); feed(text) takes what the server wrote, in any
 * chunks; end(reason) says the connection is gone.
 */
export class Session {
  constructor(write) {
    this._write = write;
    this._nextId = 1;
    this._pending = new Map(); // key -> {id, resolve, reject, onStdout, onStderr}
    this._queue = []; // runs waiting for a free slot: {req, entry}
    this._running = 0; // runs sent and not answered
    this._buffer = "";
    this._closed = null; // the PySandboxError every later call gets
    this.hello = null;
    this._helloWaiters = [];
    this._drainWaiters = [];
    this.onUnmatched = null; // (message) for an answer with no request (id null)
  }

  /** Resolves with the hello object once the server has sent it. */
  ready() {
    if (this.hello) return Promise.resolve(this.hello);
    if (this._closed) return Promise.reject(this._closed);
    return new Promise((resolve, reject) => this._helloWaiters.push({ resolve, reject }));
  }

  /** Text from the server, split into lines here. */
  feed(text) {
    this._buffer += text;
    let nl;
    while ((nl = this._buffer.indexOf("\n")) >= 0) {
      const line = this._buffer.slice(0, nl);
      this._buffer = this._buffer.slice(nl + 1);
      if (line.trim()) this._line(line);
    }
  }

  /** One complete line (for transports that deliver lines without their newline). */
  feedLine(line) {
    if (line.trim()) this._line(line);
  }

  _line(line) {
    let msg;
    try {
      msg = JSON.parse(line);
    } catch {
      return this.end(new PySandboxError("invalid_json", `the server wrote a line that is not JSON: ${line.slice(0, 80)}`));
    }
    if (msg.hello) {
      this.hello = msg.hello;
      if (msg.hello.protocol !== 1)
        return this.end(new PySandboxError("protocol", `unsupported protocol ${msg.hello.protocol}`));
      for (const w of this._helloWaiters.splice(0)) w.resolve(msg.hello);
      return;
    }
    const entry = msg.id === null || msg.id === undefined ? null : this._pending.get(JSON.stringify(msg.id));
    if (!entry) {
      if (this.onUnmatched) this.onUnmatched(msg);
      return;
    }
    if (msg.event) {
      const cb = msg.event === "stdout" ? entry.onStdout : entry.onStderr;
      if (cb) cb(msg.data);
      return;
    }
    if (msg.error && msg.error.code === "busy" && entry.run && this._retryBusy(entry)) return;
    this._settle(entry);
    if (msg.error) {
      const e = msg.error;
      entry.reject(new PySandboxError(e.code, e.message, e.field ?? null, msg.id));
    } else {
      // An outcome; a session's name, a snapshot's number; else {"ok": true}.
      entry.resolve(msg.outcome ?? msg.session ?? msg.snapshot ?? msg.ok);
    }
  }

  // busy: the server had no free slot. This client never sends more than
  // max_in_flight, but other clients of a socket server share the slots, so
  // a run can still find them taken. Such a run is tried again a little
  // later, up to BUSY_TRIES times.
  _retryBusy(entry) {
    if ((entry.busyTries = (entry.busyTries ?? 0) + 1) > BUSY_TRIES) return false;
    entry.sent = false;
    this._running--;
    const delay = Math.min(5 * 2 ** (entry.busyTries - 1), 250);
    entry.timer = setTimeout(() => {
      entry.timer = null;
      if (!this._pending.has(entry.key) || this._closed) return;
      this._queue.unshift({ req: entry.req, entry });
      this._pump();
    }, delay);
    return true;
  }

  _settle(entry) {
    if (entry.timer) clearTimeout(entry.timer);
    this._pending.delete(entry.key);
    if (entry.signal && entry.onAbort) entry.signal.removeEventListener("abort", entry.onAbort);
    if (entry.sent && entry.run) {
      this._running--;
      this._pump();
    }
    if (this._pending.size === 0) for (const w of this._drainWaiters.splice(0)) w();
  }

  _send(req) {
    const line = JSON.stringify(req) + "\n";
    const max = this.hello ? this.hello.max_line_bytes : Infinity;
    // The server would answer an over-long line with id null; refuse it here instead.
    if (line.length > max && new TextEncoder().encode(line).length - 1 > max)
      throw new PySandboxError("line_too_long", `the request is longer than ${max} bytes`, null, req.id);
    this._write(line);
  }

  _request(op, fields = {}, extra = {}) {
    if (this._closed) return Promise.reject(this._closed);
    const id = fields.id ?? this._nextId++;
    const key = JSON.stringify(id);
    let entry;
    const promise = new Promise((resolve, reject) => {
      entry = { id, key, resolve, reject, ...extra };
    });
    promise.id = id;
    if (this._pending.has(key)) return Promise.reject(new PySandboxError("duplicate_id", "an execution with this id is in flight", "id", id));
    this._pending.set(key, entry);
    const req = { ...fields, id, op };
    entry.req = req;
    if (op === "run" && this._running >= this._slots()) {
      this._queue.push({ req, entry });
    } else {
      this._dispatch(req, entry);
    }
    return promise;
  }

  _slots() {
    return this.hello ? this.hello.max_in_flight : 1;
  }

  _dispatch(req, entry) {
    entry.sent = true;
    if (entry.run) this._running++;
    try {
      this._send(req);
    } catch (err) {
      this._settle(entry);
      entry.reject(err);
    }
  }

  _pump() {
    while (this._queue.length && this._running < this._slots()) {
      const { req, entry } = this._queue.shift();
      this._dispatch(req, entry);
    }
  }

  /**
   * Runs code; resolves with the outcome (a run that failed inside the
   * sandbox still resolves: look at outcome.status and outcome.error).
   * options: the protocol's run fields, plus onStdout/onStderr (turn on
   * stream), signal (an AbortSignal that cancels), id (your own id).
   * More runs than the server's max_in_flight wait here for a slot.
   */
  run(code, options = {}) {
    const req = { code };
    for (const [k, v] of Object.entries(options)) {
      if (LOCAL.has(k) || v === undefined) continue;
      req[k] = v;
    }
    if (req.stdin !== undefined) req.stdin = bytesField(req.stdin);
    if (req.files) req.files = Object.fromEntries(Object.entries(req.files).map(([n, v]) => [n, bytesField(v)]));
    const { onStdout, onStderr, signal } = options;
    if (onStdout || onStderr) req.stream = true;
    if (options.id !== undefined) req.id = options.id;
    if (signal?.aborted) return Promise.reject(signal.reason ?? new PySandboxError("cancelled", "aborted"));
    const extra = { run: true, onStdout, onStderr, signal };
    const promise = this._request("run", req, extra);
    if (signal && this._pending.has(JSON.stringify(promise.id))) {
      const entry = this._pending.get(JSON.stringify(promise.id));
      entry.onAbort = () => this.cancel(promise.id).catch(() => {});
      signal.addEventListener("abort", entry.onAbort, { once: true });
    }
    return promise;
  }

  /**
   * Cancels a run (its promise or its id). Resolves true when the server
   * had it in flight (the run then resolves with error.kind "cancelled"),
   * false when it had already finished. A run still waiting here for a
   * slot resolves at once with a cancelled outcome and never reaches the server.
   */
  async cancel(target) {
    const id = typeof target === "object" && target !== null ? target.id : target;
    const key = JSON.stringify(id);
    const waiting = this._pending.get(key);
    if (waiting && waiting.run && !waiting.sent) { // queued here, or waiting to be sent again
      const queued = this._queue.findIndex((q) => q.entry === waiting);
      if (queued >= 0) this._queue.splice(queued, 1);
      this._settle(waiting);
      waiting.resolve(cancelledOutcome());
      return true;
    }
    if (!this._pending.has(key)) return false;
    try {
      await this._request("cancel", { target: id });
      return true;
    } catch (err) {
      if (err.code === "unknown_id") return false;
      throw err;
    }
  }

  /** Resolves true when the server answers. */
  ping() {
    return this._request("ping");
  }

  /** Asks the server to stop: it drains what is in flight, then exits. */
  shutdown() {
    return this._request("shutdown");
  }

  /** How many runs are waiting for an answer (sent or queued here). */
  get inFlight() {
    return this._running + this._queue.length;
  }

  /** Resolves once every run has been answered. */
  drained() {
    if (this._pending.size === 0) return Promise.resolve();
    return new Promise((resolve) => this._drainWaiters.push(resolve));
  }

  /** The connection is gone: every request waiting and every later call rejects. */
  end(reason) {
    if (this._closed) return;
    this._closed = reason ?? new PySandboxError("closed", "the connection to the server ended");
    for (const w of this._helloWaiters.splice(0)) w.reject(this._closed);
    this._queue = [];
    for (const entry of [...this._pending.values()]) {
      this._pending.delete(entry.key);
      entry.reject(this._closed);
    }
    for (const w of this._drainWaiters.splice(0)) w();
  }

  get closed() {
    return this._closed !== null;
  }
}
