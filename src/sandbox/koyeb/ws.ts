import { createHash } from "node:crypto";
import type { Duplex } from "node:stream";
import type { UpgradeRequest } from "../http.js";

/** RFC 6455's fixed GUID, appended to the client's key for Sec-WebSocket-Accept. */
const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/** One server-side WebSocket: JSON text messages in and out, as Koyeb's streams use them. */
export interface JsonSocket {
  send(message: unknown): void;
  /** Sends a close frame (code 1000 unless given) and ends the connection. */
  close(code?: number, reason?: string): void;
  /** Drops the connection without a close frame (a fault: the network went away). */
  drop(): void;
  onMessage(handler: (message: unknown) => void): void;
  onClose(handler: () => void): void;
  readonly closed: boolean;
}

/**
 * Completes the handshake (answering the `Bearer` subprotocol Koyeb's clients offer with the
 * token) and frames messages per RFC 6455: client frames are masked, server frames are not;
 * pings are answered; a text message that is not JSON closes with 1007.
 */
export function acceptJsonSocket(u: UpgradeRequest): JsonSocket {
  const key = u.req.headers["sec-websocket-key"];
  const socket: Duplex = u.socket;
  const offered = String(u.req.headers["sec-websocket-protocol"] ?? "").split(",").map((p) => p.trim()).filter(Boolean);
  const accept = createHash("sha1").update(`${String(key)}${GUID}`).digest("base64");
  socket.write([
    "HTTP/1.1 101 Switching Protocols", "Upgrade: websocket", "Connection: Upgrade", `Sec-WebSocket-Accept: ${accept}`,
    ...(offered.length ? [`Sec-WebSocket-Protocol: ${offered[0]}`] : []), "", "",
  ].join("\r\n"));
  let buffer: Buffer = u.head.length ? Buffer.from(u.head) : Buffer.alloc(0);
  let fragments: Buffer[] = [];
  let closed = false;
  const messageHandlers: ((m: unknown) => void)[] = [];
  const closeHandlers: (() => void)[] = [];
  const finish = (): void => {
    if (closed) return;
    closed = true;
    for (const h of closeHandlers) h();
  };
  const frame = (opcode: number, payload: Buffer): void => {
    if (closed || socket.destroyed) return;
    const len = payload.length;
    const header = len < 126 ? Buffer.from([0x80 | opcode, len]) : len < 65536 ? Buffer.alloc(4) : Buffer.alloc(10);
    if (len >= 126 && len < 65536) {
      header[0] = 0x80 | opcode;
      header[1] = 126;
      header.writeUInt16BE(len, 2);
    } else if (len >= 65536) {
      header[0] = 0x80 | opcode;
      header[1] = 127;
      header.writeBigUInt64BE(BigInt(len), 2);
    }
    socket.write(Buffer.concat([header, payload]));
  };
  const ws: JsonSocket = {
    send: (message) => frame(0x1, Buffer.from(JSON.stringify(message))),
    close(code = 1000, reason = "") {
      if (closed) return;
      const body = Buffer.alloc(2 + Buffer.byteLength(reason));
      body.writeUInt16BE(code, 0);
      body.write(reason, 2);
      frame(0x8, body);
      socket.end();
      finish();
    },
    drop() {
      socket.destroy();
      finish();
    },
    onMessage: (h) => void messageHandlers.push(h),
    onClose: (h) => void closeHandlers.push(h),
    get closed() {
      return closed;
    },
  };
  const parse = (): void => {
    for (;;) {
      if (buffer.length < 2) return;
      const fin = (buffer[0]! & 0x80) !== 0;
      const opcode = buffer[0]! & 0x0f;
      const masked = (buffer[1]! & 0x80) !== 0;
      let len = buffer[1]! & 0x7f;
      let at = 2;
      if (len === 126) {
        if (buffer.length < 4) return;
        len = buffer.readUInt16BE(2);
        at = 4;
      } else if (len === 127) {
        if (buffer.length < 10) return;
        len = Number(buffer.readBigUInt64BE(2));
        at = 10;
      }
      const maskAt = at;
      if (masked) at += 4;
      if (buffer.length < at + len) return;
      const payload = Buffer.from(buffer.subarray(at, at + len));
      if (masked) for (let i = 0; i < payload.length; i++) payload[i]! ^= buffer[maskAt + (i % 4)]!;
      buffer = buffer.subarray(at + len);
      if (opcode === 0x8) {
        ws.close();
        return;
      }
      if (opcode === 0x9) {
        frame(0xa, payload);
        continue;
      }
      if (opcode === 0xa) continue;
      fragments.push(payload);
      if (!fin) continue;
      const whole = Buffer.concat(fragments).toString("utf8");
      fragments = [];
      let message: unknown;
      try {
        message = JSON.parse(whole);
      } catch {
        ws.close(1007, "message is not JSON");
        return;
      }
      for (const h of messageHandlers) h(message);
    }
  };
  socket.on("data", (chunk: Buffer) => {
    buffer = buffer.length ? Buffer.concat([buffer, chunk]) : chunk;
    parse();
  });
  socket.on("close", finish);
  socket.on("error", finish);
  // Data that arrived with the upgrade request is parsed once the caller has had a chance to listen.
  if (buffer.length) queueMicrotask(parse);
  return ws;
}
