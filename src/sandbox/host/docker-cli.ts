// The `docker` command on sandbox hosts. It runs as its own process (node) under the SSH
// session's shell and talks to the host's control API, which the sandbox process serves beside
// the simulated agent. The host copies this program (types stripped when it runs from source) to
// its own bin directory, so it must be self-contained (one file, hence past 300 lines). Built-ins come from getBuiltinModule, not
// `import`: that halves node's start-up here, and every `docker` call pays it.
const { spawn } = process.getBuiltinModule("node:child_process");
const { request } = process.getBuiltinModule("node:http");

interface Reply {
  status: number;
  body: string;
}

type Flags = Record<string, string | boolean | string[]>;

interface FlagSpec {
  /** short or long name -> canonical name, for flags without a value */
  bools: Record<string, string>;
  /** short or long name -> canonical name, for flags taking a value */
  values: Record<string, string>;
}

class CliError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode: number) {
    super(message);
    this.exitCode = exitCode;
  }
}

const { createReadStream, readFileSync } = process.getBuiltinModule("node:fs");
const CONTROL = process.env.AUTOMNA_HOST_CONTROL ?? "";
const LOG_FILE = process.env.AUTOMNA_HOST_LOG ?? "";
const TOKEN = process.env.AUTOMNA_HOST_TOKEN ?? "";

