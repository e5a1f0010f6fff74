// Resolves `import ... from "electron"` to fake-electron.js (module.register()).
export async function resolve(specifier, context, next) {
  if (specifier === "electron")
    return { url: new URL("./fake-electron.js", import.meta.url).href, shortCircuit: true };
  return next(specifier, context);
}
