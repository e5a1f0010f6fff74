// standin-main.js - stands in for the Electron main process: loads the real
// main.js under Node with fake-electron.js as "electron", waits for its
// window, and returns what a test needs to play the renderer. Run directly
// (PSB_CLI=... node test/standin-main.js) it runs one snippet and quits.
import { register } from "node:module";
import { setTimeout as sleep } from "node:timers/promises";

register("./electron-loader.mjs", import.meta.url);

/** Imports main.js; resolves once it has opened its window. */
export async function startMain() {
  const electron = await import("electron");
  await import("../main.js");
  for (let i = 0; i < 600 && electron.BrowserWindow.getAllWindows().length === 0; i++) await sleep(50);
  const [win] = electron.BrowserWindow.getAllWindows();
  if (!win) throw new Error("main.js opened no window");
  return { ...electron, win, invoke: (channel, ...args) => electron.ipcMain.invoke(win.webContents, channel, ...args) };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { app, invoke } = await startMain();
  const o = await invoke("pysandbox:run", { requestId: "demo", code: "print('hello from the sandbox')\nresult = 6 * 7" });
  console.log(o.stdout.trimEnd(), "->", o.result);
  app.quit();
  process.exitCode = await app.exited;
}
