/**
 * A small RFC 4180 reader for tests: quoted fields with doubled quotes, commas and line breaks
 * inside quotes, CRLF or LF record ends. It refuses what RFC 4180 does not allow (a quote inside
 * an unquoted field, text after a closing quote), so a sloppy writer fails the test.
 */
export function parseCsv(text: string): string[][] {
  const records: string[][] = [];
  let record: string[] = [];
  let field = "";
  let i = 0;
  let quoted = false;
  let atFieldStart = true;
  const endField = (): void => {
    record.push(field);
    field = "";
    atFieldStart = true;
  };
  while (i < text.length) {
    const ch = text[i]!;
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        field += '"';
        i += 2;
      } else if (ch === '"') {
        quoted = false;
        i++;
        const next = text[i];
        if (next !== undefined && next !== "," && next !== "\r" && next !== "\n") throw new Error(`CSV: text after a closing quote at ${i}`);
      } else {
        field += ch;
        i++;
      }
      continue;
    }
    if (ch === '"') {
      if (!atFieldStart) throw new Error(`CSV: quote inside an unquoted field at ${i}`);
      quoted = true;
      atFieldStart = false;
      i++;
    } else if (ch === ",") {
      endField();
      i++;
    } else if (ch === "\r" || ch === "\n") {
      endField();
      records.push(record);
      record = [];
      i += ch === "\r" && text[i + 1] === "\n" ? 2 : 1;
    } else {
      field += ch;
      atFieldStart = false;
      i++;
    }
  }
  if (quoted) throw new Error("CSV: unterminated quoted field");
  if (field !== "" || record.length > 0) {
    endField();
    records.push(record);
  }
  return records;
}

/** Records as objects keyed by the header row. */
export function csvObjects(text: string): Record<string, string>[] {
  const [header, ...rows] = parseCsv(text);
  if (!header) return [];
  return rows.map((row) => {
    if (row.length !== header.length) throw new Error(`CSV: a record has ${row.length} fields, the header ${header.length}`);
    return Object.fromEntries(header.map((h, i) => [h, row[i]!]));
  });
}
