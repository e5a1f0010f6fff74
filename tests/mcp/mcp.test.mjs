// pysandbox mcp, driven by the official MCP TypeScript SDK client: the
// server is spawned as an MCP desktop client would spawn it, over stdio.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";

const cli = process.env.PSB_CLI;
if (!cli) throw new Error("PSB_CLI must name the built pysandbox binary");

let client;

before(async () => {
  // One call at a time: a call that was not really stopped would make the next one busy.
  const transport = new StdioClientTransport({
    command: cli,
    args: ["mcp", "--max-in-flight", "1"],
    env: { ...process.env },
    stderr: "inherit",
  });
  client = new Client({ name: "pysandbox-tests", version: "1.0.0" });
  await client.connect(transport);
});

after(async () => {
  await client.close();
});

const run = (args, options) => client.callTool({ name: "run_python", arguments: args }, undefined, options);
const texts = (r) => r.content.filter((c) => c.type === "text").map((c) => c.text).join("\n");

test("the server names itself and lists one tool, run_python, with a useful description", async () => {
  assert.equal(client.getServerVersion().name, "pysandbox");
  assert.ok(client.getServerCapabilities().tools);
  const { tools } = await client.listTools();
  assert.deepEqual(tools.map((t) => t.name), ["run_python"]);
  const [tool] = tools;
  for (const word of ["numpy", "pandas", "matplotlib", "result", "network"])
    assert.match(tool.description, new RegExp(word));
  assert.deepEqual(tool.inputSchema.required, ["code"]);
  assert.ok(tool.inputSchema.properties.timeout_seconds);
});

test("ping answers", async () => {
  assert.deepEqual(await client.ping(), {});
});

test("pandas code returns its result, labelled, with the full outcome", async () => {
  const r = await run({
    code: "import pandas as pd\n" +
      "df = pd.DataFrame({'k': ['a', 'b', 'a'], 'v': [1, 2, 3]})\n" +
      "print(df.groupby('k').v.sum().to_dict())\n" +
      "result = int(df.v.sum()) + inputs['extra']",
    inputs: { extra: 100 },
  });
  assert.equal(r.isError, false);
  assert.equal(r.structuredContent.status, "ok");
  assert.equal(r.structuredContent.result, 106);
  assert.match(texts(r), /stdout:\n\{'a': 4, 'b': 2\}/);
  assert.match(texts(r), /result: 106/);
});

test("a matplotlib figure comes back as one PNG image item", async () => {
  const r = await run({
    code: "import matplotlib.pyplot as plt\nplt.plot([1, 4, 9])\nplt.title('squares')",
  });
  assert.equal(r.isError, false);
  const images = r.content.filter((c) => c.type === "image");
  assert.equal(images.length, 1);
  assert.equal(images[0].mimeType, "image/png");
  const png = Buffer.from(images[0].data, "base64");
  assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  assert.equal(r.structuredContent.figures.length, 1);
});

test("a refused import is an error result that names the module", async () => {
  const r = await run({ code: "import socket" });
  assert.equal(r.isError, true);
  assert.equal(r.structuredContent.error.kind, "import_denied");
  assert.equal(r.structuredContent.error.module, "socket");
  assert.match(texts(r), /error \(import_denied\)/);
});

test("an exception comes back with its traceback", async () => {
  const r = await run({ code: "def f():\n    return 1 / 0\nf()" });
  assert.equal(r.isError, true);
  assert.equal(r.structuredContent.error.type, "ZeroDivisionError");
  assert.match(texts(r), /traceback:\n[\s\S]*line 2/);
});

test("timeout_seconds stops a busy loop with kind timeout", async () => {
  const r = await run({ code: "while True: pass", timeout_seconds: 1 });
  assert.equal(r.isError, true);
  assert.equal(r.structuredContent.error.kind, "timeout");
});

test("bad arguments are invalid params, and the server goes on", async () => {
  await assert.rejects(run({ code: "1", bogus: true }), /unknown argument/);
  await assert.rejects(run({ code: "1", timeout_seconds: 0 }), /timeout_seconds/);
  await assert.rejects(client.callTool({ name: "no_such_tool", arguments: {} }), /unknown tool/);
  const r = await run({ code: "result = 'still here'" });
  assert.equal(r.structuredContent.result, "still here");
});

test("output arrives as progress notifications while the code runs", async () => {
  const seen = [];
  const r = await run(
    { code: "import time\nfor i in range(3):\n    print('tick', i, flush=True)\n    time.sleep(0.1)" },
    { onprogress: (p) => seen.push(p) },
  );
  assert.equal(r.isError, false);
  assert.equal(seen.map((p) => p.message).join(""), "tick 0\ntick 1\ntick 2\n");
  assert.ok(seen.every((p, i) => i === 0 || p.progress > seen[i - 1].progress));
});

test("cancelling a call stops its child: the next call is not busy", async () => {
  const ac = new AbortController();
  const pending = run({ code: "import time\nprint('sleeping', flush=True)\ntime.sleep(600)" }, {
    signal: ac.signal,
    onprogress: () => ac.abort("no longer wanted"), // it is running: cancel it
  });
  await assert.rejects(pending);
  // With --max-in-flight 1, a call still running would make this one busy.
  let r;
  for (let i = 0; i < 50; i++) {
    try {
      r = await run({ code: "result = 'after cancel'" });
      break;
    } catch (e) {
      if (!/in flight/.test(String(e))) throw e;
      await new Promise((ok) => setTimeout(ok, 20)); // the killed child is being reaped
    }
  }
  assert.ok(r, "the cancelled call never let go of its slot");
  assert.equal(r.structuredContent.result, "after cancel");
});

test("calls with one session_id share state; calls without one do not", async () => {
  const sid = "analysis-1";
  let r = await run({ code: "import pandas as pd\ndf = pd.DataFrame({'v': [1, 2, 3]})", session_id: sid });
  assert.equal(r.isError, false);
  r = await run({ code: "df.describe()", session_id: sid });
  assert.equal(r.isError, false);
  assert.match(texts(r), /value:\n[\s\S]*mean/);
  assert.match(r.structuredContent.displays[0].data["text/html"], /<table/);
  r = await run({ code: "df['v'].sum()", session_id: sid });
  assert.match(texts(r), /value:\n6/);
  // Another session, and no session, see nothing of it.
  r = await run({ code: "'df' in globals()", session_id: "other" });
  assert.match(texts(r), /value:\nFalse/);
  r = await run({ code: "result = 'df' in globals()" });
  assert.equal(r.structuredContent.result, false);
});

test("a bad session_id is an invalid-params error and the server goes on", async () => {
  for (const bad of ["", 7, "x".repeat(129)])
    await assert.rejects(run({ code: "1", session_id: bad }), /session_id/);
  const r = await run({ code: "result = 1" });
  assert.equal(r.structuredContent.result, 1);
});
