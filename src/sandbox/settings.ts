import { MANIFESTS } from "../providers/manifests.js";
import type { SandboxProvider } from "./util.js";

/**
 * The settings that point automna at the stand-ins, as environment variables: each provider's URL
 * and token, and whatever else its manifest points at the stand-in.
 */
export function providerSettings(urls: Record<SandboxProvider, string>, token: string): { config: Record<string, string>; secrets: Record<string, string> } {
  const config: Record<string, string> = {};
  const secrets: Record<string, string> = {};
  for (const m of MANIFESTS) {
    config[m.url.key] = urls[m.id];
    secrets[m.token.key] = token;
    Object.assign(config, m.sandbox.settings?.(urls[m.id]) ?? {});
  }
  return { config, secrets };
}

export function providerEnv(urls: Record<SandboxProvider, string>, token: string): Record<string, string> {
  const { config, secrets } = providerSettings(urls, token);
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries({ ...config, ...secrets })) {
    const name = envOfKey(key);
    if (name) out[name] = value;
  }
  return out;
}

function envOfKey(key: string): string | undefined {
  for (const m of MANIFESTS) {
    if (m.url.key === key) return m.url.env;
    if (m.token.key === key) return m.token.env;
    const setting = m.settings.find((k) => k.key === key);
    if (setting) return setting.env;
  }
  return undefined;
}
