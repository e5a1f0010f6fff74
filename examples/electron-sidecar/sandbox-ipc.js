// sandbox-ipc.js - the main process's side of the app: one `pysandbox serve`
// for the whole app, and the ipcMain handlers a window calls through the
// preload. Kept apart from main.js (no electron import) so a test can drive
// it with a stand-in ipcMain.
import { PySandbox } from "../../clients/node/index.js";
import { existsSync } from "node:fs";
import { join } from "node:path";

// What a window may ask for. Everything else (allow_import, env, files,
// limits above these) stays the main process's decision: the renderer shows
// web content and is not trusted to widen the sandbox.
const MAX_CODE_BYTES = 256 * 1024;
const MAX_TIMEOUT_S = 60;

/**
 * The server binary: PSB_CLI, else one shipped in the app's resources
 * (electron-builder's extraResources, next to pysandbox-helper), else PATH.
 */
export function serverCommand(resourcesPath = process.resourcesPath) {
  if (process.env.PSB_CLI) return process.env.PSB_CLI;
  const shipped = resourcesPath ? join(resourcesPath, "pysandbox", "pysandbox") : null;
  return shipped && existsSync(shipped) ? shipped : "pysandbox";
}

/** Starts the app's one server. */
export function startSandbox({ command = serverCommand(), maxInFlight = 4 } = {}) {
  return PySandbox.spawn({ command, args: ["serve", "--no-import-overrides", "--max-in-flight", String(maxInFlight)] });
}

/** Checks what a window sent; returns the run options, or throws. */
function runOptions(request) {
  if (typeof request !== "object" || request === null) throw new TypeError("the request must be an object");
  const { code, inputs, timeout } = request;
  if (typeof code !== "string" || Buffer.byteLength(code) > MAX_CODE_BYTES)
    throw new TypeError(`code must be a string of at most ${MAX_CODE_BYTES} bytes`);
  if (inputs !== undefined && (typeof inputs !== "object" || inputs === null || Array.isArray(inputs)))
    throw new TypeError("inputs must be an object");
  if (timeout !== undefined && !(typeof timeout === "number" && timeout > 0 && timeout <= MAX_TIMEOUT_S))
    throw new TypeError(`timeout must be a number of seconds up to ${MAX_TIMEOUT_S}`);
  return { code, inputs, timeout };
}

/**
 * Registers "pysandbox:run" and "pysandbox:cancel" on ipcMain. A run's
 * output goes back to the window that asked, as "pysandbox:output" events
 * {requestId, stream, data}; a window may cancel only its own runs, and a
 * window that goes away cancels what it left running.
 * Returns a function that removes the handlers.
 */
export function registerSandboxHandlers(ipcMain, sandbox) {
  const runs = new Map(); // `${webContents.id}:${requestId}` -> run promise
  const watched = new WeakSet(); // webContents whose 'destroyed' we listen to

  ipcMain.handle("pysandbox:run", async (event, request) => {
    const sender = event.sender;
    const { code, inputs, timeout } = runOptions(request);
    const requestId = String(request.requestId ?? "");
    const key = `${sender.id}:${requestId}`;
    if (!requestId || runs.has(key)) throw new TypeError("requestId must be unique among a window's runs");
    if (!watched.has(sender)) {
      watched.add(sender);
      sender.once("destroyed", () => {
        for (const [k, p] of runs) if (k.startsWith(`${sender.id}:`)) sandbox.cancel(p).catch(() => {});
      });
    }
    const send = (stream) => (data) => {
      if (!sender.isDestroyed()) sender.send("pysandbox:output", { requestId, stream, data });
    };
    const promise = sandbox.run(code, { inputs, timeout, onStdout: send("stdout"), onStderr: send("stderr") });
    runs.set(key, promise);
    try {
      return await promise;
    } finally {
      runs.delete(key);
    }
  });

  ipcMain.handle("pysandbox:cancel", async (event, requestId) => {
    const p = runs.get(`${event.sender.id}:${String(requestId)}`);
    return p ? sandbox.cancel(p) : false;
  });

  return () => {
    ipcMain.removeHandler("pysandbox:run");
    ipcMain.removeHandler("pysandbox:cancel");
  };
}
