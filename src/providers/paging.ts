/**
 * Page-numbered lists (Hetzner `page`/`per_page` with `meta.pagination`, DigitalOcean
 * `page`/`per_page` with `links.pages`): once the first page says which page is the last, the
 * rest are fetched a few at a time instead of one after another, so 10,000 servers in pages of
 * 50 take a fraction of 200 round trips. Without a last page it follows `next` one by one. Each
 * page is mapped as it arrives, so the raw provider JSON of a big list is not all held at once.
 */
export interface NumberedPage<T> {
  items: T[];
  /** The next page number, null on the last page. */
  next: number | null;
  /** The last page number, when the provider says. */
  last: number | null;
}

const FAN_OUT = 6;

export async function allPages<T>(fetchPage: (page: number) => Promise<NumberedPage<T>>): Promise<T[]> {
  const first = await fetchPage(1);
  if (first.next === null) return first.items;
  if (first.last === null || first.last < first.next) {
    const out = [...first.items];
    let page: NumberedPage<T> = first;
    let at = 1;
    while (page.next !== null && page.next > at && page.items.length > 0) {
      at = page.next;
      page = await fetchPage(at);
      out.push(...page.items);
    }
    return out;
  }
  const pages: T[][] = [first.items];
  let next = first.next;
  const last = first.last;
  const worker = async (): Promise<void> => {
    while (next <= last) {
      const n = next++;
      pages[n - 1] = (await fetchPage(n)).items;
    }
  };
  await Promise.all(Array.from({ length: Math.min(FAN_OUT, last - first.next + 1) }, worker));
  return pages.flat();
}
