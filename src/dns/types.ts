/**
 * DNS routing for agents: one record per user, pointing at the VM's address (A/AAAA) or at the
 * Fly app's hostname (CNAME). Providers implement DnsProvider; the migration engine only sees this.
 */

export type DnsRecordType = "A" | "AAAA" | "CNAME";

export interface DnsRecordInput {
  /** Fully qualified name, e.g. `alice.agents.example.com`. */
  name: string;
  type: DnsRecordType;
  /** An IPv4 address (A), an IPv6 address (AAAA) or a hostname (CNAME). */
  content: string;
  /** Seconds; 1 means the provider's automatic TTL. Default 60, short for cut-overs. */
  ttl?: number;
  /** `name:value` labels, e.g. `automna-user:alice`. */
  tags?: string[];
}

/** A record as the provider reports it (read back after every write). */
export interface DnsRecord {
  id: string;
  name: string;
  type: string;
  content: string;
  ttl: number;
  proxied: boolean;
  tags: string[];
  comment: string | undefined;
  modifiedOn: string;
}

export type CredentialCheck = { ok: true } | { ok: false; reason: string };

export interface DnsProvider {
  readonly id: string;
  /**
   * Makes `name` resolve to `content` with exactly one A, AAAA or CNAME record, removing records
   * of the other routing types first (a CNAME cannot share its name), then reads it back and
   * verifies it. Returns what was read back.
   */
  upsertRecord(input: DnsRecordInput): Promise<DnsRecord>;
  /** Every record with this exact name. */
  getRecords(name: string): Promise<DnsRecord[]>;
  /** Deletes every record with this exact name; returns how many. */
  deleteRecords(name: string): Promise<number>;
  /** Every record automna made (labelled `automna-user:<user>` in its comment or tags), zone-wide. */
  listManaged(): Promise<DnsRecord[]>;
  /** Deletes one record by id (one already gone is not an error). */
  deleteRecord(id: string): Promise<void>;
  checkCredentials(): Promise<CredentialCheck>;
  close(): Promise<void>;
}
