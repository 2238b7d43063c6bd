import { AutomnaError, NotSupportedError } from "../../lib/errors.js";
import type { ProviderInstance, ProviderRemote, RemoteExecOptions, RemoteExecResult, RemoteLogEntry } from "../types.js";
import type { BridgeClient } from "./client.js";

/** The exec route takes no stdin: it rides in an argument, so it must fit in one (Linux: 128 KiB). */
const MAX_STDIN = 64 * 1024;

/**
 * Where the agent writes its log inside the container: the bridge has no log route, so the image
 * writes it to a file under /workspace (the sandbox's hosts name it in $AUTOMNA_HOST_LOG).
 */
const LOG_SCRIPT = 'f="${AUTOMNA_HOST_LOG:-/workspace/agent.log}"; if [ -f "$f.1" ]; then cat "$f.1"; fi; if [ -f "$f" ]; then cat "$f"; fi';

function sandboxOf(instance: Pick<ProviderInstance, "resources">): string {
  const id = instance.resources.sandbox;
  if (!id) throw new AutomnaError("the instance has no Cloudflare sandbox id", { code: "not_found" });
  return id;
}

/**
 * A sandbox through the bridge: commands through the exec route's SSE stream (each call wakes
 * the sandbox and renews its sleep timer), logs by reading the agent's log file with exec (the
 * bridge has no log route), no interactive shell (the pty WebSocket is not supported).
 */
export class BridgeRemote implements ProviderRemote {
  readonly #client: BridgeClient;

  constructor(client: BridgeClient) {
    this.#client = client;
  }

  /** Output events go to `onOutput` as the stream delivers them. */
  async exec(instance: Pick<ProviderInstance, "resources">, argv: string[], options: RemoteExecOptions): Promise<RemoteExecResult> {
    const id = sandboxOf(instance);
    let words = argv;
    if (options.stdin?.length) {
      if (options.stdin.length > MAX_STDIN) {
        throw new NotSupportedError(`the bridge's exec route takes no stdin; automna passes up to ${MAX_STDIN / 1024} KiB as an argument, not ${options.stdin.length} bytes`, { hint: "write the data to the sandbox's R2 prefix instead" });
      }
      words = ["sh", "-c", 'b=$1; shift; printf %s "$b" | base64 -d | "$@"', "sh", options.stdin.toString("base64"), ...argv];
    }
    const r = await this.#client.exec(id, words, { ...(options.timeoutMs ? { timeoutMs: options.timeoutMs } : {}), ...(options.onOutput ? { onOutput: options.onOutput } : {}) });
    if (r.error) throw new AutomnaError(`the command in Cloudflare sandbox ${id} failed: ${r.error.error} (${r.error.code})`, { code: "exec_failed" });
    return { exitCode: r.exitCode ?? 1, stdout: r.stdout, stderr: r.stderr };
  }

  /** The agent's log file read through exec (this wakes a sleeping sandbox): the lines after `cursor`. */
  async logs(instance: Pick<ProviderInstance, "resources">, cursor: string | undefined): Promise<{ entries: RemoteLogEntry[]; cursor: string | undefined }> {
    const r = await this.exec(instance, ["sh", "-c", LOG_SCRIPT], {});
    const entries: RemoteLogEntry[] = [];
    for (const line of r.stdout.toString("utf8").split("\n")) {
      const m = /^(\d{4}-\d\d-\d\dT\S+)\s(.*)$/.exec(line);
      if (m && (!cursor || m[1]! > cursor)) entries.push({ time: m[1]!, line: m[2]! });
    }
    return { entries, cursor: entries.at(-1)?.time ?? cursor };
  }

  shell(): { program: string; args: string[]; install: string } {
    throw new NotSupportedError("automna opens no interactive shell on a Cloudflare sandbox (the bridge's pty is a WebSocket automna does not speak)", { hint: "run commands with automna exec <user> -- <cmd>" });
  }
}
