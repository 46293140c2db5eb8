import { Code, ConnectError, createClient, createRouterTransport, type ServiceImpl } from '@connectrpc/connect';
import { GenerationService, ModelControlService, TrafficService } from '@tokenmesh/proto';

import { modelControlFanout } from '../src/admin/model-control-fanout';
import { WorkerPool } from '../src/pool';
import { parseTrafficConfig, trafficService, TrafficState } from '../src/traffic';
import { beat } from './fake-workers';

const TOKEN = 'operators-token-0123456789';
const AUTH = { headers: { authorization: `Bearer ${TOKEN}` } };

async function failure(p: Promise<unknown>): Promise<ConnectError> {
  try {
    await p;
  } catch (err) {
    return ConnectError.from(err);
  }
  throw new Error('expected the call to fail');
}

/** A worker in memory: the versions its repository holds and those it serves; loads fail as `fail` says. */
function fakeWorker(id: string, repository: string[], fail?: ConnectError) {
  const served = new Set<string>(['tinygpt@1']);
  const seen: string[] = [];
  const generation: Partial<ServiceImpl<typeof GenerationService>> = {
    listServedModels: () => ({ models: [...served].map((m) => ({ name: m.split('@')[0]!, version: m.split('@')[1]!, digest: `${m}-digest` })) }),
  };
  const control: ServiceImpl<typeof ModelControlService> = {
    listRepository: () => ({ versions: repository.map((v) => ({ name: 'tinygpt', version: v, loaded: served.has(`tinygpt@${v}`), workerId: id })) }),
    loadModel(req, ctx) {
      seen.push(`load ${req.name}@${req.version} ${ctx.requestHeader.get('authorization')}`);
      if (!repository.includes(req.version)) throw new ConnectError(`${req.name}@${req.version} is not in the model repository`, Code.NotFound);
      if (fail) throw fail;
      served.add(`${req.name}@${req.version}`);
      return { versions: [{ name: req.name, version: req.version, loaded: true, workerId: id }] };
    },
    unloadModel(req) {
      seen.push(`unload ${req.name}@${req.version}`);
      if (!served.delete(`${req.name}@${req.version}`)) throw new ConnectError('not loaded', Code.NotFound);
      return { workerIds: [id] };
    },
  };
  const transport = createRouterTransport((r) => {
    r.service(GenerationService, { async *generate() {}, ...generation } as ServiceImpl<typeof GenerationService>);
    r.service(ModelControlService, control);
  });
  return { id, served, seen, transport };
}

function controlOf(workers: ReturnType<typeof fakeWorker>[]) {
  const byId = new Map(workers.map((w) => [w.id, w]));
  const pool = new WorkerPool({
    connect: (address) => ({
      client: createClient(GenerationService, byId.get(address)!.transport),
      control: createClient(ModelControlService, byId.get(address)!.transport),
      close: () => undefined,
    }),
    heartbeatMs: 3_600_000,
  });
  for (const w of workers) pool.announce(beat(w.id, ['tinygpt@1']));
  return {
    pool,
    control: createClient(
      ModelControlService,
      createRouterTransport((r) => r.service(ModelControlService, modelControlFanout(pool))),
    ),
  };
}

describe('the router’s ModelControlService: one call for every worker it balances over', () => {
  it('loads where the repository holds the version, passes the token on, and routes to it at once', async () => {
    const a = fakeWorker('a', ['1', '2']);
    const b = fakeWorker('b', ['1']);
    const { pool, control } = controlOf([a, b]);
    const out = await control.loadModel({ name: 'tinygpt', version: '2' }, AUTH);
    expect(out.versions.map((v) => v.workerId)).toEqual(['a']);
    expect(a.seen).toEqual([`load tinygpt@2 Bearer ${TOKEN}`]);
    expect(pool.eligible('tinygpt@2').map((w) => w.id)).toEqual(['a']);
    const listed = await control.listRepository({});
    expect(listed.versions.map((v) => `${v.workerId}:${v.version}:${v.loaded}`)).toEqual(['a:1:true', 'a:2:true', 'b:1:true']);
    expect((await control.unloadModel({ name: 'tinygpt', version: '2' }, AUTH)).workerIds).toEqual(['a']);
    expect(pool.eligible('tinygpt@2')).toEqual([]);
    expect((await failure(control.unloadModel({ name: 'tinygpt', version: '2' }, AUTH))).code).toBe(Code.NotFound);
  });

  it('is all or nothing: when one worker cannot load it, the others unload it again, and the reason names the worker', async () => {
    const a = fakeWorker('a', ['2']);
    const b = fakeWorker('b', ['2'], new ConnectError('tinygpt@2 cannot be loaded: onnx/model.onnx: truncated', Code.InvalidArgument));
    const { pool, control } = controlOf([a, b]);
    const err = await failure(control.loadModel({ name: 'tinygpt', version: '2' }, AUTH));
    expect(err.code).toBe(Code.InvalidArgument);
    expect(err.rawMessage).toBe('worker b: tinygpt@2 cannot be loaded: onnx/model.onnx: truncated');
    expect(a.seen).toEqual([`load tinygpt@2 Bearer ${TOKEN}`, 'unload tinygpt@2']);
    expect([...a.served]).toEqual(['tinygpt@1']);
    expect(pool.eligible('tinygpt@2')).toEqual([]);
    // In no repository: NOT_FOUND from every worker.
    expect((await failure(control.loadModel({ name: 'tinygpt', version: '9' }, AUTH))).code).toBe(Code.NotFound);
  });
});

