import { timingSafeEqual } from "node:crypto";
import { createServer, type Server as NetServer, type Socket } from "node:net";
import ssh2 from "ssh2";
import { DelayedLink } from "./delayed-link.js";
import { flushed, ptySupported, terminate, type HostProcess, type PtySize } from "./process.js";

/** An authorized key as the server checks it: the key blob, and the parsed key for signatures. */
interface AllowedKey {
  blob: Buffer;
  key: ssh2.ParsedKey;
}

/** What a session asked for, handed to the host to build the command's environment. */
export interface SessionRequest {
  username: string;
  command?: string | undefined;
  pty?: PtySize | undefined;
  /** `env` requests the host passes on (LANG and LC_*, as Debian's sshd AcceptEnv does). */
  env: Record<string, string>;
  /** `SSH_CONNECTION`: client address, client port, server address, server port. */
  connection: string;
}

export interface SshServerInit {
  hostKey: string;
  address: string;
  port: number;
  ident: string;
  run(request: SessionRequest): Promise<HostProcess>;
  onError(error: Error): void;
  /** Simulated one-way network latency on every connection (default 0: loopback as it is). */
  latencyMs?: number | undefined;
  /** False while the host is cut off from the network (a provider outage): connections are reset. */
  reachable?: (() => boolean) | undefined;
}

/**
 * Parses authorized_keys-style lines (options prefixes and comments allowed). Returns the keys
 * and the lines that are not a public key, so the caller can say which.
 */
export function parseAuthorizedKeys(lines: string[]): { keys: AllowedKey[]; invalid: string[] } {
  const keys: AllowedKey[] = [];
  const invalid: string[] = [];
  for (const raw of lines.flatMap((l) => l.split("\n"))) {
    const line = raw.trim();
    if (!line || line.startsWith("#")) continue;
    const m = /(?:^|\s)((?:ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(?:256|384|521))\s+[A-Za-z0-9+/]+=*)(?:\s|$)/.exec(line);
    const parsed = m?.[1] ? ssh2.utils.parseKey(m[1]) : undefined;
    const key = Array.isArray(parsed) ? parsed[0] : parsed;
    if (!key || key instanceof Error) {
      invalid.push(line);
      continue;
    }
    keys.push({ blob: key.getPublicSSH(), key });
  }
  return { keys, invalid };
}

/** Signature algorithms a key type may authenticate with (RSA keys sign with SHA-2 variants). */
function algoFits(algo: string, type: string): boolean {
  return type === "ssh-rsa" ? ["ssh-rsa", "rsa-sha2-256", "rsa-sha2-512"].includes(algo) : algo === type;
}

/**
 * An OpenSSH-compatible server for one host: public-key auth against the registered keys only
 * (any user name, as every command runs as the sandbox's own OS user anyway), `exec` and `shell`
 * sessions wired to real processes with backpressure both ways, exit status or signal passed back.
 */
export class SshServer {
  readonly #init: SshServerInit;
  #keys: AllowedKey[] = [];
  #server: NetServer | undefined;
  readonly #children = new Set<HostProcess>();
  readonly #sockets = new Set<Socket>();
  #port: number;

  constructor(init: SshServerInit) {
    this.#init = init;
    this.#port = init.port;
  }

  get port(): number {
    return this.#port;
  }

  setAuthorizedKeys(keys: AllowedKey[]): void {
    this.#keys = keys;
  }

