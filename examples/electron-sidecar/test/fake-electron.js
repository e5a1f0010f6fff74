// fake-electron.js - the few pieces of the electron module main.js uses,
// for running main.js under plain Node (electron-loader.mjs maps the
// "electron" import here). Not a general mock: just app, BrowserWindow and
// ipcMain with an invoke() that plays the renderer's ipcRenderer.invoke.
import { EventEmitter } from "node:events";

let nextContentsId = 1;

/** A window's webContents: what a handler's event.sender is. */
export class FakeWebContents extends EventEmitter {
  constructor() {
    super();
    this.id = nextContentsId++;
    this.sent = []; // [channel, payload] sent to the page
    this._destroyed = false;
  }
  send(channel, payload) {
    if (this._destroyed) throw new Error("webContents was destroyed");
    this.sent.push([channel, structuredClone(payload)]);
  }
  isDestroyed() {
    return this._destroyed;
  }
  destroy() {
    this._destroyed = true;
    this.emit("destroyed");
  }
}

class FakeIpcMain {
  constructor() {
    this.handlers = new Map();
  }
  handle(channel, fn) {
    if (this.handlers.has(channel)) throw new Error(`a handler for '${channel}' is already registered`);
    this.handlers.set(channel, fn);
  }
  removeHandler(channel) {
    this.handlers.delete(channel);
  }
  /** What ipcRenderer.invoke(channel, ...args) does from sender's page. */
  async invoke(sender, channel, ...args) {
    const fn = this.handlers.get(channel);
    if (!fn) throw new Error(`No handler registered for '${channel}'`);
    // Arguments and answers cross the process boundary by structured clone.
    const answer = await fn({ sender }, ...structuredClone(args));
    return structuredClone(answer);
  }
}

export const ipcMain = new FakeIpcMain();

const windows = [];
export class BrowserWindow {
  constructor(options) {
    this.options = options;
    this.webContents = new FakeWebContents();
    this.loaded = null;
    windows.push(this);
  }
  loadFile(path) {
    this.loaded = path;
    return Promise.resolve();
  }
  static getAllWindows() {
    return [...windows];
  }
}

class FakeApp extends EventEmitter {
  constructor() {
    super();
    this.exitCode = null;
    this.exited = new Promise((resolve) => (this._onExit = resolve));
  }
  whenReady() {
    return Promise.resolve();
  }
  quit() {
    let prevented = false;
    this.emit("will-quit", { preventDefault: () => (prevented = true) });
    if (!prevented) this.exit(0);
  }
  exit(code = 0) {
    this.exitCode = code;
    this._onExit(code);
  }
}

export const app = new FakeApp();
export default { app, BrowserWindow, ipcMain };
