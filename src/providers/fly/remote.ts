import { constants } from "node:os";
import type { HttpClient } from "../../lib/http.js";
import { AutomnaError, NotSupportedError } from "../../lib/errors.js";
import type { ProviderInstance, ProviderRemote, RemoteExecOptions, RemoteExecResult, RemoteLogEntry } from "../types.js";
import { resourceName } from "../types.js";
import type { FlyClient, FLogLine } from "./client.js";

/** Fly's exec API wants a timeout; commands without one get this many seconds. */
const DEFAULT_EXEC_TIMEOUT_S = 300;

function ids(instance: Pick<ProviderInstance, "resources">): { app: string; machine: string } {
  const { app, machine } = instance.resources;
  if (!app || !machine) throw new AutomnaError("the instance has no Fly app and machine ids", { code: "not_found" });
  return { app, machine };
}

function signalName(n: number | undefined): string | undefined {
  if (!n) return undefined;
  return Object.entries(constants.signals).find(([, v]) => v === n)?.[0];
}

/**
 * Fly machines through Fly's APIs: commands through the Machines API's exec endpoint, logs from
 * the logs API (another host, `fly.logsUrl`, polled with `next_token` as flyctl does), and an
 * interactive shell through `flyctl ssh console`, which tunnels over Fly's WireGuard network.
 */
export class FlyRemote implements ProviderRemote {
  readonly #client: FlyClient;
  readonly #logs: () => HttpClient;

  constructor(client: FlyClient, logs: () => HttpClient) {
    this.#client = client;
    this.#logs = logs;
  }

  /**
   * The Machines API carries stdin as a JSON string: input that is not UTF-8 is refused. Its exec
   * endpoint is request/response (`{exit_code, stdout, stderr}` once the command ended; the spec
   * has no streaming variant), so `onOutput` gets the whole output at the end.
   */
  async exec(instance: Pick<ProviderInstance, "resources">, argv: string[], options: RemoteExecOptions): Promise<RemoteExecResult> {
    const { app, machine } = ids(instance);
    let stdin: string | undefined;
    if (options.stdin !== undefined) {
      try {
        stdin = new TextDecoder("utf-8", { fatal: true }).decode(options.stdin);
      } catch {
        throw new NotSupportedError("Fly.io's exec API carries stdin as text, and this input is not UTF-8", {
          hint: "move binary data through object storage (a presigned URL and curl on the machine)",
        });
      }
    }
    const timeout = options.timeoutMs === undefined ? DEFAULT_EXEC_TIMEOUT_S : Math.max(1, Math.ceil(options.timeoutMs / 1000));
    const res = await this.#client.exec(app, machine, { command: argv, timeout, ...(stdin !== undefined ? { stdin } : {}) });
    const signal = signalName(res.exit_signal);
    const output = { stdout: Buffer.from(res.stdout ?? "", "utf8"), stderr: Buffer.from(res.stderr ?? "", "utf8") };
    const hook = options.onOutput;
    if (hook) {
      for (const stream of ["stdout", "stderr"] as const) if (output[stream].length) hook(stream, output[stream]);
    }
    return {
      exitCode: res.exit_code ?? (signal ? 128 + (res.exit_signal ?? 0) : 0),
      ...(signal ? { signal } : {}),
      ...(hook ? { stdout: Buffer.alloc(0), stderr: Buffer.alloc(0) } : output),
    };
  }

  async logs(instance: Pick<ProviderInstance, "resources">, cursor: string | undefined): Promise<{ entries: RemoteLogEntry[]; cursor: string | undefined }> {
    const { app, machine } = ids(instance);
    const res = await this.#logs().get<{ data?: FLogLine[]; meta?: { next_token?: string } }>(`/api/v1/apps/${encodeURIComponent(app)}/logs`, {
      query: { next_token: cursor, instance: machine },
    });
    const entries: RemoteLogEntry[] = [];
    for (const d of res.body?.data ?? []) {
      const a = d.attributes;
      if (a?.timestamp && a.message !== undefined) entries.push({ time: a.timestamp, line: a.message });
    }
    return { entries, cursor: res.body?.meta?.next_token || cursor };
  }

  shell(instance: Pick<ProviderInstance, "resources" | "user">): { program: string; args: string[]; install: string } {
    const app = instance.resources.app ?? resourceName(instance.user);
    const machine = instance.resources.machine;
    return {
      program: "flyctl",
      args: ["ssh", "console", "-a", app, ...(machine ? ["--machine", machine] : [])],
      install: "install flyctl (https://fly.io/docs/flyctl/install/) and log in with `flyctl auth login`",
    };
  }
}
