/** docs/bench/mesh.md: the mesh benchmark's report for people. */
import type { Run } from './engine-runs';
import type { EngineRun, OpenLoopRun } from './mesh-engine';
import type { LoadResult, Protocol } from './mesh-load';
import type { Topology } from './mesh-topologies';
import { round } from './stats';

/** One load against one mesh: what the clients saw, and each service's CPU per generated token. */
export type MeshRun = LoadResult & {
  readonly topology: Topology;
  readonly cpu: Record<string, { mainUsPerToken: number; processUsPerToken: number }>;
  /** The limit at batch 32 measured just before and after this run (their mean): target runs only. */
  readonly bareBeside?: number;
};

export interface ModelReport {
  /** decode32: the bare loop on the decode-step export, where the model has one. */
  readonly bare: { batch1: Run; batch32: Run; decode32?: Run | undefined };
  readonly engine: Record<string, EngineRun>;
  readonly peer: { c1: Run; c32: Run };
  readonly mesh: MeshRun[];
  readonly openLoop: { capacity: EngineRun; capacityConcurrency?: number; runs: OpenLoopRun[] };
}

export interface MeshReport {
  readonly when: string;
  readonly quick: boolean;
  readonly machine: string;
  readonly load: { before: number; after: number };
  readonly runSeconds: number;
  readonly setup: { tokens: number; temperature: number; prompt: string; streams500: { streams: number; tokens: number } };
  readonly models: Partial<Record<'tinygpt' | 'bench-26m', ModelReport>>;
  readonly streams500?: (LoadResult & { wallSeconds: number }) | undefined;
  readonly before?: { when: string; commit: string; runs: MeshRun[] } | undefined;
}

const PROTOCOL_NAMES: Record<Protocol, string> = {
  rest: 'REST, not streamed',
  sse: 'REST SSE',
  grpc: 'gRPC StreamPredict',
  connect: 'Connect StreamPredict (JSON, HTTP/1.1)',
};
const fmt = (v: number | undefined, digits = 1) => (v === undefined || Number.isNaN(v) ? '–' : String(round(v, digits)));
/** A ratio against its target, truncated to 3 decimals: a value just below the line never reads as the line (0.8996 is 0.899, not 0.9). */
const ratio = (v: number) => (Math.floor(v * 1000) / 1000).toFixed(3);
const verdict = (ok: boolean | undefined) => (ok === undefined ? 'not measured' : ok ? '**met**' : '**not met**');

/** The limit at batch 32: the faster of the bare loops (Optimum export, decode-step export). */
const limit32 = (m: ModelReport) => Math.max(m.bare.batch32.tokensPerS, m.bare.decode32?.tokensPerS ?? 0);

/**
 * A throughput target's ratio: against the bare loop measured beside the run where there is one
 * (the verdict's), and against section 1's.
 */
function throughput(run: MeshRun | undefined, limit: number, aim: number): Pick<Target, 'got' | 'ok'> {
  if (!run) return { got: '–', ok: undefined };
  const beside = run.bareBeside;
  if (beside === undefined) return { got: ratio(run.tokensPerS / limit), ok: run.tokensPerS / limit >= aim };
  return { got: `${ratio(run.tokensPerS / beside)} (${ratio(run.tokensPerS / limit)} of section 1's)`, ok: run.tokensPerS / beside >= aim };
}

function find(runs: readonly MeshRun[], topology: Topology, protocol: Protocol, concurrency: number): MeshRun | undefined {
  return runs.find((r) => r.topology === topology && r.protocol === protocol && r.concurrency === concurrency);
}

interface Target {
  readonly what: string;
  readonly aim: string;
  readonly got: string;
  readonly ok: boolean | undefined;
}

