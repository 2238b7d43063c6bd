import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "vitest";
import { startSandbox, type RunningSandbox, type SandboxOptions } from "../../src/sandbox/index.js";
import { budget } from "../helpers/budget.js";

/**
 * A parsed provider response body. Tests walk deep into provider JSON and assert on it; the
 * shape checks (expectShape) are what validate types, so property access is left unchecked.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Body = Record<string, any>;

export interface Response<T = Body> {
  status: number;
  body: T;
  headers: Headers;
}

/**
 * A sandbox in a fresh directory on ephemeral ports, with fast transitions: an action still runs
 * when the test's next request arrives (a second action is refused), however busy the machine.
 */
export async function sandbox(options: Partial<SandboxOptions> = {}): Promise<RunningSandbox & { dir: string; cleanup(): Promise<void> }> {
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), "automna-sandbox-"));
  const sb = await startSandbox({ actionDelayMs: budget(100), ...options, dir });
  return Object.assign(sb, {
    dir,
    cleanup: async () => {
      await sb.close();
      rmSync(dir, { recursive: true, force: true });
    },
  });
}

/** A JSON client for one provider base URL with the sandbox token (or another). */
export function client(base: string, token: string | null) {
  return async <T = Body>(method: string, path: string, body?: unknown): Promise<Response<T>> => {
    const headers: Record<string, string> = {};
    if (token !== null) headers.authorization = `Bearer ${token}`;
    if (body !== undefined) headers["content-type"] = "application/json";
    const res = await fetch(`${base}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : null) as T, headers: res.headers };
  };
}

/** Polls until `check` returns a value (not undefined/false) or its budget runs out. */
export { until as eventually } from "../helpers/budget.js";

/** GET <ip>:<port>/healthz: the status, or "down" when nothing answers. */
export async function health(ip: string, port = 8080): Promise<number | "down"> {
  try {
    const res = await fetch(`http://${ip}:${port}/healthz`, { signal: AbortSignal.timeout(2000) });
    await res.text();
    return res.status;
  } catch {
    return "down";
  }
}

type Kind = "string" | "number" | "integer" | "boolean" | "object" | "array" | "null" | "string|null" | "number|null" | "integer|null" | "object|null";

/** Asserts each named field exists with the given JSON type (a hand-written shape check). */
export function expectShape(value: unknown, shape: Record<string, Kind>, where = "value"): void {
  expect(value, where).toBeTypeOf("object");
  const obj = value as Record<string, unknown>;
  for (const [key, kind] of Object.entries(shape)) {
    expect(Object.hasOwn(obj, key), `${where}.${key} is missing`).toBe(true);
    const v = obj[key];
    const ok = kind.split("|").some((k) => {
      switch (k) {
        case "null": return v === null;
        case "array": return Array.isArray(v);
        case "object": return typeof v === "object" && v !== null && !Array.isArray(v);
        case "integer": return Number.isInteger(v);
        default: return typeof v === k;
      }
    });
    expect(ok, `${where}.${key} should be ${kind}, got ${JSON.stringify(v)}`).toBe(true);
  }
}

export const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

/** A real ed25519 public key line (fixed bytes; only the format matters). */
export function publicKey(seed: number): string {
  const type = Buffer.from("ssh-ed25519");
  const key = Buffer.alloc(32, seed);
  const blob = Buffer.concat([u32(type.length), type, u32(32), key]);
  return `ssh-ed25519 ${blob.toString("base64")} test${seed}@automna`;
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

export type Sandbox = Awaited<ReturnType<typeof sandbox>>;
export type { RunningSandbox };
