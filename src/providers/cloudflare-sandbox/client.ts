import { AutomnaError } from "../../lib/errors.js";
import type { HttpClient, ParsedApiError } from "../../lib/http.js";

/** The bridge's `{error, code}` body. */
export function parseBridgeError(_status: number, body: unknown): ParsedApiError {
  const b = (body ?? {}) as { error?: string; code?: string };
  return { message: b.error ?? JSON.stringify(body).slice(0, 200), code: b.code };
}

/** What one exec stream carried: its output and how it ended. */
export interface SseExec {
  stdout: Buffer;
  stderr: Buffer;
  exitCode: number | undefined;
  error: { error: string; code: string } | undefined;
}

/**
 * Reads the exec route's server-sent events: `stdout`/`stderr` (base64 chunks), `exit`
 * (`{"exit_code":N}`) and `error` (`{"error","code"}`); the stream ends after `exit` or `error`.
 */
export function parseExecStream(text: string): SseExec {
  const out: SseExec = { stdout: Buffer.alloc(0), stderr: Buffer.alloc(0), exitCode: undefined, error: undefined };
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  for (const block of text.split(/\r?\n\r?\n/)) {
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
    if (!data.length) continue;
    const payload = data.join("\n");
    if (name === "stdout") stdout.push(Buffer.from(payload, "base64"));
    else if (name === "stderr") stderr.push(Buffer.from(payload, "base64"));
    else if (name === "exit") out.exitCode = Number((JSON.parse(payload) as { exit_code?: unknown }).exit_code);
    else if (name === "error") out.error = JSON.parse(payload) as { error: string; code: string };
  }
  out.stdout = Buffer.concat(stdout);
  out.stderr = Buffer.concat(stderr);
  return out;
}

const enc = encodeURIComponent;

/** Typed calls over the bridge Worker's routes (`/v1/...`). */
export class BridgeClient {
  readonly http: HttpClient;
  constructor(http: HttpClient) {
    this.http = http;
  }

  /** Runs argv through `POST /v1/sandbox/{id}/exec` and reads the stream to its end. */
  async exec(id: string, argv: string[], options: { cwd?: string; timeoutMs?: number } = {}): Promise<SseExec> {
    const body = { argv, ...(options.cwd ? { cwd: options.cwd } : {}), ...(options.timeoutMs ? { timeout_ms: options.timeoutMs } : {}) };
    // A command may run long: the HTTP timeout follows the command's (plus a margin for the stream).
    const res = await this.http.request<unknown>("POST", `/v1/sandbox/${enc(id)}/exec`, {
      body, headers: { accept: "text/event-stream" }, timeoutMs: (options.timeoutMs ?? 30 * 60_000) + 30_000,
    });
    const text = typeof res.body === "string" ? res.body : "";
    const r = parseExecStream(text);
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
