/**
 * Every byte a stream yields until it ends (piped stdin, a remote command's input, a request
 * body). The one copy of this loop: callers that want text decode the Buffer themselves.
 */
export async function readAll(stream: AsyncIterable<unknown>): Promise<Buffer> {
  return (await readAllWithin(stream, Infinity))!;
}

/**
 * Like readAll, but null as soon as more than `limit` bytes have arrived (the rest is not read:
 * leaving the loop early destroys the stream).
 */
export async function readAllWithin(stream: AsyncIterable<unknown>, limit: number): Promise<Buffer | null> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    const bytes = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string | Uint8Array);
    size += bytes.length;
    if (size > limit) return null;
    chunks.push(bytes);
  }
  return Buffer.concat(chunks, size);
}
