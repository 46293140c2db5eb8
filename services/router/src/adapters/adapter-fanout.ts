import type { MessageShape } from '@bufbuild/protobuf';
import { Code, ConnectError, type ServiceImpl } from '@connectrpc/connect';
import { type AdapterSchema, AdapterService } from '@tokenmesh/proto';

import { forwarded } from '../admin/forwarded-call';
import { readServed, type Worker, type WorkerPool } from '../pool';

type Adapter = MessageShape<typeof AdapterSchema>;

/** A refusal every worker gives alike (a token, a bad directory) is the caller's to fix: answer it as is. */
const SAME_EVERYWHERE = new Set([Code.Unauthenticated, Code.PermissionDenied, Code.InvalidArgument, Code.NotFound, Code.AlreadyExists]);

/**
 * The router's AdapterService: each call goes to every live worker it balances over. A load is
 * kept only where it succeeds on every worker that serves the adapter's base (those that do
 * not answer FAILED_PRECONDITION and are skipped); when one of them fails, the others unload it
 * again, so the pool never serves an adapter on some workers by accident. After a change the
 * router reads the workers' models at once: the next request may use the adapter, and the
 * gateway's cache keys carry its new digest.
 */
export function adapterFanout(pool: WorkerPool): ServiceImpl<typeof AdapterService> {
  const targets = (): Worker[] => pool.all.filter((w) => w.adapters && pool.isLive(w) && !w.announcement.draining);
  const none = () => new ConnectError('no live inference worker to ask', Code.Unavailable);
  const refresh = (ws: readonly Worker[]) => Promise.allSettled(ws.map((w) => readServed(w)));

  return {
    async loadAdapter(req, ctx) {
      const ws = targets();
      if (ws.length === 0) throw none();
      const call = forwarded(ctx);
      const results = await Promise.allSettled(ws.map((w) => w.adapters!.loadAdapter(req, call)));
      const loaded: Adapter[] = [];
      const holders: Worker[] = [];
      const failures: { w: Worker; err: ConnectError }[] = [];
      results.forEach((r, i) => {
        if (r.status === 'fulfilled') {
          loaded.push(...r.value.adapters);
          holders.push(ws[i]!);
        } else failures.push({ w: ws[i]!, err: ConnectError.from(r.reason) });
      });
      const fatal = failures.find((f) => f.err.code !== Code.FailedPrecondition);
      if (fatal || loaded.length === 0) {
        const name = loaded[0]?.name;
        if (name) await Promise.allSettled(holders.map((w) => w.adapters!.unloadAdapter({ name }, call)));
        await refresh(ws);
        const err = (fatal ?? failures[0]!).err;
        const where = SAME_EVERYWHERE.has(err.code) ? '' : `worker ${(fatal ?? failures[0]!).w.id}: `;
        throw new ConnectError(`${where}${err.rawMessage}`, err.code);
      }
      await refresh(ws);
      return { adapters: loaded };
    },

    async unloadAdapter(req, ctx) {
      const ws = targets();
      if (ws.length === 0) throw none();
      const call = forwarded(ctx);
      const results = await Promise.allSettled(ws.map((w) => w.adapters!.unloadAdapter(req, call)));
      await refresh(ws);
      const workerIds = results.flatMap((r) => (r.status === 'fulfilled' ? r.value.workerIds : []));
      const errors = results.flatMap((r) => (r.status === 'rejected' ? [ConnectError.from(r.reason)] : []));
      const fatal = errors.find((e) => e.code !== Code.NotFound);
      if (fatal) throw fatal;
      if (workerIds.length === 0) throw errors[0] ?? new ConnectError(`no worker has an adapter ${JSON.stringify(req.name)}`, Code.NotFound);
      return { workerIds };
    },

    async listAdapters(req, ctx) {
      const ws = targets();
      const call = forwarded(ctx);
      const results = await Promise.allSettled(ws.map((w) => w.adapters!.listAdapters(req, call)));
      const fatal = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (fatal) throw ConnectError.from(fatal.reason);
      return { adapters: results.flatMap((r) => (r as PromiseFulfilledResult<{ adapters: Adapter[] }>).value.adapters) };
    },
  };
}
