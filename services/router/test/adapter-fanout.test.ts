import { Code, ConnectError, createClient, createRouterTransport, type ServiceImpl } from '@connectrpc/connect';
import { AdapterService, GenerationService } from '@tokenmesh/proto';

import { adapterFanout } from '../src/adapters/adapter-fanout';
import { WorkerPool } from '../src/pool';
import { beat } from './fake-workers';

const AUTH = 'Bearer operators-token-0123456789';

/** A worker in memory: the base it serves, the adapters it holds; loads fail as `fail` says. */
function fakeWorker(id: string, base: string, fail?: ConnectError) {
  const adapters = new Set<string>();
  const seen: string[] = [];
  const generation: Partial<ServiceImpl<typeof GenerationService>> = {
    listServedModels: () => ({
      models: [
        { name: base, version: '1', digest: `${base}-digest` },
        ...[...adapters].map((a) => ({ name: a, version: '1', parent: base, digest: `${a}-on-${id}` })),
      ],
    }),
  };
  const admin: ServiceImpl<typeof AdapterService> = {
    loadAdapter(req, ctx) {
      seen.push(`load ${ctx.requestHeader.get('authorization')}`);
      if (fail) throw fail;
      if (!req.path.includes(base)) throw new ConnectError(`adapter ${req.name}: names a base this worker does not serve`, Code.FailedPrecondition);
      adapters.add(req.name);
      return { adapters: [{ name: req.name, base: `${base}@1`, workerId: id, digest: `${req.name}-on-${id}`, rank: 8 }] };
    },
    unloadAdapter(req) {
      seen.push(`unload ${req.name}`);
      if (!adapters.delete(req.name)) throw new ConnectError(`no adapter ${req.name}`, Code.NotFound);
      return { workerIds: [id] };
    },
    listAdapters: () => ({ adapters: [...adapters].map((name) => ({ name, base: `${base}@1`, workerId: id })) }),
  };
  const transport = createRouterTransport((r) => {
    r.service(GenerationService, { async *generate() {}, ...generation } as ServiceImpl<typeof GenerationService>);
    r.service(AdapterService, admin);
  });
  return { id, base, adapters, seen, transport };
}

function poolOf(workers: ReturnType<typeof fakeWorker>[]): WorkerPool {
  const byId = new Map(workers.map((w) => [w.id, w]));
  const pool = new WorkerPool({
    connect: (address) => ({
      client: createClient(GenerationService, byId.get(address)!.transport),
      adapters: createClient(AdapterService, byId.get(address)!.transport),
      close: () => undefined,
    }),
    heartbeatMs: 3_600_000,
  });
  for (const w of workers) pool.announce(beat(w.id, [`${w.base}@1`]));
  return pool;
}

const adminOf = (pool: WorkerPool) =>
  createClient(
    AdapterService,
    createRouterTransport((r) => r.service(AdapterService, adapterFanout(pool))),
  );

describe('the router’s AdapterService: one call for every worker it balances over', () => {
  it('loads on the workers that serve the base (the others are skipped), passes the token on, and routes the adapter to them only', async () => {
    const a = fakeWorker('a', 'tinygpt');
    const b = fakeWorker('b', 'tinyllama');
    const c = fakeWorker('c', 'tinygpt');
    const pool = poolOf([a, b, c]);
    const admin = adminOf(pool);
    const out = await admin.loadAdapter({ name: 'chat', path: '/models/tinygpt-chat' }, { headers: { authorization: AUTH } });
    expect(out.adapters.map((x) => x.workerId).sort()).toEqual(['a', 'c']);
    expect([a.seen, b.seen, c.seen]).toEqual([[`load ${AUTH}`], [`load ${AUTH}`], [`load ${AUTH}`]]);
    // Read back at once, not at the next heartbeat: requests for it go to a and c, with their digests.
    expect(
      pool
        .eligible('chat@1')
        .map((w) => w.id)
        .sort(),
    ).toEqual(['a', 'c']);
    expect(pool.models().find((m) => m.name === 'chat')).toMatchObject({ parent: 'tinygpt', workers: 2, digest: 'chat-on-a,chat-on-c' });
    expect((await admin.listAdapters({}, { headers: { authorization: AUTH } })).adapters.map((x) => `${x.name}@${x.workerId}`).sort()).toEqual([
      'chat@a',
      'chat@c',
    ]);

    const gone = await admin.unloadAdapter({ name: 'chat' }, { headers: { authorization: AUTH } });
    expect(gone.workerIds.sort()).toEqual(['a', 'c']);
    expect(pool.eligible('chat@1')).toEqual([]);
    await expect(admin.unloadAdapter({ name: 'chat' })).rejects.toMatchObject({ code: Code.NotFound });
  });

  it('is all or nothing: when one worker of the base refuses, the others unload it again and the caller gets the refusal', async () => {
    const a = fakeWorker('a', 'tinygpt');
    const c = fakeWorker('c', 'tinygpt', new ConnectError('adapter chat: r: rank 128 is over this worker’s maximum of 64', Code.InvalidArgument));
    const pool = poolOf([a, c]);
    await expect(adminOf(pool).loadAdapter({ name: 'chat', path: '/models/tinygpt-chat' })).rejects.toMatchObject({
      code: Code.InvalidArgument,
      rawMessage: 'adapter chat: r: rank 128 is over this worker’s maximum of 64',
    });
    expect(a.seen).toEqual(['load null', 'unload chat']);
    expect(a.adapters.size).toBe(0);
    expect(pool.eligible('chat@1')).toEqual([]);
  });

  it('a base no worker serves is FAILED_PRECONDITION naming the worker; no worker at all is UNAVAILABLE', async () => {
    const pool = poolOf([fakeWorker('b', 'tinyllama')]);
    await expect(adminOf(pool).loadAdapter({ name: 'chat', path: '/models/tinygpt-chat' })).rejects.toMatchObject({
      code: Code.FailedPrecondition,
      rawMessage: expect.stringMatching(/^worker b: adapter chat: names a base/),
    });
    await expect(adminOf(poolOf([])).loadAdapter({ name: 'chat', path: '/x' })).rejects.toMatchObject({ code: Code.Unavailable });
  });
});
