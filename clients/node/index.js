// index.js - a Node client for `pysandbox serve`: spawns the server as a
// child process (JSON lines on its stdin and stdout) or connects to one
// listening on a unix socket, and exposes runs as promises. No
// dependencies; the protocol itself is in protocol.js.
import { spawn as spawnChild } from "node:child_process";
import { createConnection } from "node:net";
import { StringDecoder } from "node:string_decoder";
import { PySandboxError, Session } from "./protocol.js";

export { PySandboxError, bytesField } from "./protocol.js";

/** Resolves with an object's exit once it has exited (now or later). */
function exited(child) {
  if (child.exitCode !== null || child.signalCode !== null)
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
}

export class PySandbox {
  /** Use PySandbox.spawn() or PySandbox.connect(). */
  constructor(session, { child = null, socket = null } = {}) {
    this._session = session;
    this._child = child;
    this._socket = socket;
    this._exit = child ? exited(child) : null;
  }

  /**
   * Starts `command ...args` (default: `pysandbox serve`) and resolves once
   * it has said hello. env defaults to this process's environment (the
   * server needs PYSANDBOX_HELPER when the helper is not next to it);
   * stderr is the server's own diagnostics ("inherit", "ignore" or "pipe").
   */
  static async spawn({ command = "pysandbox", args = ["serve"], env = process.env, cwd, stderr = "inherit" } = {}) {
    const child = spawnChild(command, args, { env, cwd, stdio: ["pipe", "pipe", stderr] });
    const session = new Session((line) => child.stdin.write(line));
    const decoder = new StringDecoder("utf8");
    child.stdout.on("data", (chunk) => session.feed(decoder.write(chunk)));
    child.stdin.on("error", () => {}); // EPIPE: the exit below says why
    const sb = new PySandbox(session, { child });
    child.on("error", (err) => session.end(new PySandboxError("spawn", `${command}: ${err.message}`)));
    child.on("exit", (code, signal) =>
      session.end(new PySandboxError("closed", `the server exited (${signal ?? `status ${code}`})`)));
    await session.ready();
    return sb;
  }

  /** Connects to `pysandbox serve --listen unix:PATH`; address is "unix:PATH". */
  static async connect(address) {
    if (typeof address !== "string" || !address.startsWith("unix:"))
      throw new PySandboxError("invalid_value", "the address must be unix:PATH");
    const socket = createConnection(address.slice(5));
    const session = new Session((line) => socket.write(line));
    const decoder = new StringDecoder("utf8");
    socket.on("data", (chunk) => session.feed(decoder.write(chunk)));
    socket.on("error", (err) => session.end(new PySandboxError("closed", err.message)));
    socket.on("close", () => session.end());
    await session.ready();
    return new PySandbox(session, { socket });
  }

  /** The server's hello: protocol, version, max_in_flight, max_line_bytes, policy... */
  get hello() {
    return this._session.hello;
  }

  /** The pid of a spawned server (null for a connection). */
  get pid() {
    return this._child ? this._child.pid : null;
  }

  /** See Session.run: resolves with the outcome; the promise carries .id. */
  run(code, options) {
    return this._session.run(code, options);
  }

  /** Cancels a run by its promise or id: true if it was still running. */
  cancel(target) {
    return this._session.cancel(target);
  }

  ping() {
    return this._session.ping();
  }

  /**
   * Opens a session: cells that share one confined interpreter. fields are
   * what holds for all of them (memory_mb, env, prelude, inputs,
   * session_idle_seconds, ...) and `session`, a name of your choosing.
   */
  async session(fields = {}) {
    const name = await this._session._request("session_new", { ...fields });
    return new SandboxSession(this, name);
  }

  /**
   * A spawned server: asks it to shut down (it answers the runs in flight
   * first) and resolves with its exit {code, signal}. A connection: waits
   * for its runs, then disconnects, leaving the server running.
   */
  async close() {
    if (this._child) {
      if (!this._session.closed) {
        await this._session.drained();
        await this._session.shutdown().catch(() => {});
        this._child.stdin.end();
      }
      return this._exit;
    }
    if (!this._session.closed) await this._session.drained();
    this._socket.end();
    if (!this._socket.destroyed) await new Promise((resolve) => this._socket.once("close", resolve));
    return null;
  }

  /**
   * Signals a spawned server (SIGTERM: it answers the runs in flight, then
   * exits; SIGKILL: they reject with code "closed"); a connection is dropped.
   */
  kill(signal = "SIGTERM") {
    if (this._child) this._child.kill(signal);
    else this._socket.destroy();
  }
}

/**
 * One session of a PySandbox: run() is a cell (state persists), one at a
 * time; snapshot() keeps the state (a number), restore(n) goes back to it,
 * branch(n) opens a second session from it, close() ends it.
 */
export class SandboxSession {
  constructor(sandbox, name) {
    this.sandbox = sandbox;
    this.name = name;
  }

  run(code, options = {}) {
    return this.sandbox.run(code, { ...options, session: this.name });
  }

  snapshot() {
    return this.sandbox._session._request("session_snapshot", { session: this.name });
  }

  restore(snapshot) {
    return this.sandbox._session._request("session_restore", { session: this.name, snapshot });
  }

  async branch(snapshot, name) {
    const fields = { session: this.name, snapshot };
    if (name !== undefined) fields.new_session = name;
    return new SandboxSession(this.sandbox, await this.sandbox._session._request("session_branch", fields));
  }

  drop(snapshot) {
    return this.sandbox._session._request("snapshot_drop", { session: this.name, snapshot });
  }

  close() {
    return this.sandbox._session._request("session_close", { session: this.name });
  }
}
