/**
 * WHERE and LIMIT builders shared by the SQLite and PostgreSQL stores: a clause is added only when
 * its filter is set. Clauses are written with one `?`; PostgreSQL's Where numbers it ($1, $2, ...).
 */
export class Where<P = unknown> {
  readonly clauses: string[] = [];
  readonly params: P[] = [];
  /** `numbered`: PostgreSQL placeholders ($1, $2, ...) instead of SQLite's `?`. */
  constructor(private readonly numbered = false) {}
  add(clause: string, value: P | undefined): this {
    if (value !== undefined) {
      this.params.push(value);
      this.clauses.push(this.numbered ? clause.replace("?", `$${this.params.length}`) : clause);
    }
    return this;
  }
  raw(clause: string, when: boolean | undefined): this {
    if (when) this.clauses.push(clause);
    return this;
  }
  toString(): string {
    return this.clauses.length ? ` WHERE ${this.clauses.join(" AND ")}` : "";
  }
}

export function limitClause(limit: number | undefined): string {
  return limit === undefined ? "" : ` LIMIT ${Math.max(0, Math.floor(limit))}`;
}
