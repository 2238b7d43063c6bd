import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdir, readdir, readFile, rm } from "node:fs/promises";
import { dirname, join, relative, sep } from "node:path";
import { pipeline } from "node:stream/promises";
import { createWriteStream } from "node:fs";
import type { ObjectStore } from "../s3-store.js";
import type { CfMount } from "./state.js";

/** The files under a directory (relative paths with `/`), symlinks and other kinds left out as s3fs stores none. */
async function files(root: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return;
      throw error;
    }
    for (const e of entries) {
      const full = join(dir, e.name);
      if (e.isDirectory()) await walk(full);
      else if (e.isFile()) out.push(relative(root, full).split(sep).join("/"));
    }
  };
  await walk(root);
  return out;
}

const sha256 = async (path: string): Promise<Buffer> => createHash("sha256").update(await readFile(path)).digest();

/**
 * An s3fs mount as the stand-in keeps it: the prefix's objects copied into the container's
 * directory when mounted, and files written there uploaded when the stand-in flushes (after each
 * command, on a timer while the container runs, and before it stops), as s3fs uploads a file
 * once it is closed. Uploads carry a sha256 checksum, as R2 keeps one, so a listing plus HEAD
 * gives each object's sha256 without reading it.
 */
export class MountSync {
  readonly #store: ObjectStore;
  readonly #mount: CfMount;
  readonly #dir: string;
  /** What the bucket holds of this mount, as of the last download or flush: relative path -> sha256 (base64). */
  readonly #synced = new Map<string, string>();

  constructor(store: ObjectStore, mount: CfMount, dir: string) {
    this.#store = store;
    this.#mount = mount;
    this.#dir = dir;
  }

  get mount(): CfMount {
    return this.#mount;
  }

  /** Copies every object under the prefix into the directory (the mount becomes visible). */
  async download(): Promise<void> {
    await mkdir(this.#dir, { recursive: true });
    let after: string | undefined;
    for (;;) {
      const page = await this.#store.list(this.#mount.bucket, { prefix: this.#mount.prefix, maxKeys: 1000, startAfter: after });
      for (const meta of page.objects) {
        const rel = meta.key.slice(this.#mount.prefix.length);
        if (!rel || rel.endsWith("/") || rel.split("/").some((p) => p === ".." || p === "." || p === "")) continue;
        const opened = await this.#store.open(this.#mount.bucket, meta.key);
        if (!opened) continue;
        const path = join(this.#dir, ...rel.split("/"));
        await mkdir(dirname(path), { recursive: true });
        await pipeline(opened.stream, createWriteStream(path));
        this.#synced.set(rel, meta.checksum?.algorithm === "sha256" ? meta.checksum.value : (await sha256(path)).toString("base64"));
      }
      if (!page.truncated) return;
      after = page.lastReturned;
    }
  }

  /** Uploads what changed in the directory and deletes what was removed (a read-only mount uploads nothing). */
  async flush(): Promise<void> {
    if (this.#mount.readOnly) return;
    const present = new Set<string>();
    for (const rel of await files(this.#dir)) {
      present.add(rel);
      const path = join(this.#dir, ...rel.split("/"));
      let digest: string;
      let size: number;
      try {
        const bytes = await readFile(path);
        digest = createHash("sha256").update(bytes).digest("base64");
        size = bytes.length;
      } catch {
        continue;
      }
      if (this.#synced.get(rel) === digest) continue;
      try {
        await this.#store.put(this.#mount.bucket, `${this.#mount.prefix}${rel}`, createReadStream(path), {
          contentLength: size, object: { contentType: "application/octet-stream", headers: {}, userMeta: {} },
          checksum: { algorithm: "sha256", expected: () => digest },
        });
        this.#synced.set(rel, digest);
      } catch {
        // Written again while it was read (the agent is busy): the next flush uploads it.
      }
    }
    for (const rel of [...this.#synced.keys()]) {
      if (present.has(rel)) continue;
      await this.#store.delete(this.#mount.bucket, `${this.#mount.prefix}${rel}`);
      this.#synced.delete(rel);
    }
  }

  /** The mount goes away (unmount): the directory is removed, the objects stay. */
  async remove(): Promise<void> {
    await rm(this.#dir, { recursive: true, force: true });
  }
}
