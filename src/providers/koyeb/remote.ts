import { AutomnaError } from "../../lib/errors.js";
import type { HttpClient } from "../../lib/http.js";
import type { ProviderInstance, ProviderRemote, RemoteExecOptions, RemoteExecResult, RemoteLogEntry } from "../types.js";
import { resourceName } from "../types.js";
import type { KoyebClient } from "./client.js";

/** Each user's app holds one service of this name. */
export const SERVICE_NAME = "agent";

/** Stdin goes out in frames of at most this many bytes (before base64). */
const STDIN_CHUNK = 64 * 1024;
/** Commands without a timeout get this long. */
const DEFAULT_EXEC_TIMEOUT_MS = 300_000;

function serviceOf(instance: Pick<ProviderInstance, "resources">): string {
  const id = instance.resources.service;
  if (!id) throw new AutomnaError("the instance has no Koyeb service id", { code: "not_found" });
  return id;
}

interface TailFrame {
  result?: { msg?: unknown; created_at?: unknown };
  error?: { message?: string } | string;
}

interface ExecFrame {
  result?: { stdout?: { data?: string }; stderr?: { data?: string }; exited?: boolean; exit_code?: number };
  error?: { message?: string } | string;
}

/**
 * Koyeb instances through Koyeb's API: commands through the exec WebSocket (the token as the
 * `Bearer` subprotocol; base64 frames, so bytes survive both ways), logs through the query API
 * (what exists) and the tail WebSocket (what comes), and an interactive shell through `koyeb
 * services exec`.
 */
export class KoyebRemote implements ProviderRemote {
  readonly #client: KoyebClient;
  readonly #http: HttpClient;
  readonly #token: () => string;

  constructor(client: KoyebClient, token: () => string) {
    this.#client = client;
    this.#http = client.http;
    this.#token = token;
  }