function call(method: string, path: string, body?: unknown): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const headers = { "x-automna-host-token": TOKEN, ...(body === undefined ? {} : { "content-type": "application/json" }) };
    const req = request(`${CONTROL}${path}`, { method, headers }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", () => reject(new CliError("Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?", 1)));
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

function daemonError(reply: Reply): CliError {
  let message = reply.body.trim();
  try {
    message = (JSON.parse(reply.body) as { message: string }).message;
  } catch {
    // not JSON: print the body as is
  }
  return new CliError(`Error response from daemon: ${message}`, 1);
}

/** Flags that may be given more than once (a list). */
const REPEATABLE = new Set(["filter", "env", "envFile", "volume", "publish"]);

function parseFlags(command: string, args: string[], spec: FlagSpec): { flags: Flags; rest: string[] } {
  const flags: Flags = {};
  const rest: string[] = [];
  const set = (name: string, value: string | boolean) => {
    const prev = flags[name];
    flags[name] = REPEATABLE.has(name) ? [...(Array.isArray(prev) ? prev : []), String(value)] : value;
  };
  for (let i = 0; i < args.length; i += 1) {
    const a = args[i] ?? "";
    if (a === "--") {
      rest.push(...args.slice(i + 1));
      break;
    }
    // Docker stops parsing at the first operand for `exec` and `run` (the command's own flags follow).
    if (!a.startsWith("-") || a === "-") {
      if (command === "exec" || command === "run") {
        rest.push(...args.slice(i));
        break;
      }
      rest.push(a);
      continue;
    }
    const long = a.startsWith("--");
    const [name, inline] = long ? splitOnce(a.slice(2), "=") : [a.slice(1, 2), a.length > 2 ? a.slice(2) : undefined];
    const key = long ? `--${name}` : `-${name}`;
    if (spec.bools[key]) {
      set(spec.bools[key], true);
      // Combined short booleans: -ft
      if (!long && inline) args.splice(i + 1, 0, `-${inline}`);
    } else if (spec.values[key]) {
      const value = inline ?? args[++i];
      if (value === undefined) throw new CliError(`flag needs an argument: ${key}\nSee 'docker ${command} --help'.`, 125);
      set(spec.values[key], value);
    } else {
      throw new CliError(`unknown ${long ? "flag" : "shorthand flag"}: ${long ? key : `'${name}' in ${a}`}\nSee 'docker ${command} --help'.`, 125);
    }
  }
  return { flags, rest };
}

function splitOnce(s: string, sep: string): [string, string | undefined] {
  const i = s.indexOf(sep);
  return i < 0 ? [s, undefined] : [s.slice(0, i), s.slice(i + 1)];
}

/** The parts of Go's text/template that `--format` is used with: fields, `json`, `\t`. */
function renderTemplate(template: string, value: unknown): string {
  const text = template.replace(/\\t/g, "\t").replace(/\\n/g, "\n");
  return text.replace(/\{\{\s*(json\s+)?(\.[\w.]*)\s*\}\}/g, (_m, json: string | undefined, path: string) => {
    let v: unknown = value;
    for (const part of path.split(".").filter(Boolean)) v = v !== null && typeof v === "object" ? (v as Record<string, unknown>)[part] : undefined;
    if (json) return JSON.stringify(v ?? null);
    if (v === undefined) return "<no value>";
    if (v !== null && typeof v === "object") return Array.isArray(v) ? `[${v.map(String).join(" ")}]` : `map[${Object.entries(v).map(([k, x]) => `${k}:${typeof x === "object" ? JSON.stringify(x) : String(x)}`).join(" ")}]`;
    return String(v);
  });
}

function requireArgs(command: string, rest: string[], exactly: number | undefined, usage: string): void {
  if (exactly !== undefined ? rest.length !== exactly : rest.length === 0) {
    const what = exactly !== undefined ? `exactly ${exactly} argument` : "at least 1 argument";
    throw new CliError(`"docker ${command}" requires ${what}.\nSee 'docker ${command} --help'.\n\nUsage:  docker ${command} ${usage}`, 1);
  }
}

async function logs(args: string[]): Promise<number> {
  const { flags, rest } = parseFlags("logs", args, {
    bools: { "-f": "follow", "--follow": "follow", "-t": "timestamps", "--timestamps": "timestamps", "--details": "details" },
    values: { "--since": "since", "--until": "until", "-n": "tail", "--tail": "tail" },
  });
  requireArgs("logs", rest, 1, "[OPTIONS] CONTAINER");
  // The whole log with timestamps is the files as they are (rotated one first): copy them, as
  // docker reads its own log files. A follow then asks the daemon only for what came after the
  // last line copied (times are strictly increasing, so that one line is the only overlap).
  const whole = flags.timestamps && !flags.details && !["since", "until", "tail"].some((k) => typeof flags[k] === "string");
  if (whole && LOG_FILE && rest[0] === "automna-agent") {
    const last = await copyFiles([`${LOG_FILE}.1`, LOG_FILE]);
    if (!flags.follow || last === null) return 0;
    const q = new URLSearchParams({ follow: "1", timestamps: "1" });
    if (last) q.set("since", last);
    return streamLogs(`/containers/automna-agent/logs?${q.toString()}`, last);
  }
  const q = new URLSearchParams();
  if (flags.follow) q.set("follow", "1");
  if (flags.timestamps) q.set("timestamps", "1");
  for (const k of ["since", "until", "tail"]) if (typeof flags[k] === "string") q.set(k, flags[k]);
  return streamLogs(`/containers/${encodeURIComponent(rest[0] ?? "")}/logs?${q.toString()}`, "");
}

/** Streams the daemon's log response to stdout, dropping a first line stamped `skip` (already shown). */
function streamLogs(path: string, skip: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(`${CONTROL}${path}`, { headers: { "x-automna-host-token": TOKEN } }, (res) => {
      if (res.statusCode !== 200) {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => (body += c));
        res.on("end", () => reject(daemonError({ status: res.statusCode ?? 0, body })));
        return;
      }
      // The reader went away (the SSH channel closed): stop quietly, like docker does on EPIPE.
      process.stdout.on("error", () => {
        req.destroy();
        resolve(0);
      });
      res.on("end", () => resolve(0));
      if (!skip) {
        res.pipe(process.stdout);
        return;
      }
      let head: Buffer = Buffer.alloc(0);
      const first = (chunk: Buffer): void => {
        head = Buffer.concat([head, chunk]);
        const nl = head.indexOf(10);
        if (nl === -1) return;
        res.off("data", first);
        res.pause();
        const keep = head.subarray(0, skip.length + 1).toString("latin1") === `${skip} ` ? head.subarray(nl + 1) : head;
        if (keep.length) process.stdout.write(keep);
        res.pipe(process.stdout);
      };
      res.on("data", first);
      res.on("error", () => resolve(1));
    });
    req.on("error", () => reject(new CliError("Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?", 1)));
    req.end();
  });
}

