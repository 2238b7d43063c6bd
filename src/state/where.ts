/**
 * WHERE and LIMIT builders for the stores' list queries: a clause is added only when its filter
 * is set. Clauses are written with one `?` (the dialect numbers them for PostgreSQL).
 */
export class Where {
  readonly clauses: string[] = [];
  readonly params: unknown[] = [];
  add(clause: string, value: unknown): this {
    if (value !== undefined) {
      this.params.push(value);
      this.clauses.push(clause);
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
