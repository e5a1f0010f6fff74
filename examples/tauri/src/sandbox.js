// sandbox.js - the app's side of `pysandbox serve` run as a Tauri sidecar:
// the sidecar's name and arguments (capabilities/default.json allows exactly
// these), and a session over Command.sidecar's stdout and stdin. Command is
// passed in, so a test can hand it a stand-in for @tauri-apps/plugin-shell.
import { PySandboxError, Session } from "../../../clients/node/protocol.js";

/** The name in tauri.conf.json's bundle.externalBin and the capability's scope. */
export const SIDECAR = "binaries/pysandbox";

/** The only arguments the capability lets the webview spawn it with. */
export const SIDECAR_ARGS = ["serve", "--no-import-overrides", "--max-in-flight", "4"];

/**
 * Spawns the sidecar and resolves, once it has said hello, with
 * {session, child, close}: session.run/cancel/ping as in clients/node.
 */
export async function openSandbox(Command) {
  const command = Command.sidecar(SIDECAR, SIDECAR_ARGS);
  let child = null;
  const session = new Session((line) => {
    child.write(line).catch((err) => session.end(new PySandboxError("closed", String(err))));
  });
  // The plugin hands stdout over line by line, with or without the newline
  // depending on its version and options, as a string or bytes: take all of them.
  const decoder = new TextDecoder();
  let pending = "";
  command.stdout.on("data", (data) => {
    pending += typeof data === "string" ? data : decoder.decode(data, { stream: true });
    let nl;
    while ((nl = pending.indexOf("\n")) >= 0) {
      session.feedLine(pending.slice(0, nl));
      pending = pending.slice(nl + 1);
    }
    if (pending) {
      try {
        JSON.parse(pending); // a whole line without its newline (a prefix of one never parses)
      } catch {
        return;
      }
      session.feedLine(pending);
      pending = "";
    }
  });
  command.stderr.on("data", (line) => console.warn("pysandbox:", line));
  const closed = new Promise((resolve) => {
    command.on("close", (exit) => {
      session.end(new PySandboxError("closed", `the sidecar exited (${JSON.stringify(exit)})`));
      resolve(exit);
    });
  });
  command.on("error", (err) => session.end(new PySandboxError("closed", String(err))));
  child = await command.spawn();
  await session.ready();
  return {
    session,
    child,
    /** Drains, asks the server to shut down and resolves with its exit {code, signal}. */
    async close() {
      if (!session.closed) {
        await session.drained();
        await session.shutdown().catch(() => {});
      }
      return closed;
    },
  };
}
