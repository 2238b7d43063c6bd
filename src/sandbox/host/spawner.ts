import { fork, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { EventEmitter } from "node:events";
import { createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { extname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** What to start: a program, its arguments, and exactly the environment it gets. */
export interface SpawnRequest {
  file: string;
  args: string[];
  cwd: string;
  env: Record<string, string>;
}

/**
 * A host's command started by the process starter, in its own process group. Its stdio are
 * sockets connected to this process; it emits `exit` (code, signal) when it ends and `close`
 * once its output has been read to the end as well, as a ChildProcess does.
 */
export class HostProcess extends EventEmitter<{ exit: [number | null, NodeJS.Signals | null]; close: [number | null, NodeJS.Signals | null] }> {
  exitCode: number | null = null;
  signalCode: NodeJS.Signals | null = null;
  #openOutputs = 2;
  #exited = false;
  #referenced = true;

  constructor(
    readonly pid: number,
    readonly stdin: Socket,
    readonly stdout: Socket,
    readonly stderr: Socket,
    /** Tells the starter that this process no longer keeps the sandbox process alive. */
    private readonly onUnref: () => void = () => {},
  ) {
    super();
    // (Socket errors are already ignored: every connection gets that when it is accepted.)
    // A quick command's output may have ended, and closed, before its exit status came.
    for (const output of [stdout, stderr]) {
      if (output.closed) this.#openOutputs -= 1;
      else output.on("close", () => this.#outputClosed());
    }
    // Nothing comes back on stdin; reading it notices when the command's side is gone, so the
    // socket closes once it has been ended here too.
    stdin.resume();
  }

  /** Whether it keeps this process alive while it runs (as a command does), until `unref()`. */
  get referenced(): boolean {
    return this.#referenced;
  }

  /**
   * As ChildProcess.unref(): this process may exit while it runs (a host's namespace holder,
   * which lives as long as the host does, not the other way round).
   */
  unref(): void {
    this.#referenced = false;
    for (const socket of [this.stdin, this.stdout, this.stderr]) socket.unref();
    this.onUnref();
  }

  /** Called by the starter with the command's exit status. */
  exited(code: number | null, signal: NodeJS.Signals | null): void {
    if (this.#exited) return;
    this.#exited = true;
    this.exitCode = code;
    this.signalCode = signal;
    this.emit("exit", code, signal);
    // As a ChildProcess does on exit: output nobody reads is drained, so `close` still comes.
    for (const output of [this.stdout, this.stderr]) if (output.listenerCount("data") === 0 && output.readableFlowing !== true) output.resume();
    this.#maybeClose();
  }

  #outputClosed(): void {
    this.#openOutputs -= 1;
    this.#maybeClose();
  }

  #maybeClose(): void {
    if (this.#exited && this.#openOutputs === 0) this.emit("close", this.exitCode, this.signalCode);
  }
}

interface Pending {
  sockets: (Socket | undefined)[];
  pid?: number;
  exit?: [number | null, NodeJS.Signals | null];
  process?: HostProcess;
  resolve(process: HostProcess): void;
  reject(error: Error): void;
}

type HelperMessage =
  | { id: number; pid: number }
  | { id: number; code: number | null; signal: NodeJS.Signals | null }
  | { id: number; error: { code?: string; message: string } };

/** The helper next to this module: .ts when running from source (node strips the types), .js from the build. */
const HELPER = fileURLToPath(new URL(`./spawner-helper${extname(fileURLToPath(import.meta.url))}`, import.meta.url));

/**
 * Starts the hosts' commands through a small helper process instead of forking this one. A fork
 * costs in proportion to the forking process's memory (page tables copied, then copy-on-write
 * faults in the parent): from a process of ~300 MB it was ~21 ms of the machine's CPU per
 * command, through the helper ~13-14 ms, of which ~1.5 ms is this process's
 * (bench/spawn-cost.mjs).
 * One helper per process, started on first use; it ends when this process does.
 */
class Spawner {
  readonly #token = randomBytes(16).toString("hex");
  readonly #address = process.platform === "linux" ? `\0automna-spawner-${process.pid}-${this.#token.slice(0, 8)}` : join(tmpdir(), `automna-spawner-${process.pid}-${this.#token.slice(0, 8)}.sock`);
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  #helper: ChildProcess | undefined;
  #server: Promise<Server> | undefined;

  async spawn(request: SpawnRequest): Promise<HostProcess> {
    await (this.#server ??= this.#listen());
    const helper = (this.#helper ??= this.#startHelper());
    const id = this.#nextId++;
    const started = new Promise<HostProcess>((resolve, reject) => this.#pending.set(id, { sockets: [], resolve, reject }));
    this.#refWhileBusy();
    helper.send({ id, ...request });
    return started;
  }

  #listen(): Promise<Server> {
    const server = createServer({ allowHalfOpen: false }, (socket) => this.#identify(socket));
    return new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.#address, () => {
        server.unref();
        resolve(server);
      });
    });
  }

  #startHelper(): ChildProcess {
    // No flags of this process (a test runner's loaders), none of its environment (its tokens).
    const execArgv = HELPER.endsWith(".ts") ? ["--disable-warning=ExperimentalWarning"] : [];
    // An abstract socket's name starts with a NUL byte, which an argument cannot carry: "@" stands for it.
    const helper = fork(HELPER, [this.#address.replace(/^\0/, "@"), this.#token], { execArgv, env: {}, stdio: ["ignore", "ignore", "inherit", "ipc"], serialization: "json" });
    helper.on("message", (message: HelperMessage) => this.#onMessage(message));
    helper.on("exit", () => {
      if (this.#helper === helper) this.#helper = undefined;
      for (const [id, pending] of this.#pending) this.#fail(id, pending, new Error("the sandbox's process starter exited"));
    });
    helper.unref();
    return helper;
  }

  /**
   * Reads a connection's first line (token, command id, which stdio), then hands it to its
   * command. Read in paused mode ('readable'), so what follows the line stays buffered, unread,
   * until the command's reader attaches.
   */
  #identify(socket: Socket): void {
    // A command that exits without reading its input makes writes to it fail: not an error. A
    // reset output is an ended one.
    socket.on("error", () => {});
    let head = Buffer.alloc(0);
    const onReadable = () => {
      for (let chunk: Buffer | null; (chunk = socket.read() as Buffer | null) !== null; ) {
        head = Buffer.concat([head, chunk]);
        const nl = head.indexOf(10);
        if (nl < 0) continue;
        socket.off("readable", onReadable);
        if (nl + 1 < head.length) socket.unshift(head.subarray(nl + 1));
        const [token, id, fd] = head.subarray(0, nl).toString().split(" ");
        const pending = this.#pending.get(Number(id));
        if (token !== this.#token || !pending || !["0", "1", "2"].includes(fd ?? "")) return void socket.destroy();
        pending.sockets[Number(fd)] = socket;
        return this.#settle(Number(id), pending);
      }
    };
    socket.on("readable", onReadable);
  }

  #onMessage(message: HelperMessage): void {
    const pending = this.#pending.get(message.id);
    if (!pending) return;
    if ("error" in message) return this.#fail(message.id, pending, Object.assign(new Error(`spawn: ${message.error.message}`), { code: message.error.code }));
    if ("pid" in message) pending.pid = message.pid;
    else pending.exit = [message.code, message.signal];
    this.#settle(message.id, pending);
  }

  /** Resolves a command once its pid and three connections are in; delivers its exit when both it and that are. */
  #settle(id: number, pending: Pending): void {
    const [stdin, stdout, stderr] = pending.sockets;
    if (!pending.process && pending.pid !== undefined && stdin && stdout && stderr) {
      pending.process = new HostProcess(pending.pid, stdin, stdout, stderr, () => this.#refWhileBusy());
      pending.resolve(pending.process);
    }
    if (pending.process && pending.exit) {
      this.#pending.delete(id);
      this.#refWhileBusy();
      const child = pending.process;
      const [code, signal] = pending.exit;
      // After the caller's listeners are on (it gets the process on a later tick).
      setImmediate(() => child.exited(code, signal));
    }
  }

  #fail(id: number, pending: Pending, error: Error): void {
    this.#pending.delete(id);
    this.#refWhileBusy();
    for (const socket of pending.sockets) socket?.destroy();
    if (!pending.process) return pending.reject(error);
    // Its starter is gone, and with it the command's exit status: end the command's process group,
    // so that the SIGKILL reported is what happened.
    try {
      process.kill(-pending.process.pid, "SIGKILL");
    } catch {
      // already gone
    }
    pending.process.exited(null, "SIGKILL");
  }

  /**
   * Keeps this process alive while a command starts or runs (its exit comes over the channel), not
   * longer, and not for one that was unref()'d.
   */
  #refWhileBusy(): void {
    const channel = this.#helper?.channel;
    for (const pending of this.#pending.values()) if (pending.process?.referenced !== false) return void channel?.ref();
    channel?.unref();
  }
}

let spawner: Spawner | undefined;

/** Starts a command through this process's starter (created on first use). */
export function spawnThroughHelper(request: SpawnRequest): Promise<HostProcess> {
  spawner ??= new Spawner();
  return spawner.spawn(request);
}
