/**
 * Every byte a stream yields until it ends (piped stdin, a remote command's input). The one
 * copy of this loop: callers that want text decode the Buffer themselves.
 */
export async function readAll(stream: AsyncIterable<unknown>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Buffer));
  return Buffer.concat(chunks);
}
