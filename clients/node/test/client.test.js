// clients/node against the real `pysandbox serve` (PSB_CLI names the built
// binary; PYSANDBOX_HELPER its helper when it is not next to it).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { PySandbox, PySandboxError } from "../index.js";

const cli = process.env.PSB_CLI;
if (!cli) throw new Error("PSB_CLI must name the built pysandbox binary");
const serve = (args = []) => PySandbox.spawn({ command: cli, args: ["serve", ...args] });

let sb;
before(async () => {
  sb = await serve(["--max-in-flight", "4"]);
});
after(async () => {
  await sb.close();
});

test("hello names protocol 1 and the server's limits", () => {
  assert.equal(sb.hello.protocol, 1);
  assert.equal(sb.hello.max_in_flight, 4);
  assert.ok(sb.hello.max_line_bytes > 0);
  assert.equal(typeof sb.hello.policy, "object");
});

test("ping answers", async () => {
  assert.equal(await sb.ping(), true);
});

test("a run returns its result, stdout and stats", async () => {
  const o = await sb.run("print('hi')\nresult = {'sum': sum(inputs['xs'])}", { inputs: { xs: [1, 2, 3] } });
  assert.equal(o.status, "ok");
  assert.deepEqual(o.result, { sum: 6 });
  assert.equal(o.stdout, "hi\n");
  assert.equal(o.error, null);
  assert.ok(o.stats.wall_ms >= 0);
});

test("stdin and files take strings and bytes; created files come back", async () => {
  const o = await sb.run(
    "import sys\n" +
      "data = open('blob.bin', 'rb').read()\n" +
      "open('out.txt', 'w').write('written')\n" +
      "result = [sys.stdin.read(), open('a.txt').read(), list(data)]",
    { stdin: "from stdin", files: { "a.txt": "text file", "blob.bin": new Uint8Array([0, 255, 7]) } },
  );
  assert.equal(o.status, "ok", JSON.stringify(o.error));
  assert.deepEqual(o.result, ["from stdin", "text file", [0, 255, 7]]);
  const out = o.files.find((f) => f.name === "out.txt");
  assert.equal(Buffer.from(out.base64, "base64").toString(), "written");
});

test("an exception in the code resolves with its error, not a rejection", async () => {
  const o = await sb.run("raise ValueError('boom')");
  assert.equal(o.status, "error");
  assert.equal(o.error.kind, "exception");
  assert.equal(o.error.type, "ValueError");
  assert.match(o.error.message, /boom/);
});

test("onStdout and onStderr receive output as it is written, before the outcome", async () => {
  const seen = [];
  const o = await sb.run(
    "import sys, time\nprint('one', flush=True)\ntime.sleep(0.2)\nprint('two', file=sys.stderr, flush=True)\nresult = 1",
    { onStdout: (d) => seen.push(["out", d]), onStderr: (d) => seen.push(["err", d]) },
  );
  assert.equal(o.status, "ok");
  assert.equal(seen.filter(([s]) => s === "out").map(([, d]) => d).join(""), "one\n");
  assert.equal(seen.filter(([s]) => s === "err").map(([, d]) => d).join(""), "two\n");
  assert.equal(o.stdout, "one\n");
});

test("cancel by promise stops a run; its outcome says cancelled", async () => {
  const p = sb.run("import time\ntime.sleep(30)");
  await sleep(300);
  assert.equal(await sb.cancel(p), true);
  const o = await p;
  assert.equal(o.error.kind, "cancelled");
});

test("cancel of a run that has finished is false", async () => {
  const p = sb.run("result = 1");
  await p;
  assert.equal(await sb.cancel(p.id), false);
});

test("an AbortSignal cancels; an aborted one refuses to start", async () => {
  const ac = new AbortController();
  const p = sb.run("import time\ntime.sleep(30)", { signal: ac.signal });
  setTimeout(() => ac.abort(), 300);
  assert.equal((await p).error.kind, "cancelled");
  await assert.rejects(sb.run("result = 1", { signal: ac.signal }), { name: "AbortError" });
});

test("protocol errors reject with code and field", async () => {
  await assert.rejects(sb.run("1", { no_such_field: 1 }), (e) => {
    assert.ok(e instanceof PySandboxError);
    assert.equal(e.code, "unknown_field");
    assert.equal(e.field, "no_such_field");
    return true;
  });
  await assert.rejects(sb.run("1", { timeout: "soon" }), { code: "wrong_type", field: "timeout" });
  await assert.rejects(sb.run("1", { timeout: 0 }), { code: "out_of_range", field: "timeout" });
  await assert.rejects(sb.run("1", { env: { A: 1 } }), { code: "wrong_type", field: "env.A" });
  await assert.rejects(sb.run("1", { stdin: { $type: "bytes", base64: "!!" } }), { code: "invalid_value", field: "stdin" });
  assert.equal(await sb.ping(), true); // the session is still usable
});

