import { createHash, randomBytes } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { Readable } from "node:stream";
import type { ObjectStore } from "../s3-store.js";
import { sandboxIdForUser } from "../../lib/base32.js";
import { newSandbox, type CfWorld } from "./state.js";

/** Where the seeded fleet's Worker mounts each user's prefix (under /workspace, so persist covers it too). */
export const DATA_MOUNT = "/workspace/data";

/** A user's sandbox ID as the seeded fleet's Durable Objects chose it: base32 of a hash of the user id. */
export function seededSandboxId(user: string): string {
  return sandboxIdForUser(user);
}

/** What an agent keeps: JSON memory, binary blobs (every byte value), notes. Deterministic per user. */
function agentFiles(user: string): Record<string, Buffer> {
  const blob = (n: number): Buffer => {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = i % 256;
    return Buffer.concat([b, createHash("sha256").update(`${user}:${n}`).digest(), randomBytes(64)]);
  };
  return {
    "memory/profile.json": Buffer.from(JSON.stringify({ user, plan: "pro", since: "2026-03-01" })),
    "memory/conversations.json": Buffer.from(JSON.stringify(Array.from({ length: 20 }, (_, i) => ({ i, text: `message ${i} of ${user}` })))),
    "blobs/embedding.bin": blob(4096),
    "blobs/attachment with space.bin": blob(1500),
    "notes/todo.md": Buffer.from(`# ${user}\n- migrate off Cloudflare Sandbox\n`),
  };
}

export interface SeededUser {
  user: string;
  sandbox: string;
  /** `r2://<bucket>/<prefix>`, the data location a mapping row names. */
  data: string;
}

/**
 * Makes `count` Cloudflare Sandbox users the way a fleet built on Durable Objects has them: a
 * sandbox ID per user (asleep: no container until the first request), the Worker mounting
 * `users/<user>/` of the bucket at /workspace/data on every start and the image starting the
 * agent, and the user's data already in the bucket. Users already seeded keep their data. Writes
 * the mapping `automna import --from-file` reads to `mappingFile`.
 */
export async function seedCloudflareUsers(w: CfWorld, store: ObjectStore, bucket: string, count: number, mappingFile: string): Promise<SeededUser[]> {
  const users: SeededUser[] = [];
  for (let i = 1; i <= count; i++) {
    const user = `cf-user-${i}`;
    const id = seededSandboxId(user);
    const prefix = `users/${user}/`;
    const known = w.sandboxes[id];
    if (!known?.bootMount) {
      for (const [path, bytes] of Object.entries(agentFiles(user))) {
        const digest = createHash("sha256").update(bytes).digest("base64");
        await store.put(bucket, `${prefix}${path}`, Readable.from([bytes]), {
          contentLength: bytes.length, object: { contentType: "application/octet-stream", headers: {}, userMeta: {} },
          checksum: { algorithm: "sha256", expected: () => digest },
        });
      }
      w.sandboxes[id] = { ...newSandbox(id), bootMount: { bucket, prefix, mountPath: DATA_MOUNT, readOnly: false }, agentOnBoot: true };
    }
    users.push({ user, sandbox: id, data: `r2://${bucket}/${prefix}` });
  }
  w.maxInstances = Math.max(w.maxInstances, count);
  const csv = ["user,provider,id,data", ...users.map((u) => `${u.user},cloudflare-sandbox,${u.sandbox},${u.data}`)].join("\n");
  await writeFile(mappingFile, `${csv}\n`);
  return users;
}
