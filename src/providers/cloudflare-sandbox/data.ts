import { StorageClient } from "../../lib/s3-objects.js";
import { storageSettingsFromConfig, type StorageSettings } from "../../lib/s3-presign.js";
import type { Config } from "../../lib/config.js";

/**
 * Where a Cloudflare Sandbox user's data lives: a prefix of the R2 bucket the sandboxes mount,
 * reached with the storage.* endpoint and keys (the bucket from cloudflareSandbox.bucket).
 */
export interface DataPlace {
  bucket: string;
  prefix: string;
}

/** The prefix a user's data has by the config's template (`users/{user}/`), always ending in `/`. */
export function templatePrefix(config: Config, user: string): string {
  const template = config.getString("cloudflareSandbox.dataPrefix") ?? "users/{user}/";
  return `${template.replaceAll("{user}", user).replace(/^\/+/, "").replace(/\/*$/, "")}/`;
}

/**
 * A mapping's data location: `r2://<bucket>/<prefix>` or a bare prefix in the configured bucket.
 * Returns the problem as a string when it cannot be one.
 */
export function parseDataLocation(config: Config, data: string): DataPlace | string {
  const bucket = config.getString("cloudflareSandbox.bucket") ?? "automna";
  const m = /^r2:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])\/(.*)$/.exec(data);
  const place = m ? { bucket: m[1]!, prefix: m[2]! } : /^[a-z][a-z0-9+.-]*:\/\//i.test(data) ? undefined : { bucket, prefix: data.replace(/^\/+/, "") };
  if (!place) return "a Cloudflare Sandbox data location is r2://<bucket>/<prefix>/ or a prefix in cloudflareSandbox.bucket";
  if (!place.prefix || place.prefix.split("/").some((p, i, all) => (p === "" && i < all.length - 1) || p === "." || p === "..")) return "the prefix must name a folder of the bucket (no empty, . or .. parts)";
  return { bucket: place.bucket, prefix: place.prefix.endsWith("/") ? place.prefix : `${place.prefix}/` };
}

/** The storage settings for a bucket of the R2 account (storage.* keys, another bucket). */
export function r2Settings(config: Config, bucket: string): StorageSettings {
  return { ...storageSettingsFromConfig(config), bucket };
}

export function r2Client(config: Config, bucket: string, signal?: AbortSignal): StorageClient {
  return new StorageClient(r2Settings(config, bucket), { signal });
}

/** Where automna keeps its own record of a sandbox (the bridge lists none): one small object per sandbox. */
export const MARKER_PREFIX = "automna-markers/cloudflare-sandbox/";

export interface SandboxMarker {
  user: string;
  opId: string;
  sandbox: string;
  bucket: string;
  prefix: string;
  size: string;
  /** Provisioned with --allow-sleep or imported (whoever made it). */
  origin: "provisioned" | "imported";
  /** automna stopped it (freeze, retire) and has not started it since. */
  stopped?: boolean;
}
