import type { ReplayHandler, ReplayOptions, ReplaySummary } from './bus';
import { BusError } from './errors';
import type { MemoryStream } from './memory-stream';
import { subjectMatches } from './subject';

/**
 * `Bus.replay` on an in-memory stream: sequences 1 to the last one at the call, skipping those a
 * work queue deleted. Each message is handed over on a later turn of the event loop, as over a
 * socket, so a handler that publishes to the stream is never re-entered.
 */
export async function replayMemory(stream: MemoryStream, handler: ReplayHandler, opts: ReplayOptions, isClosed: () => boolean): Promise<ReplaySummary> {
  const lastSeq = stream.last;
  const patterns = opts.subjects;
  let messages = 0;
  for (let seq = 1; seq <= lastSeq; seq++) {
    const m = stream.get(seq);
    if (!m) continue;
    if (patterns && patterns.length > 0 && !patterns.some((p) => subjectMatches(p, m.subject))) continue;
    await new Promise<void>((resolve) => setImmediate(resolve));
    if (isClosed()) throw new BusError('closed', `replay ${stream.config.name}: bus closed after ${messages} messages, before sequence ${lastSeq}`);
    await handler({
      stream: stream.config.name,
      subject: m.subject,
      data: new Uint8Array(m.data),
      headers: { ...m.headers },
      seq: m.seq,
      ...(m.msgId !== undefined ? { msgId: m.msgId } : {}),
    });
    messages++;
  }
  return { messages, lastSeq };
}
