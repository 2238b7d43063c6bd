import { createHash, randomBytes } from "node:crypto";
import type { Server } from "node:http";
import type { ProviderId } from "../providers/catalog.js";

/** The provider APIs the sandbox stands in for: one per manifest (src/providers/manifests.ts). */
export type SandboxProvider = ProviderId;

/** RFC 3339 without milliseconds, as the provider APIs print times. */
export function isoSeconds(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace(".000Z", "Z");
}

/** Hetzner prints times with an explicit offset. */
export function isoOffset(ms: number): string {
  return isoSeconds(ms).replace(/Z$/, "+00:00");
}

const CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/** A 26-character ULID: the format of Fly machine versions and event ids. */
export function ulid(now = Date.now()): string {
  let time = "";
  let t = now;
  for (let i = 0; i < 10; i++) {
    time = CROCKFORD[t % 32]! + time;
    t = Math.floor(t / 32);
  }
  const bytes = randomBytes(16);
  let rand = "";
  for (let i = 0; i < 16; i++) rand += CROCKFORD[bytes[i]! % 32]!;
  return time + rand;
}

export function randomHex(chars: number): string {
  return randomBytes(Math.ceil(chars / 2)).toString("hex").slice(0, chars);
}

const ALNUM = "abcdefghijklmnopqrstuvwxyz0123456789";

export function randomAlnum(chars: number, alphabet = ALNUM): string {
  const bytes = randomBytes(chars);
  let out = "";
  for (let i = 0; i < chars; i++) out += alphabet[bytes[i]! % alphabet.length]!;
  return out;
}

/** A random RFC 4122 v4 UUID (request ids, VPC ids). */
export function uuid(): string {
  return crypto.randomUUID();
}

/** A stable small number from a string (spreads address cursors of parallel sandboxes). */
export function hashNumber(text: string): number {
  return createHash("sha256").update(text).digest().readUInt32BE(0);
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Whether a value is a map of strings (labels, metadata). */
export function isStringMap(value: unknown): value is Record<string, string> {
  return isPlainObject(value) && Object.values(value).every((v) => typeof v === "string");
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(timer);
      resolve();
    }, { once: true });
  });
}

/** Catalogue objects never change, so each is rendered once (lists of 50 servers reuse them). */
export function memo<T extends object>(render: (t: T) => Record<string, unknown>): (t: T) => Record<string, unknown> {
  const cache = new WeakMap<T, Record<string, unknown>>();
  return (t) => {
    let out = cache.get(t);
    if (!out) cache.set(t, (out = render(t)));
    return out;
  };
}

/** Listens on address:port (0 for any free port) and resolves with the bound port. */
export function listen(server: Server, port: number, address: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error) => reject(error);
    server.once("error", onError);
    server.listen(port, address, () => {
      server.off("error", onError);
      const bound = server.address();
      resolve(typeof bound === "object" && bound ? bound.port : port);
    });
  });
}

/** Stops accepting, drops every open connection and resolves once the server has closed. */
export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
