import { describe, expect, it } from "vitest";
import { allPages, type NumberedPage } from "../../src/providers/paging.js";

/** A numbered list of `total` items in pages of `per`, recording which pages were asked for. */
function pager(total: number, per: number, withLast: boolean) {
  const asked: number[] = [];
  const fetchPage = async (page: number): Promise<NumberedPage<number>> => {
    asked.push(page);
    await new Promise((r) => setTimeout(r, (page * 7) % 5));
    const last = Math.max(1, Math.ceil(total / per));
    const items = Array.from({ length: Math.max(0, Math.min(per, total - (page - 1) * per)) }, (_, i) => (page - 1) * per + i);
    return { items, next: page < last ? page + 1 : null, last: withLast ? last : null };
  };
  return { asked, fetchPage };
}

describe("allPages", () => {
  it("fetches the pages after the first concurrently when the last page is known, keeping their order", async () => {
    const p = pager(1234, 50, true);
    const all = await allPages(p.fetchPage);
    expect(all).toEqual(Array.from({ length: 1234 }, (_, i) => i));
    expect(p.asked[0]).toBe(1);
    expect([...p.asked].sort((a, b) => a - b)).toEqual(Array.from({ length: 25 }, (_, i) => i + 1));
  });

  it("follows next one page at a time when the last page is not said", async () => {
    const p = pager(120, 50, false);
    expect(await allPages(p.fetchPage)).toHaveLength(120);
    expect(p.asked).toEqual([1, 2, 3]);
  });

  it("asks once for a list that fits one page, and copes with an empty one", async () => {
    const one = pager(7, 50, true);
    expect(await allPages(one.fetchPage)).toHaveLength(7);
    const none = pager(0, 50, true);
    expect(await allPages(none.fetchPage)).toEqual([]);
    expect([one.asked, none.asked]).toEqual([[1], [1]]);
  });
});
