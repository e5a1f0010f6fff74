// Types for pysandbox-client (index.js and protocol.js).

export type Bytes = string | Uint8Array | ArrayBuffer | { $type: "bytes"; base64: string };
export type Id = string | number;

export interface Hello {
  protocol: 1;
  version: string;
  max_in_flight: number;
  max_line_bytes: number;
  import_overrides: boolean;
  policy: Record<string, unknown>;
}

/** The protocol's run fields, plus the client's own (onStdout, onStderr, signal, id). */
export interface RunOptions {
  inputs?: Record<string, unknown>;
  stdin?: Bytes;
  env?: Record<string, string>;
  prelude?: string;
  files?: Record<string, Bytes>;
  timeout?: number; // seconds
  memory_mb?: number;
  cpu_seconds?: number;
  result_limit_bytes?: number;
  files_limit_bytes?: number;
  figures_limit_bytes?: number;
  stdout_limit_bytes?: number;
  stderr_limit_bytes?: number;
  allow_import?: string[];
  deny_import?: string[];
  cold?: boolean;
  stream?: boolean;
  onStdout?: (data: string) => void;
  onStderr?: (data: string) => void;
  signal?: AbortSignal;
  id?: Id;
}

export interface OutcomeError {
  kind: string;
  type: string | null;
  message: string | null;
  traceback: string | null;
  module: string | null;
  event: string | null;
}

export interface Outcome {
  status: "ok" | "error";
  result: unknown;
  stdout: string;
  stdout_truncated: boolean;
  stderr: string;
  stderr_truncated: boolean;
  error: OutcomeError | null;
  stats: { wall_ms: number; cpu_ms: number; peak_rss_kib: number; peak_memory_kib?: number };
  figures: { mime: string; width: number; height: number; base64: string }[];
  figures_truncated: boolean;
  files: { name: string; size: number; base64: string }[];
  displays_truncated: boolean;
  /** display() bundles, then the last expression's ("execute_result"), as Jupyter names them. */
  displays: { type: "display_data" | "execute_result"; data: Record<string, unknown> }[];
}

export type RunPromise = Promise<Outcome> & { id: Id };

export class PySandboxError extends Error {
  code: string;
  field: string | null;
  id: Id | null;
  /** Opens a session: cells that share one confined interpreter. */
  session(fields?: Record<string, unknown>): Promise<SandboxSession>;
}

export function bytesField(value: Bytes): string | { $type: "bytes"; base64: string };

export class Session {
  constructor(write: (line: string) => void);
  hello: Hello | null;
  onUnmatched: ((message: unknown) => void) | null;
  readonly inFlight: number;
  readonly closed: boolean;
  ready(): Promise<Hello>;
  feed(text: string): void;
  feedLine(line: string): void;
  run(code: string, options?: RunOptions): RunPromise;
  cancel(target: RunPromise | Id): Promise<boolean>;
  ping(): Promise<true>;
  shutdown(): Promise<true>;
  drained(): Promise<void>;
  end(reason?: Error): void;
}

export interface SpawnOptions {
  command?: string;
  args?: string[];
  env?: Record<string, string | undefined>;
  cwd?: string;
  stderr?: "inherit" | "ignore" | "pipe";
}

export class PySandbox {
  static spawn(options?: SpawnOptions): Promise<PySandbox>;
  static connect(address: `unix:${string}`): Promise<PySandbox>;
  readonly hello: Hello;
  readonly pid: number | null;
  run(code: string, options?: RunOptions): RunPromise;
  cancel(target: RunPromise | Id): Promise<boolean>;
  ping(): Promise<true>;
  close(): Promise<{ code: number | null; signal: string | null } | null>;
  kill(signal?: string): void;
}

export class SandboxSession {
  readonly sandbox: PySandbox;
  readonly name: string;
  /** One cell; the outcome's displays hold its last expression's value. */
  run(code: string, options?: RunOptions): RunPromise;
  /** Keeps the session's state: resolves with the snapshot's number. */
  snapshot(): Promise<number>;
  restore(snapshot: number): Promise<true>;
  branch(snapshot: number, name?: string): Promise<SandboxSession>;
  drop(snapshot: number): Promise<true>;
  close(): Promise<true>;
}