function targets(r: MeshReport): Target[] {
  const t = r.models.tinygpt;
  const b = r.models['bench-26m'];
  const out: Target[] = [];
  if (t) {
    const bare = limit32(t);
    for (const topology of ['embedded', 'compose'] as const) {
      const rest = find(t.mesh, topology, 'rest', 32);
      const sse = find(t.mesh, topology, 'sse', 32);
      out.push({ what: `tinygpt, ${topology}: mesh c=32 non-streamed / bare loop batch 32`, aim: '≥ 0.80', ...throughput(rest, bare, 0.8) });
      out.push({ what: `tinygpt, ${topology}: mesh c=32 SSE / bare loop batch 32`, aim: '≥ 0.70', ...throughput(sse, bare, 0.7) });
      out.push({
        what: `tinygpt, ${topology}: mesh c=32 non-streamed / transformers.js c=32`,
        aim: '≥ 3.5',
        got: rest ? fmt(rest.tokensPerS / t.peer.c32.tokensPerS, 2) : '–',
        ok: rest && rest.tokensPerS / t.peer.c32.tokensPerS >= 3.5,
      });
      const engineTtft = t.engine['c1']!.ttftP50Ms;
      const added = (['sse', 'grpc', 'connect'] as const).map((p) => [p, find(t.mesh, topology, p, 1)] as const).filter(([, x]) => x);
      const worst = Math.max(...added.map(([, x]) => x!.ttftP50Ms - engineTtft));
      out.push({
        what: `tinygpt, ${topology}: added TTFT p50 at c=1 over the engine alone (${fmt(engineTtft, 2)} ms), worst stream protocol`,
        aim: '≤ 2 ms',
        got: added.length ? `${fmt(worst, 2)} ms (${added.map(([p, x]) => `${p} ${fmt(x!.ttftP50Ms - engineTtft, 2)}`).join(', ')})` : '–',
        ok: added.length ? worst <= 2 : undefined,
      });
    }
  }
  if (t && r.before) {
    const ratios = cpuRatios(t.mesh, r.before.runs);
    const worst = Math.min(...ratios.map((x) => x.ratio));
    out.push({
      what: 'tinygpt: serving-thread CPU per token, before / after, worst service at c=32 (REST and SSE, both topologies)',
      aim: '≥ 3×',
      got: ratios.length ? `${fmt(worst, 2)}×` : '–',
      ok: ratios.length ? worst >= 3 : undefined,
    });
  }
  if (b) {
    for (const topology of ['embedded', 'compose'] as const) {
      const rest = find(b.mesh, topology, 'rest', 32);
      out.push({ what: `bench-26m, ${topology}: mesh c=32 non-streamed / bare loop batch 32`, aim: '≥ 0.90', ...throughput(rest, limit32(b), 0.9) });
    }
    const saturated = b.openLoop.runs.filter((x) => x.share >= 1);
    // Saturation shows as a backlog that does not drain during the window.
    const worst = Math.max(...saturated.map((x) => x.steps.kvShare));
    out.push({
      what: `bench-26m: KV maintenance share of step time under the open loop at and past capacity (${saturated.map((x) => `${Math.round(x.share * 100)}%`).join(', ')})`,
      aim: '≤ 10%',
      got: saturated.length ? `${fmt(worst * 100, 1)}%` : '–',
      ok: saturated.length ? worst <= 0.1 : undefined,
    });
  }
  if (r.streams500)
    out.push({
      what: `${r.setup.streams500.streams} concurrent SSE streams of ${r.setup.streams500.tokens} tokens, default configuration: errors`,
      aim: '0',
      got: String(r.streams500.errors),
      ok: r.streams500.errors === 0,
    });
  return out;
}

interface CpuRatio {
  readonly topology: Topology;
  readonly protocol: Protocol;
  readonly service: string;
  readonly before: number;
  readonly after: number;
  readonly ratio: number;
}

function cpuRatios(after: readonly MeshRun[], before: readonly MeshRun[]): CpuRatio[] {
  const out: CpuRatio[] = [];
  for (const b of before) {
    const a = find(after, b.topology, b.protocol, b.concurrency);
    if (!a) continue;
    for (const [service, c] of Object.entries(b.cpu)) {
      const now = a.cpu[service];
      // The tokenizer service is off the path (the gateway tokenizes): its few µs are noise.
      if (!now || service === 'tokenizer') continue;
      out.push({
        topology: b.topology,
        protocol: b.protocol,
        service,
        before: c.mainUsPerToken,
        after: now.mainUsPerToken,
        ratio: c.mainUsPerToken / Math.max(1, now.mainUsPerToken),
      });
    }
  }
  return out;
}

