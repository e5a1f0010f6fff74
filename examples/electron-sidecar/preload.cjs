// preload.cjs - what the page may call: run and cancel, nothing more. A
// sandboxed preload must be CommonJS.
const { contextBridge, ipcRenderer } = require("electron");

const listeners = new Map(); // requestId -> (stream, data)
ipcRenderer.on("pysandbox:output", (_event, { requestId, stream, data }) => {
  const fn = listeners.get(requestId);
  if (fn) fn(stream, data);
});

let next = 0;
contextBridge.exposeInMainWorld("pysandbox", {
  // Resolves with the outcome; onOutput(stream, text) sees stdout and stderr as they come.
  run(code, { inputs, timeout, onOutput } = {}) {
    const requestId = `r${++next}`;
    if (onOutput) listeners.set(requestId, onOutput);
    const promise = ipcRenderer
      .invoke("pysandbox:run", { requestId, code, inputs, timeout })
      .finally(() => listeners.delete(requestId));
    return { requestId, promise };
  },
  cancel(requestId) {
    return ipcRenderer.invoke("pysandbox:cancel", requestId);
  },
});
