import type { Config } from "../../lib/config.js";
import type { StorageClient } from "../../lib/s3-objects.js";
import type { ImportCandidate, ProviderImport, ProviderInstance } from "../types.js";
import { cloudflareSandbox } from "./manifest.js";
import { MARKER_PREFIX, parseDataLocation, templatePrefix, type SandboxMarker } from "./data.js";

const SANDBOX_ID = /^[a-z2-7]{1,128}$/;

/**
 * Taking over sandboxes a Worker's Durable Objects made. The bridge cannot say whether an ID is in
 * use (any valid ID gets a container), so a sandbox "exists" when its data prefix holds objects;
 * the mapping's data column names the prefix (else the config's template). automna's record of
 * it is a marker object in the bucket, since the bridge keeps none.
 */
export class CloudflareImport implements ProviderImport {
  readonly idLabel = "sandbox id";
  readonly dataLocations: readonly string[] = [];
  readonly #config: Config;
  readonly #r2: () => StorageClient;
  readonly #describe: (m: SandboxMarker) => ProviderInstance;

  constructor(config: Config, r2: () => StorageClient, describe: (m: SandboxMarker) => ProviderInstance) {
    this.#config = config;
    this.#r2 = r2;
    this.#describe = describe;
  }

  checkId(id: string): string | undefined {
    return SANDBOX_ID.test(id) ? undefined : `sandbox id ${id} is not one the bridge accepts ([a-z2-7], 1 to 128 characters)`;
  }

  checkData(_user: string, data: string): string | undefined {
    const place = parseDataLocation(this.#config, data);
    return typeof place === "string" ? place : undefined;
  }

  async lookup(id: string, row?: { user: string; data?: string | undefined }): Promise<ImportCandidate | undefined> {
    const marker = await this.#marker(id);
    const user = row?.user ?? marker?.user;
    if (!user) return undefined;
    const parsed = row?.data ? parseDataLocation(this.#config, row.data) : undefined;
    const place = parsed && typeof parsed !== "string" ? parsed : { bucket: this.#config.getString("cloudflareSandbox.bucket") ?? "automna", prefix: templatePrefix(this.#config, user) };
    if (place.bucket !== (this.#config.getString("cloudflareSandbox.bucket") ?? "automna")) return undefined;
    if (!(await this.#r2().listObjects(place.prefix)).length) return undefined;
    const m: SandboxMarker = marker ?? { user, opId: "", sandbox: id, bucket: place.bucket, prefix: place.prefix, size: cloudflareSandbox.defaultSize, origin: "imported" };
    return { name: id, id, instance: this.#describe(m), markedUser: marker?.user ?? null, agentImage: null };
  }

  /** The bridge cannot list sandboxes: `--match` has nothing to read. */
  listAll(): Promise<ImportCandidate[]> {
    return Promise.resolve([]);
  }

  async mark(instance: ProviderInstance, user: string, opId: string): Promise<void> {
    const { sandbox, bucket, prefix } = instance.resources;
    const m: SandboxMarker = { user, opId, sandbox: sandbox!, bucket: bucket!, prefix: prefix!, size: instance.size, origin: "imported" };
    await this.#r2().putObject(`${MARKER_PREFIX}${sandbox!}.json`, JSON.stringify(m));
  }

  async #marker(id: string): Promise<SandboxMarker | undefined> {
    const text = await this.#r2().getText(`${MARKER_PREFIX}${id}.json`);
    try {
      return text ? (JSON.parse(text) as SandboxMarker) : undefined;
    } catch {
      return undefined;
    }
  }
}
