import { CONTAINER_NAME, type SimAgent } from "./agent.js";

/** The host path Docker bind-mounts at /data on automna's VM hosts (see cloud-init). */
export const HOST_DATA_PATH = "/var/lib/automna/data";
const NEVER = "0001-01-01T00:00:00Z";

/** `docker inspect automna-agent`, shaped like Docker's (the fields scripts read). */
export function inspectView(agent: SimAgent, host: { id: string; address: string; healthPort: number | null }): Record<string, unknown> {
  const d = agent.describe();
  const ports = host.healthPort === null ? {} : { [`${host.healthPort}/tcp`]: [{ HostIp: host.address, HostPort: String(host.healthPort) }] };
  return {
    Id: d.id,
    Created: d.createdAt,
    Path: "/usr/local/bin/automna-agent",
    Args: ["gateway"],
    State: {
      Status: d.running ? "running" : d.startedAt === NEVER ? "created" : "exited",
      Running: d.running,
      Paused: false,
      Restarting: false,
      OOMKilled: false,
      Dead: false,
      Pid: d.pid,
      ExitCode: d.running ? 0 : d.exitCode,
      Error: "",
      StartedAt: d.startedAt,
      FinishedAt: d.finishedAt,
    },
    Image: `sha256:${d.id.split("").reverse().join("")}`,
    Name: `/${CONTAINER_NAME}`,
    RestartCount: d.restartCount,
    Mounts: [{ Type: "bind", Source: HOST_DATA_PATH, Destination: "/data", Mode: "", RW: true, Propagation: "rprivate" }],
    HostConfig: { Binds: [`${HOST_DATA_PATH}:/data`], RestartPolicy: { Name: "always", MaximumRetryCount: 0 }, PortBindings: ports },
    Config: { Hostname: host.id, Image: d.image, Env: d.env, Labels: { "automna.managed": "true" }, ExposedPorts: host.healthPort === null ? {} : { [`${host.healthPort}/tcp`]: {} } },
    NetworkSettings: { Ports: ports },
  };
}

/** One `docker ps` row with the field names its `--format` templates use. */
export function psView(agent: SimAgent, host: { address: string; healthPort: number | null }, now: Date): Record<string, string> {
  const d = agent.describe();
  const ago = (iso: string) => humanDuration(now.getTime() - Date.parse(iso));
  const status = d.running ? `Up ${ago(d.startedAt)}` : d.startedAt === NEVER ? "Created" : `Exited (${d.exitCode}) ${ago(d.finishedAt)} ago`;
  return {
    ID: d.id.slice(0, 12),
    Image: d.image,
    Command: '"/usr/local/bin/automna-agent gateway"',
    CreatedAt: d.createdAt,
    RunningFor: `${ago(d.createdAt)} ago`,
    Status: status,
    State: d.running ? "running" : d.startedAt === NEVER ? "created" : "exited",
    Ports: d.running && host.healthPort !== null ? `${host.address}:${host.healthPort}->${host.healthPort}/tcp` : "",
    Names: CONTAINER_NAME,
    Mounts: HOST_DATA_PATH,
  };
}

/** Docker's (go-units) HumanDuration: "Less than a second", "About a minute", "3 hours". */
export function humanDuration(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s < 1) return "Less than a second";
  if (s === 1) return "1 second";
  if (s < 60) return `${s} seconds`;
  const m = Math.floor(s / 60);
  if (m === 1) return "About a minute";
  if (m < 60) return `${m} minutes`;
  const h = Math.round(s / 3600);
  if (h === 1) return "About an hour";
  if (h < 48) return `${h} hours`;
  if (h < 24 * 7 * 2) return `${Math.floor(h / 24)} days`;
  if (h < 24 * 30 * 2) return `${Math.floor(h / 24 / 7)} weeks`;
  if (h < 24 * 365 * 2) return `${Math.floor(h / 24 / 30)} months`;
  return `${Math.floor(h / 24 / 365)} years`;
}
