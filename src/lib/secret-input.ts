import type { Context } from "../context.js";
import { UsageError } from "./errors.js";
import { readAll } from "./read-all.js";
import { Secret } from "./redact.js";

/** All of stdin as text (the caller caches it: it can be read once). */
export async function readStdin(stream: NodeJS.ReadableStream): Promise<string> {
  return (await readAll(stream)).toString("utf8");
}

/**
 * `--secret NAME`: the value comes from the environment variable NAME, else from stdin (the whole
 * input for one secret; NAME=value lines for several). Never from the command line. A secret that
 * ends up empty (an unset variable and an empty stdin, as in a CI job with a missing variable) is
 * refused before anything changes, unless `allowEmpty` (`--allow-empty-secret`) says it is meant.
 */
export async function collectSecrets(ctx: Context, names: string[], stdinText: () => Promise<string>, options: { allowEmpty?: boolean } = {}): Promise<Record<string, Secret>> {
  const allowEmpty = options.allowEmpty === true;
  const out: Record<string, Secret> = {};
  const missing: string[] = [];
  for (const name of names) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new UsageError(`--secret takes a variable NAME, got "${name}"`, { hint: "the value comes from $NAME or stdin, never the command line" });
    const value = ctx.env[name];
    if (value || (allowEmpty && value === "")) out[name] = new Secret(value);
    else missing.push(name);
  }
  if (missing.length === 0) return out;
  if (ctx.io.streams.stdin.isTTY === true) throw new UsageError(`no value for secret ${missing.join(", ")}`, { hint: `export ${missing[0]}=... or pipe the value on stdin` });
  const text = await stdinText();
  if (missing.length === 1 && !text.includes(`${missing[0]}=`)) {
    out[missing[0]!] = new Secret(text.replace(/\r?\n$/, ""));
  } else {
    for (const line of text.split(/\r?\n/)) {
      const i = line.indexOf("=");
      const key = line.slice(0, i);
      if (i > 0 && missing.includes(key)) out[key] = new Secret(line.slice(i + 1));
    }
  }
  const still = missing.filter((m) => !out[m]);
  if (still.length) throw new UsageError(`no value for secret ${still.join(", ")}`, { hint: "set it in the environment, or pipe NAME=value lines on stdin" });
  const empty = allowEmpty ? [] : missing.filter((m) => out[m]!.reveal() === "");
  if (empty.length) {
    throw new UsageError(`no value for secret ${empty.join(", ")}: $${empty[0]} is unset or empty and stdin gave none; nothing was changed`, {
      hint: `export ${empty[0]}=... or pipe the value on stdin; --allow-empty-secret sets an empty value on purpose`,
    });
  }
  return out;
}
