import type { ResumePoint } from "./log-lines.js";

const STAMP = 30;

/** A `docker logs --timestamps` line starts `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ `. */
function stamped(buf: Buffer, start: number, end: number): boolean {
  return end - start > STAMP && buf[start + STAMP] === 32 && buf[start + 29] === 90 && buf[start + 19] === 46 && buf[start + 10] === 84 && buf[start + 4] === 45;
}

/**
 * One user's `docker logs --timestamps` output turned into what `automna logs` shows without
 * times, working on bytes: no string or object per line, so a fast stream costs little more than
 * copying it. Resume bookkeeping (what a reconnect must not repeat) is kept exactly: lines at or
 * before the resume cut are checked one by one, and the newest lines are recorded at each chunk.
 */
export class DockerTextStream {
  readonly #resume: ResumePoint;
  readonly #other: (line: string) => void;
  #carry = Buffer.alloc(0);

  /** `other`: lines without a timestamp (docker's own messages). */
  constructor(resume: ResumePoint, other: (line: string) => void) {
    this.#resume = resume;
    this.#other = other;
  }

  push(chunk: Buffer): { bytes: Buffer; lines: number } {
    if (this.#carry.length) {
      // Complete the carried partial line alone rather than copying the whole chunk behind it.
      const nl = chunk.indexOf(10);
      if (nl === -1) {
        this.#carry = Buffer.concat([this.#carry, chunk]);
        return { bytes: Buffer.alloc(0), lines: 0 };
      }
      const head = Buffer.concat([this.#carry, chunk.subarray(0, nl + 1)]);
      this.#carry = Buffer.alloc(0);
      const a = this.#lines(head);
      const b = this.#lines(chunk.subarray(nl + 1));
      return { bytes: a.lines ? Buffer.concat([a.bytes, b.bytes]) : b.bytes, lines: a.lines + b.lines };
    }
    return this.#lines(chunk);
  }

  #lines(buf: Buffer): { bytes: Buffer; lines: number } {
    const out = Buffer.allocUnsafe(buf.length);
    const cut = this.#resume.cutBytes;
    const kept: number[] = [];
    let o = 0;
    let start = 0;
    for (let nl = buf.indexOf(10, start); nl !== -1; start = nl + 1, nl = buf.indexOf(10, start)) {
      if (!stamped(buf, start, nl)) {
        if (nl > start) this.#other(buf.toString("utf8", start, nl));
        continue;
      }
      // At or before the point a reconnect resumed from: a replay unless the exact check says new.
      const checked = cut !== undefined && buf.compare(cut, 0, STAMP, start, start + STAMP) <= 0;
      if (checked && !this.#resume.accept(buf.toString("latin1", start, start + STAMP), buf.toString("utf8", start + STAMP + 1, nl))) continue;
      // (start, end, already recorded by accept)
      kept.push(start, nl, checked ? 1 : 0);
      o += buf.copy(out, o, start + STAMP + 1, nl + 1);
    }
    this.#carry = Buffer.from(buf.subarray(start));
    this.#record(buf, kept);
    return { bytes: out.subarray(0, o), lines: kept.length / 3 };
  }

  /** A last line without a newline. */
  end(): { bytes: Buffer; lines: number } {
    if (this.#carry.length === 0) return { bytes: Buffer.alloc(0), lines: 0 };
    return this.push(Buffer.from("\n"));
  }

  /** Tells the resume point about the newest lines shown (those sharing the newest time). */
  #record(buf: Buffer, kept: number[]): void {
    if (kept.length === 0) return;
    let first = kept.length - 3;
    const newest = kept[first]!;
    while (first >= 3 && buf.compare(buf, newest, newest + STAMP, kept[first - 3]!, kept[first - 3]! + STAMP) === 0) first -= 3;
    for (let i = first; i < kept.length; i += 3) {
      if (kept[i + 2] === 1) continue;
      this.#resume.note(buf.toString("latin1", kept[i]!, kept[i]! + STAMP), buf.toString("utf8", kept[i]! + STAMP + 1, kept[i + 1]!));
    }
  }
}
