// The sandbox's process starter (see spawner.ts): a small node process that starts the hosts'
// commands on the sandbox process's behalf. Forking costs in proportion to the forking process's
// memory, and this one stays small. For each request it opens three connections to the sandbox
// process's socket (each first names the command and which of stdin, stdout and stderr it is),
// starts the command with them as its stdio, closes its own copies and reports the pid, then
// the exit. The data never passes through here. Self-contained, so it runs as one file.
import { spawn } from "node:child_process";
import { connect, type Socket } from "node:net";

interface Request {
  id: number;
  file: string;
  args: string[];
  cwd: string;
  env: Record<string, string>;
}

const [named = "", token = ""] = process.argv.slice(2);
/** A leading "@" names an abstract socket (its real name starts with a NUL byte). */
const address = named.replace(/^@/, "\0");

/** To the sandbox process, while it is there; once it is gone, this ends when its last command does. */
function report(message: object): void {
  // With a callback, a sandbox process that went between the check and the write is not an
  // uncaught error here (the command's exit has nobody left to tell).
  if (process.connected) process.send?.(message, undefined, undefined, () => {});
}

function open(id: number, fd: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(address, () => socket.write(`${token} ${id} ${fd}\n`, () => resolve(socket)));
    socket.on("error", reject);
  });
}

async function start(request: Request): Promise<void> {
  const { id } = request;
  const stdio = await Promise.all([0, 1, 2].map((fd) => open(id, fd)));
  let child;
  try {
    child = spawn(request.file, request.args, { cwd: request.cwd, env: request.env, stdio, detached: true });
  } finally {
    // The command holds its own copies now; this process must not read what is meant for it.
    for (const socket of stdio) socket.destroy();
  }
  child.on("error", (error: NodeJS.ErrnoException) => report({ id, error: { code: error.code, message: error.message } }));
  if (child.pid === undefined) return;
  report({ id, pid: child.pid });
  child.on("exit", (code, signal) => report({ id, code, signal }));
}

process.on("message", (request: Request) => {
  start(request).catch((error: Error) => report({ id: request.id, error: { code: "ESPAWNER", message: error.message } }));
});