/**
 * Copies the files to stdout as they are and resolves with the timestamp of the last complete line
 * ("" for none), or null when the reader went away (the SSH channel closed: stop quietly, like
 * docker does on EPIPE).
 */
function copyFiles(files: string[]): Promise<string | null> {
  return new Promise((resolve) => {
    process.stdout.on("error", () => resolve(null));
    let tail: Buffer = Buffer.alloc(0);
    const next = (i: number): void => {
      if (i >= files.length) {
        const lines = tail.toString("latin1").split("\n").slice(0, -1).filter((l) => /^\d{4}-\d\d-\d\dT[\d:.]+Z /.test(l));
        return resolve(lines.at(-1)?.split(" ")[0] ?? "");
      }
      const stream = createReadStream(files[i]!, { highWaterMark: 256 * 1024 });
      stream.on("data", (chunk) => {
        // Docker splits lines at 16 KiB, so the last complete line is within the last 64 KiB.
        const c = chunk as Buffer;
        tail = c.length >= 65536 ? c.subarray(-65536) : Buffer.concat([tail, c]).subarray(-65536);
      });
      stream.on("error", () => next(i + 1));
      stream.on("end", () => next(i + 1));
      stream.pipe(process.stdout, { end: false });
    };
    next(0);
  });
}

async function ps(args: string[]): Promise<number> {
  const { flags } = parseFlags("ps", args, {
    bools: { "-a": "all", "--all": "all", "-q": "quiet", "--quiet": "quiet", "--no-trunc": "notrunc", "-s": "size", "--size": "size" },
    values: { "--format": "format", "-f": "filter", "--filter": "filter", "-n": "last", "--last": "last" },
  });
  const reply = await call("GET", `/containers/json${flags.all ? "?all=1" : ""}`);
  if (reply.status !== 200) throw daemonError(reply);
  let rows = JSON.parse(reply.body) as Record<string, string>[];
  for (const f of Array.isArray(flags.filter) ? flags.filter : []) {
    const [k, v = ""] = splitOnce(f, "=");
    if (k === "name") rows = rows.filter((r) => (r.Names ?? "").includes(v.replace(/^\^?\/?/, "").replace(/\$$/, "")));
    else if (k === "status") rows = rows.filter((r) => r.State === v);
    else throw new CliError(`Error response from daemon: invalid filter '${k}'`, 1);
  }
  if (flags.quiet) return out(rows.map((r) => `${r.ID}\n`).join(""));
  const format = typeof flags.format === "string" ? flags.format : "table";
  if (format === "json") return out(rows.map((r) => `${JSON.stringify(r)}\n`).join(""));
  if (format.startsWith("table")) {
    const custom = format.slice(5).trim();
    const cols = custom
      ? [...custom.matchAll(/\{\{\s*\.(\w+)\s*\}\}/g)].map((m) => m[1] ?? "")
      : ["ID", "Image", "Command", "RunningFor", "Status", "Ports", "Names"];
    const headers: Record<string, string> = { ID: "CONTAINER ID", RunningFor: "CREATED", CreatedAt: "CREATED AT" };
    const trunc = (k: string, v: string) => (k === "Command" && !flags.notrunc && v.length > 22 ? `${v.slice(0, 20)}…"` : v);
    const table = [cols.map((c) => headers[c] ?? c.toUpperCase()), ...rows.map((r) => cols.map((c) => trunc(c, r[c] ?? "")))];
    const widths = cols.map((_, i) => Math.max(...table.map((row) => [...(row[i] ?? "")].length)));
    return out(table.map((row) => row.map((v, i) => (i === cols.length - 1 ? v : v.padEnd((widths[i] ?? 0) + 3))).join("").trimEnd() + "\n").join(""));
  }
  return out(rows.map((r) => `${renderTemplate(format, r)}\n`).join(""));
}

