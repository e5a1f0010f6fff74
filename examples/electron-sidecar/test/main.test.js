// The Electron example's main process, run under Node by standin-main.js
// against the built `pysandbox serve` (PSB_CLI; PYSANDBOX_HELPER).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { startMain } from "./standin-main.js";

if (!process.env.PSB_CLI) throw new Error("PSB_CLI must name the built pysandbox binary");

let m;
before(async () => {
  m = await startMain();
});
after(async () => {
  if (m.app.exitCode === null) {
    m.app.quit();
    await m.app.exited;
  }
});

test("the window is isolated and loads the page with the preload", () => {
  const wp = m.win.options.webPreferences;
  assert.equal(wp.contextIsolation, true);
  assert.equal(wp.sandbox, true);
  assert.equal(wp.nodeIntegration, false);
  assert.ok(existsSync(wp.preload), wp.preload);
  assert.match(readFileSync(wp.preload, "utf8"), /exposeInMainWorld\("pysandbox"/);
  assert.ok(m.win.loaded.endsWith("index.html") && existsSync(m.win.loaded));
});

test("a run through ipc returns the outcome and streams output to its window", async () => {
  m.win.webContents.sent.length = 0;
  const o = await m.invoke("pysandbox:run", {
    requestId: "a", code: "print('hi', flush=True)\nresult = sum(inputs['xs'])", inputs: { xs: [1, 2, 3] },
  });
  assert.equal(o.status, "ok");
  assert.equal(o.result, 6);
  const events = m.win.webContents.sent.filter(([c, p]) => c === "pysandbox:output" && p.requestId === "a");
  assert.equal(events.map(([, p]) => p.data).join(""), "hi\n");
  assert.ok(events.every(([, p]) => p.stream === "stdout"));
});

test("the window's cancel stops its run", async () => {
  const p = m.invoke("pysandbox:run", { requestId: "slow", code: "import time\ntime.sleep(30)" });
  await sleep(300);
  assert.equal(await m.invoke("pysandbox:cancel", "slow"), true);
  assert.equal((await p).error.kind, "cancelled");
  assert.equal(await m.invoke("pysandbox:cancel", "slow"), false);
});

test("what a window may not ask for is refused before it reaches the server", async () => {
  await assert.rejects(m.invoke("pysandbox:run", { requestId: "b", code: 42 }), /code must be a string/);
  await assert.rejects(m.invoke("pysandbox:run", { requestId: "c", code: "1", timeout: 3600 }), /timeout/);
  // Fields other than code, inputs and timeout are dropped: no widening from the page.
  const o = await m.invoke("pysandbox:run", { requestId: "d", code: "import socket", allow_import: ["socket"] });
  assert.equal(o.error.kind, "import_denied");
});

test("a window that goes away cancels its runs", async () => {
  const other = new m.BrowserWindow({});
  const p = m.ipcMain.invoke(other.webContents, "pysandbox:run", { requestId: "x", code: "import time\ntime.sleep(30)" });
  await sleep(300);
  other.webContents.destroy();
  assert.equal((await p).error.kind, "cancelled");
});

test("quitting drains the server and exits", async () => {
  const p = m.invoke("pysandbox:run", { requestId: "last", code: "import time\ntime.sleep(0.3)\nresult = 'done'" });
  await sleep(50);
  m.app.quit();
  assert.equal((await p).result, "done");
  assert.equal(await m.app.exited, 0);
});
