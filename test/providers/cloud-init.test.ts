import { describe, expect, it } from "vitest";
import { UsageError } from "../../src/lib/errors.js";
import { flyGuest, flySizeName } from "../../src/providers/fly/index.js";
import { renderUserData } from "../../src/providers/vm/cloud-init.js";

describe("cloud-init user-data", () => {
  const spec = { user: "alice", opId: "op_1", image: "ghcr.io/automna/agent:1", env: { MODE: "prod", QUOTE: 'a "b" c' }, health: { port: 8080, path: "/healthz" } };

  it("installs Docker and runs automna-agent with /data bind-mounted and restart always", () => {
    const text = renderUserData(spec, 32 * 1024);
    expect(text.split("\n")[0]).toBe("#cloud-config");
    expect(text).toContain("  - docker.io");
    expect(text).toContain('  - ["docker", "run", "-d", "--name", "automna-agent", "--restart", "always", "-v", "/var/lib/automna/data:/data", "-p", "8080:8080", "--env-file", "/etc/automna/agent.env", "ghcr.io/automna/agent:1"]');
    expect(text).toContain(`    content: ${JSON.stringify('MODE=prod\nQUOTE=a "b" c\n')}`);
    expect(text).toContain('    permissions: "0600"');
  });

  it("refuses user-data over the provider's limit and values with line breaks", () => {
    expect(() => renderUserData({ ...spec, env: { BIG: "x".repeat(40_000) } }, 32 * 1024)).toThrow(/over the provider's limit of 32768/);
    expect(() => renderUserData({ ...spec, env: { BAD: "a\nb" } }, 32 * 1024)).toThrow(UsageError);
  });
});

describe("Fly sizes", () => {
  it("maps size names to guest configs and back", () => {
    expect(flyGuest("shared-cpu-1x-2gb")).toEqual({ cpu_kind: "shared", cpus: 1, memory_mb: 2048 });
    expect(flyGuest("performance-cpu-2x-512mb")).toEqual({ cpu_kind: "performance", cpus: 2, memory_mb: 512 });
    expect(flyGuest("cx22")).toBeUndefined();
    expect(flySizeName({ cpu_kind: "shared", cpus: 1, memory_mb: 256 })).toBe("shared-cpu-1x-256mb");
    expect(flySizeName({ cpu_kind: "shared", cpus: 2, memory_mb: 4096 })).toBe("shared-cpu-2x-4gb");
  });
});
