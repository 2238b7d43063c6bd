/**
 * What differs between the two databases' SQL, and only that: three column names (`user`,
 * `start` and `end` are keywords in PostgreSQL, whose schema says `user_id`, `start_at`, `end_at`),
 * placeholders (`?` against `$1`), row locks (PostgreSQL's FOR UPDATE; SQLite's writers are
 * serialised already) and how a list is passed as one parameter.
 */
export interface Dialect {
  readonly name: "sqlite" | "postgres";
  /** The statement in this database's terms (memoised: the same texts are run again and again). */
  sql(text: string): string;
  /** A clause matching `column` against a list passed as one parameter (one `?`), and that parameter. */
  oneOf(column: string, values: readonly string[]): { clause: string; param: unknown };
}

const COLUMNS = {
  sqlite: { user: "user", start: "start", end: "end" },
  postgres: { user: "user_id", start: "start_at", end: "end_at" },
} as const;

function memoised(translate: (text: string) => string): (text: string) => string {
  const cache = new Map<string, string>();
  return (text) => {
    let sql = cache.get(text);
    if (sql === undefined) {
      sql = translate(text);
      cache.set(text, sql);
    }
    return sql;
  };
}

const columns = (names: Record<string, string>) => (text: string): string => text.replace(/\{(user|start|end)\}/g, (_, k: string) => names[k]!);

export const SQLITE: Dialect = {
  name: "sqlite",
  sql: memoised((text) => columns(COLUMNS.sqlite)(text).replace(/ FOR UPDATE\b/g, "")),
  oneOf: (column, values) => ({ clause: `${column} IN (SELECT value FROM json_each(?))`, param: JSON.stringify(values) }),
};

export const POSTGRES: Dialect = {
  name: "postgres",
  sql: memoised((text) => {
    let n = 0;
    return columns(COLUMNS.postgres)(text).replace(/\?/g, () => `$${++n}`);
  }),
  oneOf: (column, values) => ({ clause: `${column} = ANY(?::text[])`, param: values }),
};
