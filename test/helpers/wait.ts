/**
 * Waits for something observable (a row, a line a worker wrote) by looking every `everyMs`, up to
 * `timeoutMs`: a bounded wait on state that has no event to await.
 */
export async function until<T>(what: string, read: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 20_000, everyMs = 25): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await read();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