function engineTable(name: string, m: ModelReport): string[] {
  const e = (label: string, x: EngineRun) =>
    `| ${label} | ${fmt(x.tokensPerS)} | ${fmt(x.ttftP50Ms, 2)} | ${fmt(x.ttftP99Ms, 2)} | ${fmt(x.itlP50Ms, 2)} | ${fmt(x.itlP99Ms, 2)} | ${fmt(x.steps.meanBatch)} | ${fmt(x.steps.meanWidth, 0)} |`;
  return [
    `### ${name}: the limit, the engine alone, the peer`,
    '',
    '| run | tokens/s | TTFT p50 ms | TTFT p99 ms | inter-token p50 ms | inter-token p99 ms | mean decode batch | mean cache width |',
    '|---|---|---|---|---|---|---|---|',
    `| bare onnxruntime loop, batch 1 (greedy) | ${fmt(m.bare.batch1.tokensPerS)} | – | – | – | – | 1 | – |`,
    `| bare onnxruntime loop, batch 32 (greedy) | ${fmt(m.bare.batch32.tokensPerS)} | – | – | – | – | 32 | – |`,
    ...(m.bare.decode32 ? [`| bare loop on the decode-step export, batch 32 (greedy) | ${fmt(m.bare.decode32.tokensPerS)} | – | – | – | – | 32 | – |`] : []),
    e('engine alone, concurrency 1', m.engine['c1']!),
    e('engine alone, concurrency 32', m.engine['c32']!),
    `| transformers.js, concurrency 1 | ${fmt(m.peer.c1.tokensPerS)} | – | – | – | – | – | – |`,
    `| transformers.js, concurrency 32 | ${fmt(m.peer.c32.tokensPerS)} | – | – | – | – | – | – |`,
    '',
  ];
}

function meshTable(name: string, m: ModelReport, topology: Topology): string[] {
  const runs = m.mesh.filter((r) => r.topology === topology);
  if (runs.length === 0) return [];
  const services = Object.keys(runs[0]!.cpu);
  const bare = limit32(m);
  return [
    `### ${name}, ${topology === 'embedded' ? 'embedded (`npm start`: one process, in-process calls)' : 'compose (one process per service)'}`,
    '',
    `| protocol | concurrency | tokens/s | / bare b32 | / bare beside | requests | errors | TTFT p50 ms | TTFT p99 ms | chunk gap p50 ms | chunk gap p99 ms | tokens/chunk | ${services.map((s) => `${s} µs/token`).join(' | ')} |`,
    `|---|---|---|---|---|---|---|---|---|---|---|---|${services.map(() => '---').join('|')}|`,
    ...runs.map(
      (r) =>
        `| ${PROTOCOL_NAMES[r.protocol]} | ${r.concurrency} | ${fmt(r.tokensPerS)} | ${fmt(r.tokensPerS / bare, 2)} | ${r.bareBeside ? fmt(r.tokensPerS / r.bareBeside, 2) : '–'} | ${r.requests} | ${r.errors} | ${fmt(r.ttftP50Ms, 2)} | ${fmt(r.ttftP99Ms, 2)} | ${r.protocol === 'rest' ? '–' : fmt(r.chunkGapP50Ms, 2)} | ${r.protocol === 'rest' ? '–' : fmt(r.chunkGapP99Ms, 2)} | ${r.protocol === 'rest' ? '–' : fmt(r.tokensPerChunk, 2)} | ${services.map((s) => fmt(r.cpu[s]?.mainUsPerToken, 0)).join(' | ')} |`,
    ),
    '',
  ];
}

function cpuSection(r: MeshReport): string[] {
  const t = r.models.tinygpt;
  if (!t) return [];
  if (!r.before)
    return [
      '## 4. Serving-thread CPU per token, before and after',
      '',
      'No docs/bench/mesh-before.json: run `npm run bench:mesh -- --before DIR` on a checkout of the commit before.',
      '',
    ];
  const rows = cpuRatios(t.mesh, r.before.runs);
  return [
    '## 4. Serving-thread CPU per generated token, before and after',
    '',
    `Main-thread CPU (user + system, from /proc) of each service over the measured window, divided by the tokens the clients`,
    `received; tinygpt, concurrency 32. Before: commit ${r.before.commit.slice(0, 12)} (measured ${r.before.when} by \`--before\`, same loads);`,
    `after: this run. The embedded mesh is one process, so its row is every service together.`,
    '',
    '| topology | protocol | service | before µs/token | after µs/token | before / after |',
    '|---|---|---|---|---|---|',
    ...rows.map((x) => `| ${x.topology} | ${PROTOCOL_NAMES[x.protocol]} | ${x.service} | ${fmt(x.before, 0)} | ${fmt(x.after, 0)} | ${fmt(x.ratio, 2)}× |`),
    '',
  ];
}

