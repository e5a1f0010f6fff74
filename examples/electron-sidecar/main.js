// main.js - the Electron main process: starts pysandbox serve once, serves
// the window's runs through sandbox-ipc.js, and shuts the server down
// (draining its runs) before the app quits.
import { app, BrowserWindow, ipcMain } from "electron";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";
import { registerSandboxHandlers, startSandbox } from "./sandbox-ipc.js";

const here = dirname(fileURLToPath(import.meta.url));
let sandbox = null;

function createWindow() {
  const win = new BrowserWindow({
    width: 900,
    height: 700,
    webPreferences: {
      preload: join(here, "preload.cjs"),
      contextIsolation: true, // the page sees only what preload.cjs exposes
      sandbox: true,
      nodeIntegration: false,
    },
  });
  win.loadFile(join(here, "index.html"));
  return win;
}

app.whenReady().then(async () => {
  sandbox = await startSandbox();
  registerSandboxHandlers(ipcMain, sandbox);
  createWindow();
  app.on("activate", () => {
    if (BrowserWindow.getAllWindows().length === 0) createWindow();
  });
});

app.on("window-all-closed", () => {
  if (process.platform !== "darwin") app.quit();
});

// Quit once the server has answered its runs and exited.
app.on("will-quit", (event) => {
  if (!sandbox) return;
  event.preventDefault();
  const closing = sandbox;
  sandbox = null;
  closing.close().finally(() => app.exit(0));
});