async function inspect(args: string[]): Promise<number> {
  const { flags, rest } = parseFlags("inspect", args, {
    bools: { "-s": "size", "--size": "size" },
    values: { "-f": "format", "--format": "format", "--type": "type" },
  });
  requireArgs("inspect", rest, undefined, "[OPTIONS] NAME|ID [NAME|ID...]");
  const found: unknown[] = [];
  const errors: string[] = [];
  for (const name of rest) {
    const reply = await call("GET", `/containers/${encodeURIComponent(name)}/json`);
    if (reply.status === 200) found.push(JSON.parse(reply.body));
    else errors.push(`Error: No such object: ${name}`);
  }
  if (typeof flags.format === "string") out(found.map((o) => `${renderTemplate(flags.format as string, o)}\n`).join(""));
  else out(`${JSON.stringify(found, null, 4)}\n`);
  if (errors.length) throw new CliError(errors.join("\n"), 1);
  return 0;
}

async function lifecycle(command: "start" | "stop" | "restart", args: string[]): Promise<number> {
  const { rest } = parseFlags(command, args, {
    bools: { "-a": "attach", "--attach": "attach", "-i": "interactive", "--interactive": "interactive" },
    values: { "-t": "time", "--time": "time", "-s": "signal", "--signal": "signal" },
  });
  requireArgs(command, rest, undefined, "[OPTIONS] CONTAINER [CONTAINER...]");
  const errors: string[] = [];
  for (const name of rest) {
    const reply = await call("POST", `/containers/${encodeURIComponent(name)}/${command}`);
    if (reply.status === 204 || reply.status === 304) out(`${name}\n`);
    else errors.push(daemonError(reply).message);
  }
  if (errors.length) throw new CliError(errors.join("\n"), 1);
  return 0;
}

/** `docker exec`: the container shares the host's /data, so its commands run in the host's environment at /data. */
async function exec(args: string[]): Promise<number> {
  const { rest } = parseFlags("exec", args, {
    bools: { "-i": "interactive", "--interactive": "interactive", "-t": "tty", "--tty": "tty", "-d": "detach", "--detach": "detach" },
    values: { "-e": "env", "--env": "env", "-u": "user", "--user": "user", "-w": "workdir", "--workdir": "workdir" },
  });
  if (rest.length < 2) requireArgs("exec", [], 2, "[OPTIONS] CONTAINER COMMAND [ARG...]");
  const reply = await call("GET", `/containers/${encodeURIComponent(rest[0] ?? "")}/json`);
  if (reply.status !== 200) throw daemonError(reply);
  const info = JSON.parse(reply.body) as { Id: string; State: { Running: boolean } };
  if (!info.State.Running) throw new CliError(`Error response from daemon: container ${info.Id} is not running`, 1);
  return new Promise((resolve) => {
    const cwd = process.env.AUTOMNA_ISOLATION === "mount-namespace" ? "/data" : process.env.AUTOMNA_DATA;
    const child = spawn(rest[1] ?? "true", rest.slice(2), { stdio: "inherit", cwd });
    child.on("error", (e) => {
      process.stderr.write(`OCI runtime exec failed: exec failed: ${e.message}: unknown\n`);
      resolve(126);
    });
    child.on("close", (code, signal) => resolve(code ?? (signal ? 128 + 15 : 1)));
  });
}

/** `docker rm [-f] NAME...`: Docker refuses a running container without -f. */
async function rm(args: string[]): Promise<number> {
  const { flags, rest } = parseFlags("rm", args, { bools: { "-f": "force", "--force": "force", "-v": "volumes", "--volumes": "volumes" }, values: {} });
  requireArgs("rm", rest, undefined, "[OPTIONS] CONTAINER [CONTAINER...]");
  const errors: string[] = [];
  for (const name of rest) {
    const reply = await call("DELETE", `/containers/${encodeURIComponent(name)}${flags.force ? "?force=1" : ""}`);
    if (reply.status === 204) out(`${name}\n`);
    else errors.push(daemonError(reply).message);
  }
  if (errors.length) throw new CliError(errors.join("\n"), 1);
  return 0;
}

