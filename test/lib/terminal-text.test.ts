import { describe, expect, it } from "vitest";
import { terminalBytes, terminalText } from "../../src/lib/terminal-text.js";

describe("terminal text", () => {
  it("removes whole control sequences, 7-bit and 8-bit, terminated or not", () => {
    expect(terminalText("a\u001b]0;title\u0007b")).toBe("ab");
    expect(terminalText("a\u001b]8;;http://x\u001b\\link\u001b]8;;\u001b\\b")).toBe("alinkb");
    expect(terminalText("a\u001b[2J\u001b[1;1Hb")).toBe("ab");
    expect(terminalText("a\u009b2Jb\u009d0;t\u0007c")).toBe("abc");
    expect(terminalText("a\u001bPq#0;2\u001b\\b")).toBe("ab");
    expect(terminalText("a\u001b(0b")).toBe("ab");
    expect(terminalText("a\u001b]0;never ends")).toBe("a");
    expect(terminalText("over\rwrite\b\u0000\u007f")).toBe("overwrite");
  });

  it("keeps tab and newline unless a single line is wanted; keeps automna's colours only when asked", () => {
    expect(terminalText("a\tb\nc")).toBe("a\tb\nc");
    expect(terminalText("a\tb\nc", { oneLine: true })).toBe("a b c");
    expect(terminalText("\u001b[31mred\u001b[39m \u001b[8mhidden\u001b[28m")).toBe("red hidden");
    expect(terminalText("\u001b[31mred\u001b[39m \u001b[8mhidden\u001b[28m", { colour: true })).toBe("\u001b[31mred\u001b[39m hidden");
    const plain = "nothing to do here";
    expect(terminalText(plain)).toBe(plain);
  });

  it("cleans UTF-8 bytes and hands clean ones back as they are", () => {
    const clean = Buffer.from("é line\n");
    expect(terminalBytes(clean)).toBe(clean);
    expect(terminalBytes(Buffer.from("é \u001b[2Jline \u009b\n")).toString()).toBe("é line \n");
  });
});
