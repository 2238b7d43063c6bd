export interface PreparedCluster {
  /** The cluster's own directory (data dir and socket go inside); delete it when done. */
  dir: string;
  /** Directory holding initdb and postgres. */
  bin: string;
  /** cwd, and as root the uid/gid of the user the server runs as: spawn initdb and postgres with these. */
  spawnOptions: { cwd: string; uid?: number; gid?: number };
}

export function prepareCluster(prefix: string): Promise<PreparedCluster>;
