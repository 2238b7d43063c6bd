import { describe, expect, it } from "vitest";
import { ExecStreamReader } from "../../src/providers/cloudflare-sandbox/client.js";

const b64 = (s: string): string => Buffer.from(s).toString("base64");
const STREAM = `event: stdout\ndata: ${b64("first\n")}\n\n: keep-alive\n\nevent: stderr\r\ndata: ${b64("oops\n")}\r\n\r\nevent: stdout\ndata: ${b64("second\n")}\n\nevent: exit\ndata: {"exit_code":3}\n\n`;

describe("the bridge's exec stream, read as it arrives", () => {
  it("hands each output event on once it is complete, however the bytes are cut", () => {
    const seen: string[] = [];
    const reader = new ExecStreamReader((stream, chunk) => seen.push(`${stream}:${chunk.toString()}`));
    const bytes = Buffer.from(STREAM);
    const firstEventEnd = STREAM.indexOf("\n\n") + 2;
    for (let at = 0; at < bytes.length; at++) {
      reader.push(bytes.subarray(at, at + 1));
      // Nothing before the first event's blank line; the first line right after it.
      if (at === firstEventEnd - 2) expect(seen).toEqual([]);
      if (at === firstEventEnd - 1) expect(seen).toEqual(["stdout:first\n"]);
    }
    expect(seen).toEqual(["stdout:first\n", "stderr:oops\n", "stdout:second\n"]);
    expect(reader.result()).toEqual({ stdout: Buffer.alloc(0), stderr: Buffer.alloc(0), exitCode: 3, error: undefined });
  });

  it("without a hook keeps the output; a last event without its blank line counts; an error event is reported", () => {
    const reader = new ExecStreamReader();
    reader.push(`event: stdout\ndata: ${b64("all\n")}\n\nevent: error\ndata: {"error":"exec failed: gone","code":"exec_error"}`);
    const r = reader.result();
    expect([r.stdout.toString(), r.exitCode, r.error]).toEqual(["all\n", undefined, { error: "exec failed: gone", code: "exec_error" }]);
  });
});
