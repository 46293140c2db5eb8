/** A scrape waits at most this long for the bus; past it a gauge keeps its last values. */
const SCRAPE_ASK_TIMEOUT_MS = 500;

/**
 * What `ask` answers within half a second, or undefined when it fails or is late (NATS away): a
 * gauge read at scrape time then keeps its last values, and the bus-disconnected alert says why.
 * Leaves no timer behind.
 */
export async function askAtScrape<T>(ask: Promise<T>): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<undefined>((resolve) => (timer = setTimeout(resolve, SCRAPE_ASK_TIMEOUT_MS, undefined)));
  try {
    return await Promise.race([ask.catch(() => undefined), late]);
  } finally {
    clearTimeout(timer);
  }
}
