import { StringDecoder } from "node:string_decoder";

/**
 * Splits a byte stream into lines, carrying a partial line (and a UTF-8 character cut by a
 * chunk boundary) over to the next chunk. `end()` yields a last line without a newline.
 */
export class LineSplitter {
  readonly #decoder = new StringDecoder("utf8");
  #rest = "";

  push(chunk: Buffer): string[] {
    const text = this.#rest + this.#decoder.write(chunk);
    const lines = text.split("\n");
    this.#rest = lines.pop()!;
    return lines;
  }

  end(): string[] {
    const last = this.#rest + this.#decoder.end();
    this.#rest = "";
    return last === "" ? [] : [last];
  }
}