  /** Output frames go to `onOutput` as they arrive. */
  exec(instance: Pick<ProviderInstance, "resources">, argv: string[], options: RemoteExecOptions): Promise<RemoteExecResult> {
    const service = serviceOf(instance);
    const timeoutMs = options.timeoutMs ?? DEFAULT_EXEC_TIMEOUT_MS;
    return new Promise<RemoteExecResult>((resolve, reject) => {
      const ws = this.#open("/v1/streams/instances/exec");
      const stdout: Buffer[] = [];
      const stderr: Buffer[] = [];
      let done = false;
      const finish = (error: Error | undefined, result?: RemoteExecResult): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        try {
          ws.close();
        } catch {
          // already closed
        }
        if (error) reject(error);
        else resolve(result!);
      };
      const timer = setTimeout(() => finish(new AutomnaError(`the command on Koyeb service ${service} did not finish within ${Math.round(timeoutMs / 1000)} s`, { code: "timeout" })), timeoutMs);
      let opened = false;
      ws.addEventListener("open", () => {
        opened = true;
        ws.send(JSON.stringify({ id: service, idType: "SERVICE_ID", body: { command: argv, disableTty: true } }));
        const input = options.stdin ?? Buffer.alloc(0);
        for (let at = 0; at < input.length; at += STDIN_CHUNK) ws.send(JSON.stringify({ body: { stdin: { data: input.subarray(at, at + STDIN_CHUNK).toString("base64") } } }));
        ws.send(JSON.stringify({ body: { stdin: { data: "", close: true } } }));
      });
      ws.addEventListener("message", (event: MessageEvent) => {
        let frame: ExecFrame;
        try {
          frame = JSON.parse(String(event.data)) as ExecFrame;
        } catch {
          return finish(new AutomnaError("Koyeb's exec stream sent a frame that is not JSON", { code: "exec_failed" }));
        }
        if (frame.error) {
          const message = typeof frame.error === "string" ? frame.error : frame.error.message ?? "error";
          return finish(new AutomnaError(`Koyeb exec on service ${service} failed: ${message}`, { code: "exec_failed" }));
        }
        const r = frame.result;
        if (!r) return;
        for (const [name, kept] of [["stdout", stdout], ["stderr", stderr]] as const) {
          const data = r[name]?.data;
          if (!data) continue;
          const bytes = Buffer.from(data, "base64");
          if (options.onOutput) options.onOutput(name, bytes);
          else kept.push(bytes);
        }
        if (r.exited) finish(undefined, { exitCode: r.exit_code ?? 0, stdout: Buffer.concat(stdout), stderr: Buffer.concat(stderr) });
      });
      // A stream that ends before the command's exit frame is a failure, reported rather than waited on.
      const dropped = (): void => finish(opened
        ? new AutomnaError(`Koyeb's exec stream for service ${service} closed before the command finished`, {
          code: "exec_dropped", hint: "the command may or may not have run; run it again if it is safe to repeat",
        })
        : new AutomnaError(`Koyeb's exec stream for service ${service} could not be opened`, {
          code: "exec_dropped", hint: "check the token and the service's state (automna status)",
        }));
      ws.addEventListener("close", dropped);
      ws.addEventListener("error", dropped);
    });
  }

  /** One of Koyeb's WebSocket streams: the token goes as the subprotocol, never in the URL. */
  #open(path: string, query: Record<string, string> = {}): WebSocket {
    const url = new URL(`${this.#http.baseUrl.replace(/^http/, "ws").replace(/\/$/, "")}${path}`);
    for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
    return new WebSocket(url, ["Bearer", this.#token()]);
  }

  /**
   * The log-tail WebSocket (`{result: LogEntry}` frames) from `start` on. Resolves when the signal
   * aborts or the stream ends (the caller reconnects from the last line it saw); rejects on an
   * `{error}` frame, a frame that is not JSON, or a stream that could not be opened.
   */
  tail(instance: Pick<ProviderInstance, "resources">, start: string, onEntries: (entries: RemoteLogEntry[]) => void, signal: AbortSignal): Promise<void> {
    const service = serviceOf(instance);
    return new Promise<void>((resolve, reject) => {
      if (signal.aborted) return resolve();
      const ws = this.#open("/v1/streams/logs/tail", { service_id: service, type: "runtime", start });
      let done = false;
      let opened = false;
      const finish = (error?: AutomnaError): void => {
        if (done) return;
        done = true;
        signal.removeEventListener("abort", aborted);
        try {
          ws.close();
        } catch {
          // already closed
        }
        if (error) reject(error);
        else resolve();
      };
      const aborted = (): void => finish();
      signal.addEventListener("abort", aborted);
      ws.addEventListener("open", () => void (opened = true));
      ws.addEventListener("message", (event: MessageEvent) => {
        let frame: TailFrame;
        try {
          frame = JSON.parse(String(event.data)) as TailFrame;
        } catch {
          return finish(new AutomnaError("Koyeb's log stream sent a frame that is not JSON", { code: "logs_failed" }));
        }
        if (frame.error) {
          const message = typeof frame.error === "string" ? frame.error : frame.error.message ?? "error";
          return finish(new AutomnaError(`Koyeb's log stream for service ${service} failed: ${message}`, { code: "logs_failed" }));
        }
        const e = frame.result;
        if (e && typeof e.created_at === "string" && typeof e.msg === "string") onEntries([{ time: e.created_at, line: e.msg }]);
      });
      // A stream that ends after it opened is resumed by the caller; one that never opened is an error.
      const ended = (): void => finish(opened ? undefined : new AutomnaError(`Koyeb's log stream for service ${service} could not be opened`, {
        code: "logs_failed", hint: "check the token and the service's state (automna status)",
      }));
      ws.addEventListener("close", ended);
      ws.addEventListener("error", ended);
    });
  }

  /** The lines after `cursor` (the last line's time), oldest first. */
  async logs(instance: Pick<ProviderInstance, "resources">, cursor: string | undefined): Promise<{ entries: RemoteLogEntry[]; cursor: string | undefined }> {
    const service = serviceOf(instance);
    const start = cursor ?? new Date(Date.now() - 24 * 3600_000).toISOString();
    const res = await this.#client.logs(service, start, 1000);
    const entries = res.data.filter((e) => !cursor || e.created_at > cursor).map((e) => ({ time: e.created_at, line: e.msg }));
    return { entries, cursor: entries.at(-1)?.time ?? cursor };
  }

  shell(instance: Pick<ProviderInstance, "resources" | "user">): { program: string; args: string[]; install: string } {
    return {
      program: "koyeb",
      args: ["services", "exec", SERVICE_NAME, "/bin/sh", "--app", instance.resources.appName ?? resourceName(instance.user)],
      install: "install the Koyeb CLI (https://www.koyeb.com/docs/build-and-deploy/cli/installation) and log in with `koyeb login`",
    };
  }
}
