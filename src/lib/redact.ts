// The well-known symbol util.inspect looks for; using it avoids loading node:util at start-up.
const inspectCustom = Symbol.for("nodejs.util.inspect.custom");

/**
 * A secret value (API token, state token, storage secret). It prints as `***` everywhere:
 * String(), JSON.stringify, util.inspect and template strings. Call reveal() only at the point
 * of use (an Authorization header, a signature).
 */
export class Secret {
  readonly #value: string;
  constructor(value: string) {
    this.#value = value;
    Redactor.global.add(value);
  }
  reveal(): string {
    return this.#value;
  }
  toString(): string {
    return "***";
  }
  toJSON(): string {
    return "***";
  }
  [inspectCustom](): string {
    return "Secret(***)";
  }
}

/** The values of named secrets, at the point of use (an env file, a provider's API call). */
export function revealAll(values: Record<string, Secret>): Record<string, string> {
  return Object.fromEntries(Object.entries(values).map(([k, v]) => [k, v.reveal()]));
}

/**
 * Knows every secret value this process has loaded and scrubs them from text before it is
 * printed or logged. The error printer and the debug log pass everything through it, so a token
 * echoed back by a server or embedded in a URL never reaches a terminal or a file.
 */
export class Redactor {
  static readonly global = new Redactor();
  readonly #values = new Set<string>();

  add(value: string): void {
    // Very short values would redact ordinary words; real tokens are long.
    if (value.length >= 6) this.#values.add(value);
  }

  redact(text: string): string {
    let out = text;
    for (const value of this.#values) {
      if (out.includes(value)) out = out.split(value).join("***");
    }
    // Authorization headers of any kind, even for tokens we never loaded ourselves.
    return out
      .replace(/(authorization["']?\s*[:=]\s*["']?(?:bearer|token|flyv1)?\s*)[^\s"',}]+/gi, "$1***")
      // A presigned storage URL grants access until it expires: never show its signature.
      .replace(/(X-Amz-Signature=)[0-9a-fA-F]+/g, "$1***");
  }
}

export function redact(text: string): string {
  return Redactor.global.redact(text);
}