describe('the router’s TrafficService: splits changed at run time over the file’s', () => {
  const FILE = parseTrafficConfig(
    'models:\n  tinygpt:\n    variants:\n      - { name: stable, model: tinygpt@1, weight: 100 }\n    shadow: { model: tinygpt@2, percent: 5 }\n',
    'traffic.yaml',
  );
  const serviceOf = (state: TrafficState, adminToken: string | undefined) =>
    createClient(
      TrafficService,
      createRouterTransport((r) => r.service(TrafficService, trafficService(state, { adminToken }))),
    );

  it('lays a split over the file’s, routes by it at once, keeps it over reloads until cleared', async () => {
    const state = new TrafficState(FILE);
    const traffic = serviceOf(state, TOKEN);
    const ab = [
      { name: 'fp32', model: 'tinygpt@1', weight: 50 },
      { name: 'int8', model: 'tinygpt@int8', weight: 50 },
    ];
    const out = await traffic.setTraffic({ model: 'tinygpt', variants: ab }, AUTH);
    expect(out.previous?.variants.map((v) => v.name)).toEqual(['stable']);
    expect(out.split).toEqual(expect.objectContaining({ model: 'tinygpt', changedAtRunTime: true }));
    expect(out.split?.variants.map((v) => `${v.name}=${v.model}:${v.weight}`)).toEqual(['fp32=tinygpt@1:50', 'int8=tinygpt@int8:50']);
    // Keys spread over both variants; the file's shadow is kept.
    const variants = new Set(Array.from({ length: 64 }, (_, i) => state.plan!.route('tinygpt', `user-${i}`)!.variant));
    expect([...variants].sort()).toEqual(['fp32', 'int8']);
    expect(state.view('tinygpt').split?.shadow).toEqual({ model: 'tinygpt@2', percent: 5 });
    state.setFile(FILE);
    expect(state.view('tinygpt').changedAtRunTime).toBe(true);
    const cleared = await traffic.setTraffic({ model: 'tinygpt' }, AUTH);
    expect(cleared.split?.variants.map((v) => v.name)).toEqual(['stable']);
    expect(cleared.split?.changedAtRunTime).toBe(false);
    expect((await traffic.getTraffic({})).splits.map((s) => s.model)).toEqual(['tinygpt']);
  });

  it('refuses an invalid split naming every problem, and any change without the token', async () => {
    const state = new TrafficState(FILE);
    const traffic = serviceOf(state, TOKEN);
    const bad = await failure(
      traffic.setTraffic(
        {
          model: 'tinygpt',
          variants: [
            { name: 'a', model: 'tinygpt@1', weight: -1 },
            { name: 'a', model: 'not a model', weight: 1 },
          ],
        },
        AUTH,
      ),
    );
    expect(bad.code).toBe(Code.InvalidArgument);
    expect(bad.rawMessage).toMatch(/weight.*; .*/);
    expect((await failure(traffic.setTraffic({ model: 'tinygpt', variants: [{ name: 'a', model: 'tinygpt@1', weight: 1 }] }))).code).toBe(Code.Unauthenticated);
    expect(
      (await failure(serviceOf(state, undefined).setTraffic({ model: 'tinygpt', variants: [{ name: 'a', model: 'tinygpt@1', weight: 1 }] }, AUTH))).rawMessage,
    ).toMatch(/ROUTER_ADMIN_TOKEN/);
    expect(state.view('tinygpt').split?.variants.map((v) => v.name)).toEqual(['stable']);
  });
});
