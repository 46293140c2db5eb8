/**
 * npm run bench:lifecycle — does loading a version at run time stall the streams already running?
 * A worker serves tinygpt@1 to 8 closed-loop clients (sampled 64-token requests, streamed token by
 * token through the engine). Meanwhile, three times over, tinygpt@int8 is loaded from the
 * repository as an operator's LoadModel does (files checked against model-meta.json, worker
 * threads of its own, a warm-up generation) and then unloaded. Every gap between two tokens of a
 * stream is put in the window its later token fell in: before any load, while a load runs, while
 * both versions are served, while an unload runs. Writes docs/bench/lifecycle.md and .json.
 */
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

import { type LoadedModel, loadVersion } from '@tokenmesh/inference';
import { scanRepository, validateSampling } from '@tokenmesh/model';

import { loadEngine } from './mesh-engine';
import { quantile, round } from './stats';

const ROOT = resolve(__dirname, '../..');
const STREAMS = 8;
const ROUNDS = 3;
const BASELINE_MS = 4000;
const BOTH_MS = 3000;
const AFTER_MS = 2000;

type Window = 'before any load' | 'during a load' | 'both versions served' | 'during an unload' | 'after the unload';
const WINDOWS: Window[] = ['before any load', 'during a load', 'both versions served', 'during an unload', 'after the unload'];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One stream's token times (performance.now()), request after request, until `stop()` says so. */
async function client(m: LoadedModel, k: number, stop: () => boolean, gaps: { at: number; ms: number }[]): Promise<void> {
  for (let i = 0; !stop(); i++) {
    const promptIds = [...Buffer.from(`In the beginning God created ${k}-${i}`)];
    const sampling = validateSampling(
      { maxTokens: 64, temperature: 0.8 },
      { promptTokens: promptIds.length, contextLength: m.spec.contextLength, vocabSize: m.spec.vocabSize },
    );
    let last = 0;
    for await (const e of m.engine.generate({ id: `c${k}-${i}`, promptIds, sampling })) {
      if (e.type !== 'token') continue;
      const now = performance.now();
      if (last > 0) gaps.push({ at: now, ms: now - last });
      last = now;
    }
  }
}

interface Result {
  readonly windows: Record<Window, { gaps: number; p50: number; p99: number; max: number }>;
  readonly loadsMs: number[];
  readonly unloadsMs: number[];
  readonly seconds: number;
}

async function main(): Promise<void> {
  const t0 = performance.now();
  const { repo, model } = await loadEngine(join(ROOT, 'models/tinygpt'));
  const entry = (await scanRepository(join(ROOT, 'models'))).find((e) => e.name === 'tinygpt' && e.version === 'int8' && !e.problem);
  if (!entry) throw new Error('models/tinygpt-int8 (tinygpt@int8) is not in the repository');
  const gaps: { at: number; ms: number }[] = [];
  const marks: { window: Window; from: number }[] = [];
  const mark = (window: Window) => marks.push({ window, from: performance.now() });
  let stopped = false;
  const clients = Array.from({ length: STREAMS }, (_, k) => client(model, k, () => stopped, gaps));
  const loadsMs: number[] = [];
  const unloadsMs: number[] = [];
  try {
    // The first second is the clients' own start (prefills in a wave): not counted.
    await sleep(1000);
    mark('before any load');
    await sleep(BASELINE_MS);
    for (let r = 0; r < ROUNDS; r++) {
      mark('during a load');
      const l0 = performance.now();
      await loadVersion(repo, entry);
      loadsMs.push(round(performance.now() - l0));
      mark('both versions served');
      await sleep(BOTH_MS);
      mark('during an unload');
      const u0 = performance.now();
      await repo.unloadModel('tinygpt', 'int8');
      unloadsMs.push(round(performance.now() - u0));
      mark('after the unload');
      await sleep(AFTER_MS);
      console.log(`round ${r + 1}: load ${loadsMs.at(-1)} ms, unload ${unloadsMs.at(-1)} ms`);
    }
  } finally {
    stopped = true;
    await Promise.all(clients);
    await repo.close();
  }
  const windowOf = (at: number): Window | undefined => marks.filter((m) => m.from <= at).at(-1)?.window;
  const by = Object.fromEntries(WINDOWS.map((w) => [w, [] as number[]])) as Record<Window, number[]>;
  for (const g of gaps) {
    const w = windowOf(g.at);
    if (w) by[w].push(g.ms);
  }
  const windows = Object.fromEntries(
    WINDOWS.map((w) => [
      w,
      { gaps: by[w].length, p50: round(quantile(by[w], 0.5), 2), p99: round(quantile(by[w], 0.99), 2), max: round(Math.max(...by[w]), 2) },
    ]),
  ) as Result['windows'];
  const result: Result = { windows, loadsMs, unloadsMs, seconds: round((performance.now() - t0) / 1000, 1) };
  writeFileSync(join(ROOT, 'docs/bench/lifecycle.json'), `${JSON.stringify({ date: new Date().toISOString(), ...result }, null, 2)}\n`);
  writeFileSync(join(ROOT, 'docs/bench/lifecycle.md'), report(result));
  console.log('wrote docs/bench/lifecycle.md');
}

function report(r: Result): string {
  const base = r.windows['before any load'];
  const during = r.windows['during a load'];
  const lines = [
    '# Model lifecycle: streams while a version loads',
    '',
    `\`npm run bench:lifecycle\`, ${new Date().toISOString()}, ${r.seconds} s. Machine: ${process.arch}, Node ${process.version}, onnxruntime-node CPU,`,
    '1 intra-op thread; shared and noisy (2 cores here): compare within this report.',
    '',
    `A worker serves tinygpt@1 to ${STREAMS} closed-loop clients (sampled 64-token requests). ${ROUNDS} times, tinygpt@int8 is loaded from the`,
    'repository as LoadModel does (files checked against model-meta.json, worker threads of its own, a warm-up generation, then served) and',
    'unloaded. Each gap between two tokens of a stream counts in the window its later token fell in.',
    '',
    '| window | gaps | inter-token p50 ms | p99 ms | max ms |',
    '|---|---|---|---|---|',
    ...WINDOWS.map((w) => `| ${w} | ${r.windows[w].gaps} | ${r.windows[w].p50} | ${r.windows[w].p99} | ${r.windows[w].max} |`),
    '',
    `Loads took ${r.loadsMs.join(', ')} ms; unloads ${r.unloadsMs.join(', ')} ms.`,
    '',
    '## Reading',
    '',
    `- No stall: the longest gap while a load ran was ${during.max} ms, against loads of ${Math.min(...r.loadsMs)}–${Math.max(...r.loadsMs)} ms; a load that`,
    '  stopped the running worker would show a gap as long as itself.',
    `- During a load the running streams' inter-token p99 is ${during.p99} ms against ${base.p99} ms before any load (${round(during.p99 / base.p99, 2)}×)`,
    `  and ${r.windows['both versions served'].p99} ms while both versions are served (p50: ${during.p50}, ${base.p50} and ${r.windows['both versions served'].p50} ms in that order). The new`,
    "  version's session is created and warmed up in threads of its own, but on a 2-core machine the load and the second version's",
    '  threads compete with the running worker thread for a core: compare the windows after the first load too, not only the baseline.',
    '',
  ];
  return lines.join('\n');
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
