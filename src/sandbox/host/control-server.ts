import { timingSafeEqual } from "node:crypto";
import { once } from "node:events";
import { createReadStream } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { readAll } from "../../lib/read-all.js";
import { closeServer, listen } from "../util.js";
import { CONTAINER_NAME, type SimAgent } from "./agent.js";
import { parseLogTime, TIMESTAMP_WIDTH, type LogEntry } from "./agent-log.js";
import { inspectView, psView } from "./container-view.js";

/**
 * The "daemon" the `docker` shim talks to: a small HTTP API on the host's own address, shaped
 * after Docker Engine's paths, served from the sandbox process because the agent lives there.
 * Each host has a random token that only its commands receive (in their environment), so one
 * host's commands cannot stop another host's agent by accident.
 */
export interface ControlServerInit {
  agent: SimAgent;
  hostId: string;
  address: string;
  token: string;
  healthPort: () => number | null;
  now: () => Date;
}

export interface ControlServer {
  url: string;
  close(): Promise<void>;
}

export async function startControlServer(init: ControlServerInit): Promise<ControlServer> {
  const expected = Buffer.from(init.token);
  const server: Server = createServer((req, res) => {
    const given = Buffer.from(String(req.headers["x-automna-host-token"] ?? ""));
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return send(res, 401, { message: "unauthorized" });
    route(init, req, res).catch((error: unknown) => {
      // A failure mid-stream (logs) can no longer become a 500: cut the stream instead of throwing.
      if (res.headersSent) res.destroy(error as Error);
      else send(res, 500, { message: (error as Error).message });
    });
  });
  server.keepAliveTimeout = 1000;
  const port = await listen(server, 0, init.address);
  return {
    url: `http://${init.address}:${port}`,
    close: () => closeServer(server),
  };
}

async function route(init: ControlServerInit, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? "/", "http://host");
  const { agent } = init;
  const host = { id: init.hostId, address: init.address, healthPort: init.healthPort() };
  if (req.method === "GET" && url.pathname === "/containers/json") {
    const all = url.searchParams.get("all") === "1";
    return send(res, 200, agent.exists && (agent.running || all) ? [psView(agent, host, init.now())] : []);
  }
  if (req.method === "POST" && url.pathname === "/containers/create") return create(agent, url.searchParams.get("name") ?? "", await readJson(req), res);
  const m = /^\/containers\/([^/]+)(?:\/(json|logs|start|stop|restart))?$/.exec(url.pathname);
  if (!m) return send(res, 404, { message: "page not found" });
  const name = decodeURIComponent(m[1] ?? "");
  if (!agent.exists || !matches(name, agent.describe().id)) return send(res, 404, { message: `No such container: ${name}` });
  const action = m[2];
  if (action === undefined) {
    if (req.method !== "DELETE") return send(res, 405, { message: "method not allowed" });
    const removed = await agent.remove(url.searchParams.get("force") === "1");
    if (removed === "running") return send(res, 409, { message: `cannot remove container "/${CONTAINER_NAME}": container is running: stop the container before removing or force remove` });
    return send(res, removed === "removed" ? 204 : 404, removed === "removed" ? undefined : { message: `No such container: ${name}` });
  }
  if (req.method === "GET" && action === "json") return send(res, 200, inspectView(agent, host));
  if (req.method === "GET" && action === "logs") return streamLogs(init, url.searchParams, req, res);
  if (req.method !== "POST") return send(res, 405, { message: "method not allowed" });
  if (action === "start") return send(res, (await agent.start(true)) ? 204 : 304);
  if (action === "stop") return send(res, (await agent.stop(true)) ? 204 : 304);
  await agent.stop(false);
  await agent.start(true);
  return send(res, 204);
}

/**
 * `docker run` (create and start in one): the one container a sandbox host has, re-created
 * with the given image and environment; the agent's log and /data carry on.
 */
