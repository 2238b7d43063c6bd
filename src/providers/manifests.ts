import { cloudflareSandbox } from "./cloudflare-sandbox/manifest.js";
import { digitalocean } from "./digitalocean/manifest.js";
import { fly } from "./fly/manifest.js";
import { hetzner } from "./hetzner/manifest.js";
import { koyeb } from "./koyeb/manifest.js";

/**
 * Every provider automna knows, in the order help texts list them. Adding a provider is its
 * folder (manifest, implementation, sandbox stand-in) plus its line here.
 */
export const MANIFESTS = [hetzner, fly, digitalocean, koyeb, cloudflareSandbox] as const;
