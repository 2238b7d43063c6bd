import { Duplex } from "node:stream";
import type { Socket } from "node:net";

/**
 * A TCP connection seen through a network with `delayMs` of one-way latency: every chunk either
 * way arrives that much later, in order (timers of one duration fire first-in first-out). On
 * loopback an SSH handshake costs no round-trip time at all, so without this the sandbox cannot
 * show what talking to machines in a real datacenter costs (several round trips per connection).
 */
export class DelayedLink extends Duplex {
  readonly remoteAddress: string | undefined;
  readonly remotePort: number | undefined;
  readonly remoteFamily: string | undefined;
  readonly #socket: Socket;
  readonly #delayMs: number;

  constructor(socket: Socket, delayMs: number) {
    super();
    this.#socket = socket;
    this.#delayMs = delayMs;
    this.remoteAddress = socket.remoteAddress;
    this.remotePort = socket.remotePort;
    this.remoteFamily = socket.remoteFamily;
    socket.on("data", (chunk: Buffer) => this.#later(() => this.push(chunk)));
    socket.on("end", () => this.#later(() => this.push(null)));
    socket.on("error", (error) => this.destroy(error));
    socket.on("close", () => this.#later(() => this.destroy()));
  }

  #later(fn: () => void): void {
    setTimeout(() => {
      if (!this.destroyed) fn();
    }, this.#delayMs);
  }

  override _read(): void {
    // Data is pushed as it arrives (after its delay); a slow reader is the client's problem here.
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    setTimeout(() => {
      if (!this.#socket.destroyed) this.#socket.write(chunk);
    }, this.#delayMs);
    callback();
  }

  override _final(callback: (error?: Error | null) => void): void {
    setTimeout(() => this.#socket.end(), this.#delayMs);
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#socket.destroy();
    callback(error);
  }

  setNoDelay(noDelay?: boolean): this {
    this.#socket.setNoDelay(noDelay);
    return this;
  }
}
