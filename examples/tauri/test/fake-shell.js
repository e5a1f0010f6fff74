// fake-shell.js - a stand-in for @tauri-apps/plugin-shell's Command, on
// child_process, that refuses what Tauri would refuse: a sidecar missing
// from tauri.conf.json's bundle.externalBin, a spawn whose program or
// arguments the capability's shell:allow-spawn scope does not allow, and
// stdin writes or kills without their permissions. The sidecar runs as the
// built binary (PSB_CLI) in place of src-tauri/binaries/pysandbox-<triple>.
import { spawn } from "node:child_process";
import { EventEmitter } from "node:events";
import { readFileSync } from "node:fs";

const root = new URL("../src-tauri/", import.meta.url);
export const conf = JSON.parse(readFileSync(new URL("tauri.conf.json", root), "utf8"));
export const capability = JSON.parse(readFileSync(new URL("capabilities/default.json", root), "utf8"));

const permission = (id) =>
  capability.permissions.find((p) => (typeof p === "string" ? p : p.identifier) === id);

/** The scope entries of a permission (an object permission's allow list). */
export const scopeOf = (id) => permission(id)?.allow ?? [];

/** Tauri's argument check: true allows any, else each argument matches in order. */
function argsAllowed(allowed, args) {
  if (allowed === true) return true;
  if (!Array.isArray(allowed)) return args.length === 0;
  return allowed.length === args.length && allowed.every((a, i) =>
    typeof a === "string" ? a === args[i] : new RegExp(`^(?:${a.validator})$`).test(args[i]));
}

/** How stdout reaches "data" listeners: "strip" (lines without \n), "keep" (with), "raw" (bytes, any chunks). */
export const options = { lineMode: "strip" };

class Child {
  constructor(proc) {
    this.pid = proc.pid;
    this._proc = proc;
  }
  async write(data) {
    if (!permission("shell:allow-stdin-write")) throw new Error("shell.stdin_write not allowed");
    this._proc.stdin.write(data);
  }
  async kill() {
    if (!permission("shell:allow-kill")) throw new Error("shell.kill not allowed");
    this._proc.kill("SIGKILL");
  }
}

function lines(stream, emit, mode) {
  let buf = "";
  stream.on("data", (chunk) => {
    if (mode === "raw") return emit(new Uint8Array(chunk));
    buf += chunk.toString("utf8");
    let nl;
    while ((nl = buf.indexOf("\n")) >= 0) {
      emit(mode === "keep" ? buf.slice(0, nl + 1) : buf.slice(0, nl));
      buf = buf.slice(nl + 1);
    }
  });
}

export class Command extends EventEmitter {
  constructor(program, args = [], { sidecar = false } = {}) {
    super();
    this.program = program;
    this.args = typeof args === "string" ? [args] : args;
    this.sidecar = sidecar;
    this.stdout = new EventEmitter();
    this.stderr = new EventEmitter();
  }

  static sidecar(program, args = []) {
    if (!(conf.bundle.externalBin ?? []).includes(program))
      throw new Error(`${program} is not in bundle.externalBin`);
    return new Command(program, args, { sidecar: true });
  }

  async spawn() {
    const ok = scopeOf("shell:allow-spawn").some((s) =>
      s.name === this.program && Boolean(s.sidecar) === this.sidecar && argsAllowed(s.args, this.args));
    if (!ok) throw new Error(`Scoped command ${this.program} ${JSON.stringify(this.args)} not found`);
    const exe = this.sidecar ? process.env.PSB_CLI : this.program;
    const proc = spawn(exe, this.args, { stdio: ["pipe", "pipe", "pipe"] });
    const mode = options.lineMode;
    lines(proc.stdout, (d) => this.stdout.emit("data", d), mode);
    lines(proc.stderr, (d) => this.stderr.emit("data", d), mode === "raw" ? "strip" : mode);
    proc.on("error", (err) => this.emit("error", String(err)));
    proc.on("close", (code, signal) => this.emit("close", { code, signal }));
    proc.stdin.on("error", () => {});
    await new Promise((resolve, reject) => {
      proc.once("spawn", resolve);
      proc.once("error", reject);
    });
    return new Child(proc);
  }
}
