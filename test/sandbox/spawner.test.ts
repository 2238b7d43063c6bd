import { once } from "node:events";
import { readdirSync, readFileSync } from "node:fs";
import { createServer, connect, type Socket } from "node:net";
import { describe, expect, it, vi } from "vitest";
import { terminate } from "../../src/sandbox/host/process.js";
import { HostProcess, spawnThroughHelper } from "../../src/sandbox/host/spawner.js";
import { until } from "../helpers/budget.js";

const ENV = { PATH: "/usr/bin:/bin" };
const sh = (script: string, env: Record<string, string> = ENV) => spawnThroughHelper({ file: "/bin/sh", args: ["-c", script], cwd: "/", env });

/** Reads both outputs to the end and waits for `close`, as the sandbox's callers do. */
function collect(child: HostProcess, input = ""): Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  child.stdin.end(input);
  return new Promise((resolve) => child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr })));
}

describe("the sandbox's process starter", () => {
  it("gives a command its input, keeps its two outputs apart and reports its exit status", async () => {
    const r = await collect(await sh("cat; echo oops >&2; exit 3"), "hello\n");
    expect(r).toEqual({ code: 3, signal: null, stdout: "hello\n", stderr: "oops\n" });
  });

  it("starts the command with exactly the environment given, in the directory given", async () => {
    const r = await collect(await spawnThroughHelper({ file: "/bin/sh", args: ["-c", "pwd; env | sort"], cwd: "/tmp", env: { PATH: "/usr/bin:/bin", ONLY: "this" } }));
    expect(r.stdout.split("\n").filter((l) => l && !l.startsWith("PWD=") && !l.startsWith("OLDPWD="))).toEqual(["/tmp", "ONLY=this", "PATH=/usr/bin:/bin"]);
  });

  it("reports a signal death as the signal, and hangs up on a command's whole process group", async () => {
    expect(await collect(await sh("kill -TERM $$"))).toMatchObject({ code: null, signal: "SIGTERM" });
    // The shell waits on a child of its own: terminate reaches both (the group), so output ends too.
    const child = await sh("sleep 600 & wait");
    const closed = collect(child);
    terminate(child, 100);
    expect(await closed).toMatchObject({ code: null, signal: "SIGHUP" });
  });

  it("sends no late SIGKILL to a group whose leader has gone (its pid may be a stranger's by then)", async () => {
    const child = await sh("sleep 600 & wait");
    const closed = collect(child);
    const kill = vi.spyOn(process, "kill");
    try {
      terminate(child, 50);
      expect(await closed).toMatchObject({ signal: "SIGHUP" });
      // Timers run in order of expiry: this one ends after the grace period's.
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(kill.mock.calls).toEqual([[-child.pid, "SIGHUP"]]);
    } finally {
      kill.mockRestore();
    }
  });

  it("refuses a program that is not there with the error spawn gives", async () => {
    await expect(spawnThroughHelper({ file: "/nonexistent/program", args: [], cwd: "/", env: ENV })).rejects.toMatchObject({ code: "ENOENT" });
  });

  it("closes a command that exits at once, unread input and output included", async () => {
    const child = await sh("echo early; exit 0");
    child.stdin.write("x".repeat(256 * 1024));
    child.stdin.end();
    // Nobody reads its output: as with a ChildProcess, close still comes once it has exited.
    expect(await new Promise((resolve) => child.on("close", resolve))).toBe(0);
  });

  it("keeps concurrent commands' data apart", async () => {
    const runs = await Promise.all(Array.from({ length: 12 }, async (_, i) => collect(await sh(`cat; echo ${i} >&2`), `input ${i}\n`.repeat(1000))));
    runs.forEach((r, i) => expect([r.code, r.stdout, r.stderr]).toEqual([0, `input ${i}\n`.repeat(1000), `${i}\n`]));
  });

  it("closes a command whose outputs ended, and closed, before its exit status came", async () => {
    // What a quick command with no output can do: both output sockets gone before the exit arrives.
    const server = createServer({ allowHalfOpen: false }, (socket) => socket.end());
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    const { port } = server.address() as { port: number };
    const closedSocket = async (): Promise<Socket> => {
      const socket = connect(port, "127.0.0.1");
      socket.resume();
      await once(socket, "close");
      return socket;
    };
    const [stdin, stdout, stderr] = await Promise.all([closedSocket(), closedSocket(), closedSocket()]);
    const child = new HostProcess(1, stdin, stdout, stderr);
    const closed = once(child, "close");
    child.exited(0, null);
    expect(await closed).toEqual([0, null]);
    server.close();
  });

  it("closes many quick commands with no output at all", async () => {
    const codes = await Promise.all(Array.from({ length: 40 }, async (_, i) => (await collect(await sh(`exit ${i % 3}`))).code));
    expect(codes).toEqual(Array.from({ length: 40 }, (_, i) => i % 3));
  });

  it("ends what runs and says SIGKILL when the starter itself dies; the next command gets a new one", async () => {
    const child = await sh("sleep 600");
    const closed = collect(child);
    // This process's starter: its socket's name, in its command line, carries this pid.
    const starter = readdirSync("/proc").filter((p) => /^\d+$/.test(p)).find((p) => {
      try {
        return readFileSync(`/proc/${p}/cmdline`, "latin1").includes(`automna-spawner-${process.pid}-`);
      } catch {
        return false;
      }
    });
    process.kill(Number(starter), "SIGKILL");
    expect(await closed).toMatchObject({ code: null, signal: "SIGKILL" });
    const alive = () => {
      try {
        process.kill(child.pid, 0);
        return !readFileSync(`/proc/${child.pid}/stat`, "latin1").includes(") Z ");
      } catch {
        return false;
      }
    };
    await until(() => !alive());
    expect((await collect(await sh("exit 5"))).code).toBe(5);
  });
});

