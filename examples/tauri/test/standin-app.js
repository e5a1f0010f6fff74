// standin-app.js - stands in for the Tauri app: the same sandbox.js the
// webview runs, given fake-shell.js's Command, so the sidecar is started
// with the arguments the capability allows and spoken to through
// child_process. Run directly (PSB_CLI=... node test/standin-app.js) it
// runs one snippet and closes.
import { Command } from "./fake-shell.js";
import { openSandbox } from "../src/sandbox.js";

export const open = () => openSandbox(Command);

if (import.meta.url === `file://${process.argv[1]}`) {
  const sb = await open();
  const o = await sb.session.run("print('hello from the sidecar')\nresult = 6 * 7");
  console.log(o.stdout.trimEnd(), "->", o.result);
  const exit = await sb.close();
  process.exitCode = exit.code;
}