/**
 * `docker run -d --name NAME [...] IMAGE`: as the real CLI, the env files are read here (on the
 * client) and the daemon gets `Env` as `K=V` words; mounts, ports and the restart policy are
 * checked and fixed by the host (its /data and health port).
 */
async function run(args: string[]): Promise<number> {
  const { flags, rest } = parseFlags("run", args, {
    bools: { "-d": "detach", "--detach": "detach", "--rm": "rm", "-i": "interactive", "-t": "tty" },
    values: { "--name": "name", "--restart": "restart", "-v": "volume", "--volume": "volume", "-p": "publish", "--publish": "publish", "--env-file": "envFile", "-e": "env", "--env": "env" },
  });
  requireArgs("run", rest, undefined, "[OPTIONS] IMAGE [COMMAND] [ARG...]");
  const list = (k: string): string[] => (Array.isArray(flags[k]) ? flags[k] : []);
  const env = [...list("envFile").flatMap(readEnvFile), ...list("env").flatMap(envWord)];
  const reply = await call("POST", `/containers/create?name=${encodeURIComponent(String(flags.name ?? ""))}`, { Image: rest[0], Env: env });
  if (reply.status !== 201) throw new CliError(`docker: ${daemonError(reply).message}\nSee 'docker run --help'.`, 125);
  return out(`${(JSON.parse(reply.body) as { Id: string }).Id}\n`);
}

/** Docker's env-file rules: `#` comments and blank lines skipped, `K=V` as is, a bare `K` from this environment. */
function readEnvFile(file: string): string[] {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    const code = (error as { code?: string }).code;
    const why = code === "ENOENT" ? "no such file or directory" : code === "EACCES" ? "permission denied" : (error as Error).message;
    throw new CliError(`docker: open ${file}: ${why}.\nSee 'docker run --help'.`, 125);
  }
  return text.split(/\r?\n/).map((l) => l.replace(/^\s+/, "")).filter((l) => l && !l.startsWith("#")).flatMap(envWord);
}

function envWord(word: string): string[] {
  const [key = "", value] = splitOnce(word, "=");
  if (/\s/.test(key)) throw new CliError(`docker: poorly formatted environment: variable '${key}' contains whitespaces.\nSee 'docker run --help'.`, 125);
  if (value !== undefined) return [word];
  const inherited = process.env[key];
  return inherited === undefined ? [] : [`${key}=${inherited}`];
}

function out(text: string): number {
  process.stdout.write(text);
  return 0;
}

async function main(argv: string[]): Promise<number> {
  const args = [...argv];
  if (args[0] === "container" && args.length > 1) args.shift();
  const [command = "", ...rest] = args;
  switch (command) {
    case "logs": return logs(rest);
    case "ps": case "ls": return ps(rest);
    case "inspect": return inspect(rest);
    case "start": case "stop": case "restart": return lifecycle(command, rest);
    case "exec": return exec(rest);
    case "rm": return rm(rest);
    case "run": return run(rest);
    case "--version": case "-v": return out("Docker version 27.3.1, build automna-sandbox\n");
    case "": case "--help": case "help":
      return out("Usage:  docker [OPTIONS] COMMAND\n\nSandbox host shim. Commands: logs, ps, inspect, start, stop, restart, exec, rm, run\n");
    default:
      throw new CliError(`docker: '${command}' is not a docker command.\nSee 'docker --help'`, 1);
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`${(error as Error).message}\n`);
    process.exitCode = error instanceof CliError ? error.exitCode : 1;
  },
);

// A module, not a script, for the type checker; nothing is exported.
export {};