  async listen(): Promise<void> {
    if (this.#server) return;
    const ssh = new ssh2.Server({ hostKeys: [this.#init.hostKey], ident: this.#init.ident }, (client, info) => this.#onClient(client, info));
    // Our own listener so sockets get TCP_NODELAY from the start: without it every handshake
    // round trip waits out the peer's delayed ACK (about 40 ms each, 300 ms per `ssh host true`).
    const server = createServer({ noDelay: true }, (socket) => {
      if (this.#init.reachable?.() === false) return void socket.resetAndDestroy();
      this.#sockets.add(socket);
      socket.on("close", () => this.#sockets.delete(socket));
      const latency = this.#init.latencyMs ?? 0;
      ssh.injectSocket(latency > 0 ? (new DelayedLink(socket, latency) as unknown as Socket) : socket);
    });
    server.on("error", (error: Error) => this.#init.onError(error));
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.#port, this.#init.address, () => {
        server.off("error", reject);
        const bound = server.address();
        // Port 0 binds once; a restart (power cycle) reuses the port the host got first.
        if (typeof bound === "object" && bound) this.#port = bound.port;
        resolve();
      });
    });
    this.#server = server;
  }

  /** Stops listening, drops every connection (as a machine losing power does) and ends what their sessions started. */
  async close(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    for (const child of this.#children) terminate(child, 500);
    // Sockets, not just authenticated clients: one still in its handshake would hold close() open.
    for (const socket of this.#sockets) socket.destroy();
    if (!server) return;
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Drops every connection but keeps listening: the network went away, the machine did not. */
  dropConnections(): void {
    for (const socket of this.#sockets) socket.resetAndDestroy();
  }

  #authorize(ctx: ssh2.AuthContext): void {
    if (ctx.method !== "publickey") return ctx.reject(["publickey"]);
    const allowed = this.#keys.find((k) => k.blob.length === ctx.key.data.length && timingSafeEqual(k.blob, ctx.key.data));
    if (!allowed || !algoFits(ctx.key.algo, allowed.key.type)) return ctx.reject(["publickey"]);
    // Without a signature the client only asks whether the key would do; with one, it must verify.
    if (ctx.signature && ctx.blob && allowed.key.verify(ctx.blob, ctx.signature, ctx.hashAlgo) !== true) return ctx.reject(["publickey"]);
    ctx.accept();
  }

  #onClient(client: ssh2.Connection, info: ssh2.ClientInfo): void {
    client.on("error", () => {});
    let username = "root";
    client.on("authentication", (ctx) => {
      username = ctx.username;
      this.#authorize(ctx);
    });
    client.on("ready", () => {
      client.on("session", (acceptSession) => {
        const session = acceptSession();
        let pty: PtySize | undefined;
        const env: Record<string, string> = {};
        session.on("pty", (accept, reject, p) => {
          if (!ptySupported()) return reject?.();
          pty = { term: p.term, rows: p.rows, cols: p.cols };
          accept?.();
        });
        session.on("env", (accept, _reject, e) => {
          if (/^(LANG|LC_[A-Z_]+)$/.test(e.key)) env[e.key] = e.val;
          accept?.();
        });
        session.on("window-change", (accept) => accept?.());
        const start = (channel: ssh2.ServerChannel, command: string | undefined) => {
          const connection = `${info.ip} ${info.port} ${this.#init.address} ${this.#port}`;
          this.#attach(channel, this.#init.run({ username, command, pty, env, connection }));
        };
        session.on("exec", (accept, _reject, e) => start(accept(), e.command));
        session.on("shell", (accept) => start(accept(), undefined));
        session.on("subsystem", (_accept, reject) => reject());
      });
    });
  }

  /** Wires a process to a channel: stdio both ways with backpressure, then exit status, EOF and close. */
  #attach(channel: ssh2.ServerChannel, starting: Promise<HostProcess>): void {
    // The client may go away while the command starts: then it is hung up on as soon as it runs.
    let gone = false;
    channel.on("close", () => (gone = true));
    channel.on("error", () => {});
    starting.then((child) => {
      this.#children.add(child);
      const { stdin, stdout, stderr } = child;
      channel.pipe(stdin);
      stdout.pipe(channel, { end: false });
      stderr.pipe(channel.stderr, { end: false });
      // The client went away (ssh killed, connection dropped): hang up on the command like sshd does.
      if (gone || !this.#server) terminate(child);
      else channel.on("close", () => terminate(child));
      child.on("close", (code, signal) => {
        this.#children.delete(child);
        void Promise.all([flushed(channel), flushed(channel.stderr)]).then(() => {
          if (signal) channel.exit(signal.replace(/^SIG/, ""), false, "");
          else channel.exit(code ?? 1);
          channel.end();
        });
      });
    }, (error: Error) => {
      channel.stderr.write(`sh: ${error.message}\n`);
      channel.exit(127);
      channel.end();
    });
  }
}
