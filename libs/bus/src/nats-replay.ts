import type { JetStreamClient, JetStreamManager, JsMsg } from 'nats';

import type { ReplayedMessage, ReplayHandler, ReplayOptions, ReplaySummary } from './bus';
import { BusError } from './errors';
import { fromNatsHeaders, mapNatsError } from './nats-codec';
import { subjectMatches } from './subject';

/** Messages the client asks for per pull: enough to stream, few enough to bound memory. */
const PULL_BATCH = 256;

function toReplayed(m: JsMsg, stream: string): ReplayedMessage {
  const { headers, msgId } = fromNatsHeaders(m.headers);
  return { stream, subject: m.subject, data: m.data, headers, seq: m.seq, ...(msgId !== undefined ? { msgId } : {}) };
}

/**
 * `Bus.replay` over JetStream with an ordered consumer: an ephemeral, ack-less consumer that
 * nats.js recreates from the last sequence it saw whenever a delivery is missing (a reconnect, a
 * slow client), so no message is skipped. The end is the stream's last sequence read before the
 * consumer exists; with a subject filter the last matching message may come earlier, so a message
 * reporting nothing pending after it also ends the replay. One pattern is filtered by the server;
 * several are filtered here, because `filter_subjects` needs nats-server 2.10.
 */
export async function replayNats(
  js: JetStreamClient,
  jsm: JetStreamManager,
  stream: string,
  handler: ReplayHandler,
  opts: ReplayOptions,
  register: (stop: () => void) => () => void,
): Promise<ReplaySummary> {
  const what = `replay ${stream}`;
  const info = await jsm.streams.info(stream).catch((err: unknown) => {
    throw mapNatsError(err, what);
  });
  const lastSeq = info.state.last_seq;
  if (info.state.messages === 0) return { messages: 0, lastSeq };
  const patterns = opts.subjects;
  const serverFilter = patterns?.length === 1 ? patterns[0] : undefined;
  const wanted = (subject: string) => !patterns || patterns.length === 0 || patterns.some((p) => subjectMatches(p, subject));

  const consumer = await js.consumers.get(stream, serverFilter ? { filterSubjects: serverFilter } : {}).catch((err: unknown) => {
    throw mapNatsError(err, what);
  });
  const messages = await consumer.consume({ max_messages: PULL_BATCH }).catch((err: unknown) => {
    throw mapNatsError(err, what);
  });
  let closedUnderUs = false;
  const unregister = register(() => {
    closedUnderUs = true;
    messages.stop();
  });
  let count = 0;
  let reachedEnd = false;
  try {
    // The consumer's pending count at creation: 0 means no message matches the server filter.
    const created = await consumer.info(true);
    if (created.num_pending + created.num_ack_pending === 0) return { messages: 0, lastSeq };
    for await (const m of messages) {
      if (m.seq > lastSeq) {
        reachedEnd = true;
        break;
      }
      if (wanted(m.subject)) {
        await handler(toReplayed(m, stream));
        count++;
      }
      if (m.seq === lastSeq || m.info.pending === 0) {
        reachedEnd = true;
        break;
      }
    }
    // An iterator that ends before the last sequence would pass for a complete, shorter replay.
    if (!reachedEnd) {
      throw new BusError('closed', `${what}: ${closedUnderUs ? 'bus closed' : 'the consumer stopped'} after ${count} messages, before sequence ${lastSeq}`);
    }
  } finally {
    unregister();
    messages.stop();
    await consumer.delete().catch(() => undefined); // it would expire anyway (inactive threshold)
  }
  return { messages: count, lastSeq };
}
