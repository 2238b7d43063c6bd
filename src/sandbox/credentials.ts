import { createHash } from "node:crypto";

/**
 * The object-store keys and the Cloudflare token of a sandbox, derived from its provider token so
 * a restarted sandbox (and `sandbox up --detach`'s parent, which only reads the token file) gets
 * the same ones without storing more secrets on disk.
 */
export interface SandboxCredentials {
  s3: { accessKeyId: string; secretAccessKey: string };
  cloudflareToken: string;
  /** A second DigitalOcean account's token (the stand-in's account check: instances bound to another account). */
  digitaloceanSecondAccountToken: string;
}

export function sandboxCredentials(token: string): SandboxCredentials {
  const digest = (label: string): Buffer => createHash("sha256").update(`${label}:${token}`).digest();
  return {
    s3: {
      accessKeyId: `AKSANDBOX${digest("s3-id").toString("hex").slice(0, 12).toUpperCase()}`,
      secretAccessKey: digest("s3-secret").toString("base64url"),
    },
    cloudflareToken: `cfsandbox_${digest("cloudflare").toString("hex").slice(0, 40)}`,
    digitaloceanSecondAccountToken: `dop_v1_${digest("digitalocean-second-account").toString("hex")}`,
  };
}

/** The bucket and DNS zone every sandbox starts with. */
export const SANDBOX_BUCKET = "automna";
export const SANDBOX_ZONE = "agents.example.test";
