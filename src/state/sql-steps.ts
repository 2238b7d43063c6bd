/**
 * The store's rules are written once, as generators that yield the queries they need and receive
 * the answers (no I/O of their own): the SQLite store answers them synchronously inside one
 * BEGIN IMMEDIATE, so nothing else can run on its shared connection meanwhile; the PostgreSQL
 * store answers them asynchronously on one pooled connection. Neither store restates a rule.
 *
 * SQL is written once too, in SQLite's `?` placeholders with `{user}`, `{start}` and `{end}` for
 * the columns the two schemas name differently (see sql-dialect.ts). Rows come back as arrays in
 * the order the query lists its columns (rows.ts decodes them).
 */

/** One cell of a row: what either driver returns (text, number, bigint, Date, parsed JSON, null). */
export type Cell = unknown;

export type Query =
  | { kind: "rows"; sql: string; params: readonly unknown[] }
  /** Only the first row is wanted (SQLite stops stepping after it). */
  | { kind: "row"; sql: string; params: readonly unknown[] }
  | { kind: "run"; sql: string; params: readonly unknown[] }
  /**
   * Serialises lease changes (exclusive) against writes under a lease (shared) across every
   * process on the database, until the transaction ends. SQLite has nothing to do: BEGIN
   * IMMEDIATE already serialises every write.
   */
  | { kind: "lock"; user: string; exclusive: boolean };

export interface Answer {
  rows: Cell[][];
  changes: number;
}

export type Steps<T> = Generator<Query, T, Answer>;

export function* all<T>(sql: string, params: readonly unknown[], decode: (row: Cell[]) => T): Steps<T[]> {
  const answer = yield { kind: "rows", sql, params };
  return answer.rows.map(decode);
}

export function* first<T>(sql: string, params: readonly unknown[], decode: (row: Cell[]) => T): Steps<T | undefined> {
  const row = (yield { kind: "row", sql, params }).rows[0];
  return row === undefined ? undefined : decode(row);
}

/** Runs a statement; the number of rows it changed. */
export function* run(sql: string, params: readonly unknown[]): Steps<number> {
  return (yield { kind: "run", sql, params }).changes;
}

export function* lockUser(user: string, exclusive: boolean): Steps<void> {
  yield { kind: "lock", user, exclusive };
}

/** Drives steps to their result, answering each query synchronously. */
export function runSync<T>(steps: Steps<T>, answer: (query: Query) => Answer): T {
  let next = steps.next();
  while (!next.done) next = steps.next(answer(next.value));
  return next.value;
}

/** Drives steps to their result, answering each query in turn. */
export async function runAsync<T>(steps: Steps<T>, answer: (query: Query) => Promise<Answer>): Promise<T> {
  let next = steps.next();
  while (!next.done) next = steps.next(await answer(next.value));
  return next.value;
}