function openLoopTable(name: string, o: ModelReport['openLoop']): string[] {
  const row = (label: string, x: EngineRun, rate: string, refused = '–', backlog = '–') =>
    `| ${label} | ${rate} | ${x.requests} | ${refused} | ${backlog} | ${fmt(x.meanOutputTokens)} | ${fmt(x.tokensPerS)} | ${fmt(x.ttftP50Ms, 1)} | ${fmt(x.ttftP99Ms, 1)} | ${fmt(x.itlP50Ms, 2)} | ${fmt(x.itlP99Ms, 2)} | ${fmt(x.steps.meanBatch)} | ${fmt(x.steps.meanWidth, 0)} | ${fmt(x.steps.rebuildsPerStep, 3)} | ${fmt(x.steps.kvShare * 100, 2)}% |`;
  return [
    `### ${name}`,
    '',
    '| load | requests/s | served | refused (429) | backlog at the window end | mean output tokens | tokens/s | TTFT p50 ms | TTFT p99 ms | inter-token p50 ms | inter-token p99 ms | mean decode batch | mean cache width | gathers / step | KV maintenance / step time |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
    row(
      `capacity: closed loop, ${o.capacityConcurrency ?? 32} clients (the best of ${o.capacityConcurrency ? '8, 16, 32' : '32'})`,
      o.capacity,
      fmt(o.capacity.tokensPerS / Math.max(1, o.capacity.meanOutputTokens), 2),
    ),
    ...o.runs.map((x) => row(`${Math.round(x.share * 100)}% (Poisson)`, x, fmt(x.ratePerS, 2), String(x.refused), String(x.backlogAtEnd))),
    '',
  ];
}

