import type { MessageShape } from '@bufbuild/protobuf';
import { Code, ConnectError, type ServiceImpl } from '@connectrpc/connect';
import { ModelControlService, type RepositoryVersionSchema } from '@tokenmesh/proto';

import { readServed, type Worker, type WorkerPool } from '../pool';
import { forwarded } from './forwarded-call';

type Version = MessageShape<typeof RepositoryVersionSchema>;

/**
 * The router's ModelControlService: each call goes to every live worker it balances over. A load
 * goes to each worker whose repository holds the version (those that answer NOT_FOUND are
 * skipped); when one of them fails to load it, the others unload it again, so the pool never
 * serves a version on some workers by accident, and the reason comes back naming the worker.
 * After a change the router reads the workers' models at once: the next request may use it.
 */
export function modelControlFanout(pool: WorkerPool): ServiceImpl<typeof ModelControlService> {
  const targets = (): Worker[] => pool.all.filter((w) => w.control && pool.isLive(w) && !w.announcement.draining);
  const none = () => new ConnectError('no live inference worker to ask', Code.Unavailable);
  const refresh = (ws: readonly Worker[]) => Promise.allSettled(ws.map((w) => readServed(w)));

  return {
    async listRepository(req, ctx) {
      const ws = targets();
      const call = forwarded(ctx);
      const results = await Promise.allSettled(ws.map((w) => w.control!.listRepository(req, call)));
      const fatal = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (fatal) throw ConnectError.from(fatal.reason);
      return { versions: results.flatMap((r) => (r as PromiseFulfilledResult<{ versions: Version[] }>).value.versions) };
    },

    async loadModel(req, ctx) {
      const ws = targets();
      if (ws.length === 0) throw none();
      const call = forwarded(ctx);
      const results = await Promise.allSettled(ws.map((w) => w.control!.loadModel(req, call)));
      const loaded: Version[] = [];
      const holders: Worker[] = [];
      const failures: { w: Worker; err: ConnectError }[] = [];
      results.forEach((r, i) => {
        if (r.status === 'fulfilled') {
          loaded.push(...r.value.versions);
          holders.push(ws[i]!);
        } else failures.push({ w: ws[i]!, err: ConnectError.from(r.reason) });
      });
      const fatal = failures.find((f) => f.err.code !== Code.NotFound && f.err.code !== Code.AlreadyExists);
      if (fatal || loaded.length === 0) {
        if (fatal) await Promise.allSettled(holders.map((w) => w.control!.unloadModel({ name: req.name, version: req.version }, call)));
        await refresh(ws);
        const f = fatal ?? failures.find((x) => x.err.code === Code.AlreadyExists) ?? failures[0]!;
        // Every worker refused alike: the caller's to fix, no worker to name.
        const same = failures.length === ws.length && failures.every((x) => x.err.code === f.err.code);
        throw new ConnectError(`${same ? '' : `worker ${f.w.id}: `}${f.err.rawMessage}`, f.err.code);
      }
      await refresh(ws);
      return { versions: loaded };
    },

    async unloadModel(req, ctx) {
      const ws = targets();
      if (ws.length === 0) throw none();
      const call = forwarded(ctx);
      const results = await Promise.allSettled(ws.map((w) => w.control!.unloadModel(req, call)));
      await refresh(ws);
      const workerIds = results.flatMap((r) => (r.status === 'fulfilled' ? r.value.workerIds : []));
      const errors = results.flatMap((r) => (r.status === 'rejected' ? [ConnectError.from(r.reason)] : []));
      const fatal = errors.find((e) => e.code !== Code.NotFound);
      if (fatal) throw fatal;
      if (workerIds.length === 0) throw errors[0] ?? new ConnectError(`no worker serves ${req.name}@${req.version}`, Code.NotFound);
      return { workerIds };
    },
  };
}
