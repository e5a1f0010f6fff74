// renderer.js - the page: runs the textarea's code through window.pysandbox.
const $ = (id) => document.getElementById(id);
let current = null;

$("run").addEventListener("click", async () => {
  $("output").textContent = "";
  const { requestId, promise } = window.pysandbox.run($("code").value, {
    timeout: 30,
    onOutput: (_stream, text) => ($("output").textContent += text),
  });
  current = requestId;
  $("cancel").disabled = false;
  try {
    const o = await promise;
    $("output").textContent += o.error
      ? `\n${o.error.kind}: ${o.error.message ?? ""}`
      : `\nresult: ${JSON.stringify(o.result)}`;
  } catch (err) {
    $("output").textContent += `\nrefused: ${err.message}`;
  } finally {
    current = null;
    $("cancel").disabled = true;
  }
});

$("cancel").addEventListener("click", () => current && window.pysandbox.cancel(current));