/** What the figures mean, from the figures: where the time goes, and what is still missing. */
function reading(r: MeshReport): string[] {
  const t = r.models.tinygpt;
  if (!t) return [];
  const out: string[] = ['## Reading', ''];
  const bare = limit32(t);
  const e32 = t.engine['c32']!;
  const emb = find(t.mesh, 'embedded', 'rest', 32);
  const comp = find(t.mesh, 'compose', 'rest', 32);
  const d32 = t.bare.decode32;
  const shares = [emb, comp].filter((x) => x).map((x) => x!.tokensPerS / e32.tokensPerS);
  const meshShare =
    `${emb ? `the embedded mesh reaches ${fmt(emb.tokensPerS / e32.tokensPerS, 2)} of it` : ''}${comp ? `, compose ${fmt(comp.tokensPerS / e32.tokensPerS, 2)}` : ''}` +
    (shares.some((x) => x > 1)
      ? " (above 1 cannot happen on steady hardware: the sections ran minutes apart, and this machine's speed drifts between them by that much)"
      : '');
  out.push(
    d32
      ? `- **The engine and the limit.** Alone, at 32 sampled closed-loop clients, the engine makes ${fmt(e32.tokensPerS)} tokens/s: ` +
          `${fmt(e32.tokensPerS / t.bare.batch32.tokensPerS, 2)} of the bare loop on the Optimum export and ${fmt(e32.tokensPerS / d32.tokensPerS, 2)} of the bare loop on the ` +
          `decode-step export (the limit the targets use, the faster of the two). Its decode passes use the decode-step export: the cache is read ` +
          'in place and only the new column comes back, where the Optimum export concatenates every past onto a new present inside onnxruntime ' +
          'and onnxruntime-node copies every present back into JavaScript: three passes over the cache per step. With continuous batching every ' +
          `row is as wide as the longest (mean cache width ${fmt(e32.steps.meanWidth, 0)} columns here); the bare loops' rows all have the same ` +
          'length, and they prefill 32 prompts in one pass where the engine prefills requests as they arrive. No mesh topology can pass the ' +
          `engine alone; ${meshShare}.`
      : `- **The engine sets the ceiling.** Alone, at 32 sampled closed-loop clients, it makes ${fmt(e32.tokensPerS)} tokens/s, ` +
          `${fmt(e32.tokensPerS / bare, 2)} of the bare loop at batch 32 (this model has no decode-step export: its decode passes concatenate and copy the cache). ` +
          `With continuous batching every row is as wide as the longest running one (mean cache width ${fmt(e32.steps.meanWidth, 0)} positions here), and ` +
          `requests arrive one by one, each paying a prefill pass of its own. No mesh topology can pass the engine alone; ${meshShare}.`,
  );
  const s32 = find(t.mesh, 'embedded', 'sse', 32);
  if (s32 && emb) {
    out.push(
      `- **Streams cost per message.** Over SSE the embedded mesh spends ${fmt(s32.cpu['mesh']?.mainUsPerToken, 0)} µs of serving-thread CPU per token against ` +
        `${fmt(emb.cpu['mesh']?.mainUsPerToken, 0)} µs non-streamed (one message per completion); ${fmt(s32.tokensPerChunk, 2)} tokens per chunk at c=32 (the stream hold ` +
        `engages with many streams). On this VM a loopback socket write costs ~50 µs, paid per chunk by the gateway and again by the client, ` +
        `and both share the two cores with onnxruntime.`,
    );
  }
  const c1 = find(t.mesh, 'embedded', 'sse', 1);
  if (c1) {
    out.push(
      `- **Concurrency 1.** The engine alone answers its first token in ${fmt(t.engine['c1']!.ttftP50Ms, 2)} ms p50; through the embedded mesh over SSE in ` +
        `${fmt(c1.ttftP50Ms, 2)} ms. What is added is per request, not per token: HTTP parsing and the http instrumentation's span, the prompt's ` +
        `encoding, a span per hop and the handler contexts of two in-process calls, on the way in, and one chunk's path on the way out ` +
        `(about 2.5 ms of serving-thread CPU per request measured at max_tokens 1).`,
    );
  }
  if (r.before) {
    const ratios = cpuRatios(t.mesh, r.before.runs);
    if (ratios.length) {
      out.push(
        `- **CPU per token, before and after.** ${ratios.map((x) => `${x.topology} ${x.protocol} ${x.service} ${fmt(x.before, 0)} → ${fmt(x.after, 0)} µs`).join('; ')}. ` +
          'Embedded: in-process calls (no HTTP/2 framing or protobuf between services), one message per non-streamed completion, ' +
          "one promise per message per layer. Compose keeps the loopback HTTP/2 hops: the router passes the worker's frames on undecoded " +
          "and the worker writes its messages past Connect (grpcStreamHandler, for gRPC callers); the gateway reads the router's stream off " +
          'its HTTP/2 connection and decodes each message once (framedServerStream).',
      );
    }
  }
  const b = r.models['bench-26m'];
  if (b) {
    const kv = b.openLoop.runs.filter((x) => x.share >= 1).map((x) => `${Math.round(x.share * 100)}%: ${fmt(x.steps.kvShare * 100, 1)}%`);
    out.push(
      `- **Joins and leaves.** Under Poisson arrivals on bench-26m, KV maintenance takes ${kv.join(', ')} of step time at saturation, with ` +
        `${fmt(Math.max(...b.openLoop.runs.map((x) => x.steps.rebuildsPerStep)), 3)} reallocations per step at most: a leaving row stays as padding, a joining one is ` +
        (b.bare.decode32
          ? 'copied into a free row (its own positions), and the decode-step buffer is reallocated, live positions only, when rows or columns run out or a quarter of the rows or half the columns are waste. '
          : 'copied into a free row, and the cache is gathered only when the waste has cost a gather. ') +
        'Before, every join or leave gathered every ' +
        'row (docs/bench/engine.md: one gather of 32 rows cost 58% of a decode step on bench-26m). What remains under the open loop is prefill: ' +
        'prompts of up to 256 tokens are prefilled in one pass between decode steps (no chunked prefill yet), which is where the inter-token p99 goes.',
    );
  }
  out.push('');
  return out;
}