async function create(agent: SimAgent, name: string, body: unknown, res: ServerResponse): Promise<void> {
  const spec = body as { Image?: unknown; Env?: unknown } | undefined;
  const env = Array.isArray(spec?.Env) ? spec.Env.filter((e): e is string => typeof e === "string") : [];
  if (typeof spec?.Image !== "string" || !spec.Image) return send(res, 400, { message: "no image given" });
  if (name.replace(/^\//, "") !== CONTAINER_NAME) return send(res, 400, { message: `a sandbox host runs only the ${CONTAINER_NAME} container, not "${name}"` });
  if (!(await agent.run({ image: spec.Image, env }))) {
    return send(res, 409, { message: `Conflict. The container name "/${CONTAINER_NAME}" is already in use by container "${agent.describe().id}". You have to remove (or rename) that container to be able to reuse that name.` });
  }
  return send(res, 201, { Id: agent.describe().id, Warnings: [] });
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const raw = await readAll(req);
  try {
    return JSON.parse(raw.toString("utf8")) as unknown;
  } catch {
    return undefined;
  }
}

function matches(name: string, id: string): boolean {
  const n = name.replace(/^\//, "");
  return n === CONTAINER_NAME || (/^[0-9a-f]+$/.test(n) && id.startsWith(n));
}

/**
 * `docker logs`: the entries matching since/until/tail, then with `follow` every new entry until
 * the agent stops (as `docker logs -f` ends when its container stops) or the client goes away.
 */
async function streamLogs(init: ControlServerInit, q: URLSearchParams, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const now = init.now();
  const since = q.get("since") ? parseLogTime(q.get("since") ?? "", now) : undefined;
  const until = q.get("until") ? parseLogTime(q.get("until") ?? "", now) : undefined;
  if (since === undefined && q.get("since")) return send(res, 400, { message: `invalid value for "since": ${q.get("since")}` });
  if (until === undefined && q.get("until")) return send(res, 400, { message: `invalid value for "until": ${q.get("until")}` });
  const tailRaw = q.get("tail") ?? "all";
  const tail = tailRaw === "all" ? undefined : Number(tailRaw);
  if (tail !== undefined && (!Number.isInteger(tail) || tail < 0)) return send(res, 400, { message: `invalid value for "tail": ${tailRaw}` });
  const stamps = q.get("timestamps") === "1";
  const follow = q.get("follow") === "1" && until === undefined;
  const format = (e: LogEntry) => (stamps ? `${e.time} ${e.line}\n` : `${e.line}\n`);
  res.writeHead(200, { "content-type": "text/plain; charset=utf-8" });

  // Subscribe before reading, and drop live entries the read already returned: nothing between
  // the read and the subscription can be lost or printed twice.
  const live: LogEntry[] = [];
  let last = "";
  let streaming = false;
  let stopped = false;
  let unsubscribe = () => {};
  const write = (e: LogEntry) => {
    if (e.time > last && (!since || e.time >= since)) {
      last = e.time;
      res.write(format(e));
    }
  };
  const finish = () => {
    unsubscribe();
    res.end();
  };
  if (follow && init.agent.running) {
    unsubscribe = init.agent.subscribe((e) => (streaming ? write(e) : live.push(e)), () => {
      stopped = true;
      if (streaming) finish();
    });
    req.on("close", () => unsubscribe());
  }
  if (stamps && since === undefined && until === undefined && tail === undefined) {
    // The whole log with timestamps is the files' bytes as they are: stream them (a big log
    // would otherwise be parsed into objects and joined into one string first).
    last = await streamFiles(init.agent.logFiles(), res);
  } else {
    const entries = await init.agent.readLogs({ since, until, tail });
    res.write(entries.map(format).join(""));
    // With `--tail 0` the read returns nothing, yet what is already in the file is not "new".
    last = entries.at(-1)?.time ?? (tail === 0 ? ((await init.agent.readLogs({ tail: 1 }))[0]?.time ?? "") : "");
  }
  if (!follow || !init.agent.running || stopped) {
    for (const e of follow ? live : []) write(e);
    return finish();
  }
  for (const e of live) write(e);
  streaming = true;
}

/**
 * Copies the files to the response as they are, honouring back-pressure, and returns the time of
 * the last complete line sent (what a follow continues after).
 */
async function streamFiles(files: string[], res: ServerResponse): Promise<string> {
  let tailBytes = Buffer.alloc(0);
  for (const file of files) {
    const stream = createReadStream(file, { highWaterMark: 256 * 1024 });
    try {
      for await (const chunk of stream) {
        const buf = chunk as Buffer;
        tailBytes = Buffer.concat([tailBytes, buf]).subarray(-512);
        if (!res.write(buf)) await once(res, "drain");
      }
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    }
  }
  const lines = tailBytes.toString("utf8").split("\n").filter((l) => l.length > TIMESTAMP_WIDTH);
  return lines.at(-1)?.slice(0, TIMESTAMP_WIDTH) ?? "";
}

function send(res: ServerResponse, status: number, body?: unknown): void {
  if (body === undefined) {
    res.writeHead(status).end();
    return;
  }
  res.writeHead(status, { "content-type": "application/json" }).end(`${JSON.stringify(body, null, 4)}\n`);
}
