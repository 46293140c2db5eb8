import { Code, ConnectError, createClient, createRouterTransport, type ServiceImpl } from '@connectrpc/connect';
import { GenerationService } from '@tokenmesh/proto';
import { RoundRobin } from '../src/round-robin';
import { routerService, type WorkerTarget } from '../src/service';

function fakeWorker(name: string, onCall: (signal: AbortSignal) => void = () => undefined): WorkerTarget {
  const impl: ServiceImpl<typeof GenerationService> = {
    listServedModels: () => ({ models: [{ name: 'tinygpt', version: name === 'a' ? '1' : '2', contextLength: 512, workers: 1 }, { name: 'tinyllama', version: '1', contextLength: 512, workers: 1 }] }),
    async *generate(req, ctx) {
      onCall(ctx.signal);
      for (const id of req.promptTokenIds) yield { tokenIds: [id], workerId: name };
      if (req.model === 'fail') throw new ConnectError('worker says no', Code.ResourceExhausted);
    },
  };
  return { address: name, client: createClient(GenerationService, createRouterTransport((r) => r.service(GenerationService, impl))) };
}

// The workers above are real handlers behind Connect's in-memory transport; the network path is
// covered by the mesh integration test.
describe('router GenerationService', () => {
  it('sends calls to workers in turn and relays their streams unchanged', async () => {
    const router = createClient(
      GenerationService,
      createRouterTransport((r) => r.service(GenerationService, routerService(new RoundRobin([fakeWorker('a'), fakeWorker('b')])))),
    );
    const seen: string[] = [];
    for (let i = 0; i < 4; i++) {
      const ids: number[] = [];
      for await (const m of router.generate({ promptTokenIds: [1, 2, 3] })) {
        ids.push(...m.tokenIds);
        seen.push(m.workerId);
      }
      expect(ids).toEqual([1, 2, 3]);
    }
    expect(seen.filter((_, i) => i % 3 === 0)).toEqual(['a', 'b', 'a', 'b']);
  });

  it('lists what the pool serves, counting workers per model version', async () => {
    const router = createClient(GenerationService, createRouterTransport((r) => r.service(GenerationService, routerService(new RoundRobin([fakeWorker('a'), fakeWorker('b')])))));
    const { models } = await router.listServedModels({});
    expect(models.map((m) => [`${m.name}@${m.version}`, m.workers])).toEqual([
      ['tinygpt@1', 1],
      ['tinyllama@1', 2],
      ['tinygpt@2', 1],
    ]);
  });

  it("passes the worker's error code through", async () => {
    const router = createClient(GenerationService, createRouterTransport((r) => r.service(GenerationService, routerService(new RoundRobin([fakeWorker('a')])))));
    const err = await (async () => {
      for await (const _ of router.generate({ model: 'fail', promptTokenIds: [1] })) void _;
    })().then(
      () => undefined,
      (e: unknown) => ConnectError.from(e),
    );
    expect(err?.code).toBe(Code.ResourceExhausted);
  });

  it("cancels the worker's call when the caller cancels", async () => {
    let workerSignal: AbortSignal | undefined;
    const slow: WorkerTarget = {
      address: 'slow',
      client: createClient(
        GenerationService,
        createRouterTransport((r) =>
          r.service(GenerationService, {
            listServedModels: () => ({ models: [] }),
            async *generate(_req, ctx) {
              workerSignal = ctx.signal;
              for (let i = 0; i < 1000; i++) {
                yield { tokenIds: [i] };
                await new Promise((res) => setTimeout(res, 5));
              }
            },
          }),
        ),
      ),
    };
    const router = createClient(GenerationService, createRouterTransport((r) => r.service(GenerationService, routerService(new RoundRobin([slow])))));
    const abort = new AbortController();
    let n = 0;
    await (async () => {
      for await (const _ of router.generate({ promptTokenIds: [1] }, { signal: abort.signal })) if (++n === 3) abort.abort();
    })().catch(() => undefined);
    await new Promise((res) => setTimeout(res, 30));
    expect(workerSignal?.aborted).toBe(true);
  });
});