/** The report in Markdown. */
export function report(r: MeshReport): string {
  const names = Object.keys(r.models) as ('tinygpt' | 'bench-26m')[];
  const s5 = r.streams500;
  return [
    '# Mesh benchmark',
    '',
    `\`npm run bench:mesh${r.quick ? ' -- --quick' : ''}\`, ${r.when}, ${r.runSeconds} s.${r.quick ? ' **Quick run: durations cut to a fifth, a check of the benchmark only.**' : ''}`,
    '',
    `Machine: ${r.machine}. Load average (1 min) ${r.load.before} before the run, ${r.load.after} after it. The machine is shared`,
    'and noisy, and the mesh, onnxruntime and the load client share its cores: compare figures within one report.',
    '',
    '## Method',
    '',
    `- Requests: prompt "${r.setup.prompt} <n>" (no two alike: the response cache never answers), ${r.setup.tokens} tokens, temperature`,
    `  ${r.setup.temperature} (sampled, so end-of-text may end a request early: tokens/s counts the tokens the clients received).`,
    '  Closed loop: every client sends its next request as soon as the last one ended, for a fixed time after a warm-up.',
    '- The bare loop is onnxruntime alone at a fixed batch, greedy, every row the same length: the limit of the hardware (the best of',
    '  three passes after an untimed warm-up pass), on the prompts the mesh gets. It runs on',
    '  the Optimum export and, where the model has one, on the decode-step export (model_decode.onnx); targets use the faster.',
    '  The engine alone is the worker thread, batching and sampling driven in-process, no RPC.',
    '- Bare loop beside: the faster bare loop again, just before and just after each c=32 REST and SSE run (their mean). The',
    "  machine's speed drifts between sections minutes apart by more than the targets' margins; the throughput verdicts use this",
    "  bare loop and also show the ratio to section 1's.",
    '- Mesh topologies at the default configuration: `embedded` is `npm start` (the supervisor, every service in one process,',
    '  calling each other in process), `compose` is one process per service (tokenizer, inference, router, gateway) as',
    '  docker-compose.yml runs them. The load client is a process of its own (Node http, grpc-js, connect-node).',
    '- Chunk gap: the time between two text chunks of a stream as the client saw them (a chunk may carry several tokens;',
    "  tokens/chunk says how many on average). µs/token: a service's main-thread CPU over the window per token received.",
    '',
    '## Targets',
    '',
    '| target | aim | measured | |',
    '|---|---|---|---|',
    ...targets(r).map((t) => `| ${t.what} | ${t.aim} | ${t.got} | ${verdict(t.ok)} |`),
    '',
    '## 1–2. The limit, the engine alone and transformers.js',
    '',
    ...names.flatMap((n) => engineTable(n, r.models[n]!)),
    '## 3. The whole mesh',
    '',
    ...names.flatMap((n) => [...meshTable(n, r.models[n]!, 'embedded'), ...meshTable(n, r.models[n]!, 'compose')]),
    ...cpuSection(r),
    `## 5. ${r.setup.streams500.streams} concurrent SSE streams`,
    '',
    s5
      ? `Embedded mesh, tinygpt, default configuration: ${r.setup.streams500.streams} clients each open one stream of ${r.setup.streams500.tokens} tokens at once. ` +
        `${s5.requests} completed, **${s5.errors} errors**${s5.errorSamples.length ? ` (${s5.errorSamples.join('; ')})` : ''}; TTFT p50 ${fmt(s5.ttftP50Ms, 0)} ms, p99 ${fmt(s5.ttftP99Ms, 0)} ms; ` +
        `all done in ${s5.wallSeconds} s (${fmt(s5.tokensPerS)} tokens/s).`
      : 'Not run.',
    '',
    '## 6. The engine under an open-loop load',
    '',
    'Poisson arrivals from a fixed seed at shares of the capacity (the most requests per second closed loops of 8, 16 or 32 clients',
    'complete), prompts of 8–256',
    'tokens and outputs of 16–256 (also from the seed; sampled, so some end early). Tokens/s counts the tokens generated',
    'inside the arrival window; latencies cover every request that arrived in it. KV maintenance is the time the worker spent',
    'placing joining rows into the batch cache and gathering it, over its whole step time (both passes, sampling included).',
    '',
    ...names.flatMap((n) => openLoopTable(n, r.models[n]!.openLoop)),
    ...reading(r),
  ].join('\n');
}
