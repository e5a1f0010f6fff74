// The Tauri example: its configuration against what its code uses, and its
// sandbox.js (and main.js) through a stand-in for the shell plugin against
// the built `pysandbox serve` (PSB_CLI; PYSANDBOX_HELPER).
import { test } from "node:test";
import assert from "node:assert/strict";
import { register } from "node:module";
import { setTimeout as sleep } from "node:timers/promises";
import { Command, capability, conf, options, scopeOf } from "./fake-shell.js";
import { SIDECAR, SIDECAR_ARGS } from "../src/sandbox.js";
import { open } from "./standin-app.js";

if (!process.env.PSB_CLI) throw new Error("PSB_CLI must name the built pysandbox binary");

test("the capability allows spawning exactly the sidecar and arguments sandbox.js uses", () => {
  const spawnScope = scopeOf("shell:allow-spawn");
  assert.equal(spawnScope.length, 1);
  assert.equal(spawnScope[0].name, SIDECAR);
  assert.equal(spawnScope[0].sidecar, true);
  assert.deepEqual(spawnScope[0].args, SIDECAR_ARGS);
  const ids = capability.permissions.map((p) => (typeof p === "string" ? p : p.identifier));
  assert.ok(ids.includes("shell:allow-stdin-write"));
  assert.ok(ids.includes("shell:allow-kill"));
  assert.ok(!ids.some((id) => /^shell:(allow-execute|allow-open|default)$/.test(id)), ids.join());
});

test("tauri.conf.json bundles the sidecar with its helper, for the capability's window", () => {
  assert.deepEqual(conf.bundle.externalBin, [SIDECAR, "binaries/pysandbox-helper"]);
  assert.deepEqual(capability.windows, conf.app.windows.map((w) => w.label));
});

test("the stand-in refuses what the capability does not allow", async () => {
  await assert.rejects(Command.sidecar(SIDECAR, ["serve"]).spawn(), /not found/);
  await assert.rejects(Command.sidecar(SIDECAR, [...SIDECAR_ARGS, "--policy", "x.json"]).spawn(), /not found/);
  assert.throws(() => Command.sidecar("binaries/other", []), /externalBin/);
});

for (const mode of ["strip", "keep", "raw"]) {
  test(`runs, streams, cancels and closes (stdout delivered as ${mode})`, async () => {
    options.lineMode = mode;
    const sb = await open();
    try {
      // The arguments took effect: 4 slots, no allow_import.
      assert.equal(sb.session.hello.max_in_flight, 4);
      assert.equal(sb.session.hello.import_overrides, false);
      const seen = [];
      const o = await sb.session.run("print('hi')\nresult = sum(inputs['xs'])", {
        inputs: { xs: [1, 2, 3] }, onStdout: (d) => seen.push(d),
      });
      assert.equal(o.result, 6);
      assert.equal(seen.join(""), "hi\n");
      const many = await Promise.all(Array.from({ length: 10 }, (_, i) => sb.session.run(`result = ${i}`)));
      assert.deepEqual(many.map((r) => r.result), [...Array(10).keys()]);
      await assert.rejects(sb.session.run("1", { allow_import: ["socket"] }), { code: "forbidden", field: "allow_import" });
      const slow = sb.session.run("import time\ntime.sleep(30)");
      await sleep(300);
      assert.equal(await sb.session.cancel(slow), true);
      assert.equal((await slow).error.kind, "cancelled");
    } finally {
      assert.deepEqual(await sb.close(), { code: 0, signal: null });
      options.lineMode = "strip";
    }
  });
}

test("a killed sidecar rejects what was pending", async () => {
  const sb = await open();
  const p = sb.session.run("import time\ntime.sleep(30)");
  await sleep(200);
  await sb.child.kill();
  await assert.rejects(p, { code: "closed" });
});

test("main.js, the webview's script, runs the textarea's code", async () => {
  register("./shell-loader.mjs", import.meta.url);
  const elements = {};
  const element = (id) => (elements[id] ??= {
    value: id === "code" ? "print('from the page')\nresult = 7" : "",
    textContent: "", disabled: false, listeners: {},
    addEventListener(type, fn) { this.listeners[type] = fn; },
  });
  globalThis.document = { getElementById: element };
  try {
    const page = await import("../src/main.js");
    try {
      await elements.run.listeners.click();
      assert.match(element("output").textContent, /from the page\n\nresult: 7/);
    } finally {
      assert.equal((await (await page.sandbox).close()).code, 0);
    }
  } finally {
    delete globalThis.document;
  }
});
