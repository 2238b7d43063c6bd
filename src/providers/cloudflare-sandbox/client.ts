import { AutomnaError } from "../../lib/errors.js";
import type { HttpClient, ParsedApiError } from "../../lib/http.js";

/** The bridge's `{error, code}` body. */
export function parseBridgeError(_status: number, body: unknown): ParsedApiError {
  const b = (body ?? {}) as { error?: string; code?: string };
  return { message: b.error ?? JSON.stringify(body).slice(0, 200), code: b.code };
}

/** What one exec stream carried: its output (unless it went to a hook) and how it ended. */
export interface SseExec {
  stdout: Buffer;
  stderr: Buffer;
  exitCode: number | undefined;
  error: { error: string; code: string } | undefined;
}

/** Output chunks as they arrive, instead of in the result. */
export type ExecOutputHook = (stream: "stdout" | "stderr", chunk: Buffer) => void;

/**
 * Reads the exec route's server-sent events as they arrive: `stdout`/`stderr` (base64 chunks),
 * `exit` (`{"exit_code":N}`) and `error` (`{"error","code"}`); the stream ends after `exit` or
 * `error`. Output goes to the hook when there is one, else it is kept for `result()`.
 */
export class ExecStreamReader {
  readonly #decoder = new TextDecoder();
  readonly #kept = { stdout: [] as Buffer[], stderr: [] as Buffer[] };
  readonly #onOutput: ExecOutputHook | undefined;
  #pending = "";
  #exitCode: number | undefined;
  #error: SseExec["error"];

  constructor(onOutput?: ExecOutputHook) {
    this.#onOutput = onOutput;
  }

  /** Takes the next piece of the stream; complete events (ended by a blank line) are handled now. */
  push(chunk: Buffer | string): void {
    this.#pending += typeof chunk === "string" ? chunk : this.#decoder.decode(chunk, { stream: true });
    const blocks = this.#pending.split(/\r?\n\r?\n/);
    this.#pending = blocks.pop()!;
    for (const block of blocks) this.#event(block);
  }

  /** The stream ended: a last event without its blank line still counts. */
  result(): SseExec {
    if (this.#pending.trim()) this.#event(this.#pending);
    this.#pending = "";
    return { stdout: Buffer.concat(this.#kept.stdout), stderr: Buffer.concat(this.#kept.stderr), exitCode: this.#exitCode, error: this.#error };
  }

  #event(block: string): void {
    let name = "message";
    const data: string[] = [];
    for (const line of block.split(/\r?\n/)) {
      if (line.startsWith(":")) continue;
      const at = line.indexOf(":");
      const field = at < 0 ? line : line.slice(0, at);
      const value = at < 0 ? "" : line.slice(at + 1).replace(/^ /, "");
      if (field === "event") name = value;
      else if (field === "data") data.push(value);
    }
    if (!data.length) return;
    const payload = data.join("\n");
    if (name === "stdout" || name === "stderr") {
      const bytes = Buffer.from(payload, "base64");
      if (this.#onOutput) {
        if (bytes.length) this.#onOutput(name, bytes);
      } else this.#kept[name].push(bytes);
    } else if (name === "exit") this.#exitCode = Number((JSON.parse(payload) as { exit_code?: unknown }).exit_code);
    else if (name === "error") this.#error = JSON.parse(payload) as { error: string; code: string };
  }
}

/** A whole exec stream read at once (tests of the stand-in). */
export function parseExecStream(text: string): SseExec {
  const reader = new ExecStreamReader();
  reader.push(text);
  return reader.result();
}

const enc = encodeURIComponent;

/** Typed calls over the bridge Worker's routes (`/v1/...`). */
export class BridgeClient {
  readonly http: HttpClient;
  constructor(http: HttpClient) {
    this.http = http;
  }

  /**
   * Runs argv through `POST /v1/sandbox/{id}/exec` and reads the stream to its end; with
   * `onOutput`, each output event goes there as it arrives (the result's output stays empty).
   */
  async exec(id: string, argv: string[], options: { cwd?: string; timeoutMs?: number; onOutput?: ExecOutputHook } = {}): Promise<SseExec> {
    const body = { argv, ...(options.cwd ? { cwd: options.cwd } : {}), ...(options.timeoutMs ? { timeout_ms: options.timeoutMs } : {}) };
    const reader = new ExecStreamReader(options.onOutput);
    // A command may run long: the HTTP timeout follows the command's (plus a margin for the stream).
    await this.http.request<unknown>("POST", `/v1/sandbox/${enc(id)}/exec`, {
      body, headers: { accept: "text/event-stream" }, timeoutMs: (options.timeoutMs ?? 30 * 60_000) + 30_000,
      // One sink for the one attempt: an exec POST is never sent again once sent.
      streamBody: () => (chunk) => reader.push(chunk),
    });
    const r = reader.result();
    if (r.exitCode === undefined && !r.error) {
      throw new AutomnaError(`the bridge's exec stream for sandbox ${id} ended before the command's exit event`, {
        code: "exec_dropped", hint: "the command may or may not have run (the sandbox may have stopped); run it again if it is safe to repeat",
      });
    }
    return r;
  }

  /** `GET /running`: wakes the sandbox (a container is assigned) and renews its sleep timer. */
  async running(id: string): Promise<boolean> {
    return (await this.http.get<{ running?: boolean }>(`/v1/sandbox/${enc(id)}/running`)).body.running === true;
  }

  /** `DELETE /v1/sandbox/{id}`: stops the container at once (its disk goes); 204 even when it has none. */
  async remove(id: string): Promise<void> {
    await this.http.delete(`/v1/sandbox/${enc(id)}`);
  }

  /** Mounts a bucket prefix; a path already mounted (the Worker mounts at start) is not an error. */
  async mount(id: string, bucket: string, endpoint: string, prefix: string, mountPath: string): Promise<void> {
    const body = { bucket, mountPath, options: { endpoint, prefix: `/${prefix.replace(/\/+$/, "")}` } };
    const res = await this.http.post<{ code?: string; error?: string }>(`/v1/sandbox/${enc(id)}/mount`, body, { allow: [502] });
    if (res.status === 502 && !/already in use/i.test(res.body.error ?? "")) {
      throw new AutomnaError(`the bridge could not mount ${bucket}/${prefix} at ${mountPath} in sandbox ${id}: ${res.body.error ?? "mount_error"}`, { code: "mount_error" });
    }
  }

  async poolStats(): Promise<{ assigned: number; maxInstances: number }> {
    return (await this.http.get<{ assigned: number; maxInstances: number }>("/v1/pool/stats")).body;
  }
}
