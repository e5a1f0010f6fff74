// Resolves `import ... from "@tauri-apps/plugin-shell"` to fake-shell.js (module.register()).
export async function resolve(specifier, context, next) {
  if (specifier === "@tauri-apps/plugin-shell")
    return { url: new URL("./fake-shell.js", import.meta.url).href, shortCircuit: true };
  return next(specifier, context);
}
