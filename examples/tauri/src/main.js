// main.js - the webview: a textarea, Run and Cancel, through the sidecar.
import { Command } from "@tauri-apps/plugin-shell";
import { openSandbox } from "./sandbox.js";

const $ = (id) => document.getElementById(id);
// One sidecar per page; the shell plugin stops it when the app exits.
export const sandbox = openSandbox(Command);
let current = null;

$("run").addEventListener("click", async () => {
  const { session } = await sandbox;
  $("output").textContent = "";
  const append = (text) => ($("output").textContent += text);
  current = session.run($("code").value, { timeout: 30, onStdout: append, onStderr: append });
  $("cancel").disabled = false;
  try {
    const o = await current;
    append(o.error ? `\n${o.error.kind}: ${o.error.message ?? ""}` : `\nresult: ${JSON.stringify(o.result)}`);
  } catch (err) {
    append(`\nrefused: ${err.code}: ${err.message}`);
  } finally {
    current = null;
    $("cancel").disabled = true;
  }
});

$("cancel").addEventListener("click", async () => {
  if (current) (await sandbox).session.cancel(current);
});
