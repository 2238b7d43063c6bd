import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { fleetKey, readFleetKey, seal, unseal } from "../../src/lib/fleet-key.js";

const dir = mkdtempSync(join(tmpdir(), "fleet-key-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("the fleet key", () => {
  it("is made once, private, in a directory made for it, and read back the same", async () => {
    const path = join(dir, "profiles", "p1", "fleet.key");
    expect(await readFleetKey(path)).toBeUndefined();
    const made = await fleetKey(path);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(made.key).toHaveLength(32);
    expect((await fleetKey(path)).id).toBe(made.id);
    // Many first uses at once (backup --all): one key, never a half-written one.
    const racing = join(dir, "race.key");
    expect(new Set((await Promise.all(Array.from({ length: 16 }, () => fleetKey(racing)))).map((k) => k.id)).size).toBe(1);
    // A copy put back with loose permissions is made private again.
    chmodSync(path, 0o644);
    expect((await readFleetKey(path))!.id).toBe(made.id);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    writeFileSync(path, "not a key\n");
    await expect(readFleetKey(path)).rejects.toThrow(/is not 32 bytes of base64/);
  });

  it("seals a value that opens only with the same key and for the same backup", async () => {
    const key = await fleetKey(join(dir, "a.key"));
    const other = await fleetKey(join(dir, "b.key"));
    const blob = seal(key, "API_KEY=sk-very-secret-value\n", "automna backup env alice bk_1");
    expect(blob).not.toContain("sk-very-secret-value");
    expect(unseal(key, blob, "automna backup env alice bk_1")).toBe("API_KEY=sk-very-secret-value\n");
    expect(() => unseal(key, blob, "automna backup env bob bk_1")).toThrow(/does not open/);
    expect(() => unseal(other, blob, "automna backup env alice bk_1")).toThrow(`sealed with fleet key ${key.id}, this profile's is ${other.id}`);
    const sealed = JSON.parse(blob) as { data: string };
    const flipped = Buffer.from(sealed.data, "base64");
    flipped[0] = flipped[0]! ^ 1;
    expect(() => unseal(key, JSON.stringify({ ...sealed, data: flipped.toString("base64") }), "automna backup env alice bk_1")).toThrow(/does not open/);
    expect(readFileSync(join(dir, "a.key"), "utf8")).toMatch(/^[A-Za-z0-9+/]{43}=\n$/);
  });
});