test("a duplicate id in flight is refused", async () => {
  const p = sb.run("import time\ntime.sleep(0.5)", { id: "same" });
  await assert.rejects(sb.run("1", { id: "same" }), { code: "duplicate_id" });
  assert.equal((await p).status, "ok");
});

test("many runs in flight: more than max_in_flight wait their turn, answers match requests", async () => {
  const n = 24;
  const runs = Array.from({ length: n }, (_, i) =>
    sb.run(`import time\ntime.sleep(${(i % 3) * 0.05})\nresult = inputs['i'] * 2`, { inputs: { i: i } }));
  const outs = await Promise.all(runs);
  outs.forEach((o, i) => assert.equal(o.result, i * 2, JSON.stringify(o.error)));
});

test("a queued run can be cancelled before it reaches the server", async () => {
  const slow = Array.from({ length: 4 }, () => sb.run("import time\ntime.sleep(1)"));
  const queued = sb.run("result = 'never'");
  assert.equal(await sb.cancel(queued), true);
  assert.equal((await queued).error.kind, "cancelled");
  await Promise.all(slow.map((p) => sb.cancel(p)));
  for (const p of slow) assert.equal((await p).error.kind, "cancelled");
});

test("close drains runs in flight and the server exits 0", async () => {
  const own = await serve();
  const p = own.run("import time\ntime.sleep(0.3)\nresult = 'done'");
  const exit = await own.close();
  assert.equal((await p).result, "done");
  assert.deepEqual(exit, { code: 0, signal: null });
  await assert.rejects(own.ping(), { code: "closed" });
});

test("the server's death rejects every pending request", async () => {
  const own = await serve();
  const p = own.run("import time\ntime.sleep(30)");
  const q = own.run("import time\ntime.sleep(30)");
  await sleep(200);
  own.kill("SIGKILL");
  await assert.rejects(p, { code: "closed" });
  await assert.rejects(q, { code: "closed" });
  await assert.rejects(own.run("1"), { code: "closed" });
});

test("a command that does not exist rejects spawn", async () => {
  await assert.rejects(PySandbox.spawn({ command: "/nonexistent/pysandbox" }), { code: "spawn" });
});

test("connect speaks to a server on a unix socket", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "psb-node-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, "sock");
  const server = spawn(cli, ["serve", "--listen", `unix:${path}`], { stdio: "inherit" });
  const gone = new Promise((r) => server.once("exit", (code) => r(code)));
  for (let i = 0; i < 200 && !existsSync(path); i++) await sleep(50);
  const a = await PySandbox.connect(`unix:${path}`);
  const b = await PySandbox.connect(`unix:${path}`);
  const [x, y] = await Promise.all([a.run("result = 'a'"), b.run("result = 'b'")]);
  assert.deepEqual([x.result, y.result], ["a", "b"]);
  const streamed = [];
  await a.run("print('via socket')", { onStdout: (d) => streamed.push(d) });
  assert.equal(streamed.join(""), "via socket\n");
  assert.equal(await a.close(), null);
  assert.equal(await b.ping(), true); // one client leaving leaves the server up
  await b.close();
  server.kill("SIGTERM");
  assert.equal(await gone, 0);
});

test("two clients sharing one slot: the run that finds it busy is sent again", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "psb-node-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, "sock");
  const server = spawn(cli, ["serve", "--listen", `unix:${path}`, "--max-in-flight", "1"], { stdio: "inherit" });
  const gone = new Promise((r) => server.once("exit", (code) => r(code)));
  for (let i = 0; i < 200 && !existsSync(path); i++) await sleep(50);
  const a = await PySandbox.connect(`unix:${path}`);
  const b = await PySandbox.connect(`unix:${path}`);
  const pa = a.run("import time\ntime.sleep(0.5)\nresult = 'a'");
  await sleep(100);
  const pb = b.run("result = 'b'");
  assert.deepEqual([(await pa).result, (await pb).result], ["a", "b"]);
  await a.close();
  await b.close();
  server.kill("SIGTERM");
  assert.equal(await gone, 0);
});

test("a session keeps state across cells, snapshots, restores and branches", async () => {
  const value = (o) => o.displays.find((d) => d.type === "execute_result")?.data["text/plain"];
  const s = await sb.session({ memory_mb: 256 });
  await s.run("rows = [1, 2, 3]");
  assert.equal(value(await s.run("sum(rows)")), "6");
  const n = await s.snapshot();
  assert.equal(n, 1);
  await s.run("rows.append(4)");
  assert.equal(await s.restore(n), true);
  assert.equal(value(await s.run("rows")), "[1, 2, 3]");
  const b = await s.branch(n, "other");
  assert.equal(b.name, "other");
  await b.run("rows.clear()");
  assert.equal(value(await b.run("len(rows)")), "0");
  assert.equal(value(await s.run("len(rows)")), "3");
  assert.equal(await s.drop(n), true);
  await b.close();
  await s.close();
  await assert.rejects(s.run("1"), (e) => e instanceof PySandboxError && e.code === "unknown_session");
});
