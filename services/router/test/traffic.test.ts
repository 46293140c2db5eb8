import { mkdtempSync, renameSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { waitFor } from '@tokenmesh/testing';

import { loadTrafficConfig, parseTrafficConfig, SplitPlan, type TrafficConfig, TrafficConfigError, watchTrafficConfig } from '../src/traffic';

const KEYS = Array.from({ length: 2000 }, (_, i) => `user-${i}`);

function split(stable: number, candidate: number, extra = ''): string {
  return `
strategy: p2c
models:
  tinygpt:
    strategy: consistent-hash
    variants:
      - name: stable
        model: tinygpt@1
        weight: ${stable}
      - name: candidate
        model: tinygpt@2
        weight: ${candidate}
        canary: true
${extra}`;
}

function plan(text: string, options?: ConstructorParameters<typeof SplitPlan>[1]): SplitPlan {
  return new SplitPlan(parseTrafficConfig(text, 'router.yaml'), options);
}

function share(values: readonly unknown[], wanted: unknown): number {
  return (100 * values.filter((v) => v === wanted).length) / values.length;
}

describe('traffic split config', () => {
  it('parses a full file into typed splits', () => {
    const config = parseTrafficConfig(split(90, 10, '    shadow:\n      model: tinygpt@2\n      percent: 5\n'), 'router.yaml');
    expect(config.strategy).toBe('p2c');
    expect(config.models.get('tinygpt')).toEqual({
      strategy: 'consistent-hash',
      variants: [
        { name: 'stable', model: 'tinygpt@1', weight: 90, canary: false },
        { name: 'candidate', model: 'tinygpt@2', weight: 10, canary: true },
      ],
      shadow: { model: 'tinygpt@2', percent: 5 },
    });
  });

  it('treats an empty file, comments only, or no models as no splits', () => {
    for (const text of ['', '# nothing yet\n', 'models: {}\n', 'models:\n', 'strategy: weighted\n']) {
      expect(parseTrafficConfig(text, 'router.yaml').models.size).toBe(0);
    }
  });

  const variant = (fields: string): string => `models:\n  tinygpt:\n    variants:\n      - ${fields.replace(/\n/g, '\n        ')}\n`;
  const ok = 'name: stable\nmodel: tinygpt@1\nweight: 1';
  const bad: [string, string, string][] = [
    ['an unknown key in a variant', variant(`${ok}\nwieght: 5`), 'models.tinygpt.variants[0].wieght is not a known key'],
    ['an unknown top-level key', 'modles: {}\n', 'modles is not a known key (expected one of strategy, models)'],
    [
      'an unknown key in a split',
      `models:\n  tinygpt:\n    varients: []\n    variants:\n      - ${ok.replace(/\n/g, '\n        ')}\n`,
      'models.tinygpt.varients is not a known key',
    ],
    [
      'a weight that is not a number',
      variant('name: stable\nmodel: tinygpt@1\nweight: ten'),
      'models.tinygpt.variants[0].weight must be a number >= 0, got "ten"',
    ],
    ['a negative weight', variant('name: stable\nmodel: tinygpt@1\nweight: -1'), 'models.tinygpt.variants[0].weight must be a number >= 0, got -1'],
    ['a missing weight', variant('name: stable\nmodel: tinygpt@1'), 'models.tinygpt.variants[0].weight must be a number >= 0, got nothing'],
    [
      'duplicate variant names',
      `${variant(ok)}      - ${ok.replace(/\n/g, '\n        ')}\n`,
      'models.tinygpt.variants[1].name "stable" is already used by variants[0]',
    ],
    [
      'a model id without a version',
      variant('name: stable\nmodel: tinygpt\nweight: 1'),
      'models.tinygpt.variants[0].model must be name@version, e.g. tinygpt@1, got "tinygpt"',
    ],
    ['a model id with two versions', variant('name: stable\nmodel: tinygpt@1@2\nweight: 1'), 'models.tinygpt.variants[0].model must be name@version'],
    [
      'a bad variant name',
      variant('name: "has space"\nmodel: tinygpt@1\nweight: 1'),
      'models.tinygpt.variants[0].name must be 1 to 64 of A-Z a-z 0-9 . _ -, got "has space"',
    ],
    ['a canary flag that is not a boolean', variant(`${ok}\ncanary: yes`), 'models.tinygpt.variants[0].canary must be true or false, got "yes"'],
    ['a bad default strategy', 'strategy: fastest\n', 'strategy must be one of round-robin, weighted, least-connections, p2c, consistent-hash, got "fastest"'],
    [
      'a bad model strategy',
      `models:\n  tinygpt:\n    strategy: random\n    variants:\n      - ${ok.replace(/\n/g, '\n        ')}\n`,
      'models.tinygpt.strategy must be one of',
    ],
    [
      'shadow percent 150',
      `${variant(ok)}    shadow:\n      model: tinygpt@2\n      percent: 150\n`,
      'models.tinygpt.shadow.percent must be a number from 0 to 100, got 150',
    ],
    ['a shadow with a bad model', `${variant(ok)}    shadow:\n      model: tinygpt\n      percent: 5\n`, 'models.tinygpt.shadow.model must be name@version'],
    ['empty variants', 'models:\n  tinygpt:\n    variants: []\n', 'models.tinygpt.variants must list at least one variant'],
    ['no variants key', 'models:\n  tinygpt:\n    strategy: p2c\n', 'models.tinygpt.variants must list at least one variant'],
    ['all-zero weights', split(0, 0), 'models.tinygpt.variants weights must add up to more than 0'],
    ['only canaries', variant(`${ok}\ncanary: true`), 'models.tinygpt.variants has only canary variants'],
    [
      'a model key with a version',
      'models:\n  tinygpt@1:\n    variants:\n      - name: a\n        model: tinygpt@1\n        weight: 1\n',
      'models["tinygpt@1"] must be a model name of letters, digits, _ . - and no @version, got "tinygpt@1"',
    ],
    ['a file that is not a mapping', '- tinygpt\n', 'the file must be a mapping with keys strategy, models, got a list'],
    ['models that is not a mapping', 'models: [tinygpt]\n', 'models must be a mapping of model name to split, got a list'],
    ['a variant that is not a mapping', 'models:\n  tinygpt:\n    variants:\n      - tinygpt@1\n', 'models.tinygpt.variants[0] must be a mapping'],
    ['a YAML syntax error', 'models:\n  tinygpt:\n    variants: [\n  oops: 1\n', 'router.yaml: line 4, column'],
    ['a duplicated YAML key', 'models: {}\nmodels: {}\n', 'router.yaml: line 2, column 1: Map keys must be unique'],
  ];

  it.each(bad)('rejects %s, naming the file and the path', (_label, text, message) => {
    let error: unknown;
    try {
      parseTrafficConfig(text, 'router.yaml');
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(TrafficConfigError);
    expect((error as Error).message).toContain(message);
    expect((error as Error).message).toMatch(/^router\.yaml: /);
  });

  it('reports every problem in one error, each line naming the file', () => {
    const text = `
strategy: fastest
models:
  tinygpt:
    variants:
      - name: stable
        model: tinygpt
        weight: ten
    shadow:
      model: tinygpt@2
      percent: 150
`;
    expect(() => parseTrafficConfig(text, 'router.yaml')).toThrow(
      [
        'router.yaml: strategy must be one of round-robin, weighted, least-connections, p2c, consistent-hash, got "fastest"',
        'router.yaml: models.tinygpt.variants[0].model must be name@version, e.g. tinygpt@1, got "tinygpt"',
        'router.yaml: models.tinygpt.variants[0].weight must be a number >= 0, got "ten"',
        'router.yaml: models.tinygpt.shadow.percent must be a number from 0 to 100, got 150',
      ].join('\n'),
    );
  });
});

describe('traffic split plan', () => {
  it('splits 90/10 over distinct keys, and each key keeps its variant', () => {
    const p = plan(split(90, 10));
    const first = KEYS.map((k) => p.route('tinygpt', k)?.variant);
    expect(Math.abs(share(first, 'stable') - 90)).toBeLessThanOrEqual(2);
    expect(share(first, 'stable') + share(first, 'candidate')).toBe(100);
    expect(KEYS.map((k) => p.route('tinygpt', k)?.variant)).toEqual(first);
    // A plan rebuilt from the same file (a reload) agrees too: stickiness is not per instance.
    const reloaded = plan(split(90, 10));
    expect(KEYS.map((k) => reloaded.route('tinygpt', k)?.variant)).toEqual(first);
  });

  it('moves only stable keys into the candidate when its weight grows from 10 to 20', () => {
    const before = plan(split(90, 10));
    const after = plan(split(80, 20));
    const moved = KEYS.filter((k) => before.route('tinygpt', k)?.variant !== after.route('tinygpt', k)?.variant);
    for (const k of moved) {
      expect(before.route('tinygpt', k)?.variant).toBe('stable');
      expect(after.route('tinygpt', k)?.variant).toBe('candidate');
    }
    expect(Math.abs((100 * moved.length) / KEYS.length - 10)).toBeLessThanOrEqual(2);
  });

  it('never picks a zero-weight variant', () => {
    const p = plan(split(100, 0));
    expect(new Set(KEYS.map((k) => p.route('tinygpt', k)?.variant))).toEqual(new Set(['stable']));
  });

  it('leaves requests naming a version, or an unlisted model, to normal routing', () => {
    const p = plan(split(90, 10, '    shadow:\n      model: tinygpt@2\n      percent: 100\n'));
    expect(p.route('tinygpt@1', 'user-1')).toBeUndefined();
    expect(p.route('othergpt', 'user-1')).toBeUndefined();
    expect(p.route('', 'user-1')).toBeUndefined();
    expect(p.shadow('tinygpt@1', 'user-1')).toBeUndefined();
    expect(p.shadow('othergpt', 'user-1')).toBeUndefined();
  });

  it('gives a canary the stable variant as its fallback, and stable requests none', () => {
    const p = plan(split(50, 50));
    const routes = KEYS.slice(0, 50).map((k) => p.route('tinygpt', k)!);
    const canary = routes.find((r) => r.variant === 'candidate');
    const stable = routes.find((r) => r.variant === 'stable');
    expect(canary).toEqual({ model: 'tinygpt@2', variant: 'candidate', fallback: { model: 'tinygpt@1', variant: 'stable' } });
    expect(stable).toEqual({ model: 'tinygpt@1', variant: 'stable' });
  });

  it('falls back to the highest-weight stable variant', () => {
    const p = plan(`
models:
  tinygpt:
    variants:
      - { name: old, model: tinygpt@0, weight: 5 }
      - { name: stable, model: tinygpt@1, weight: 60 }
      - { name: canary, model: tinygpt@2, weight: 35, canary: true }
`);
    const canary = KEYS.map((k) => p.route('tinygpt', k)!).find((r) => r.variant === 'canary');
    expect(canary?.fallback).toEqual({ model: 'tinygpt@1', variant: 'stable' });
  });

  it('draws at random for an empty key, using the injected source', () => {
    const draws = [0.95, 0.05, 0.5];
    const p = plan(split(90, 10), { random: () => draws.shift()! });
    expect(p.route('tinygpt', '')?.variant).toBe('candidate');
    expect(p.route('tinygpt', '')?.variant).toBe('stable');
    expect(p.route('tinygpt', '')?.variant).toBe('stable');
  });

  it('mirrors the shadow percentage of keys, sticky per key and independent of the variant', () => {
    const shadowed = (percent: number): SplitPlan => plan(split(90, 10, `    shadow:\n      model: tinygpt@3\n      percent: ${percent}\n`));
    const p = shadowed(5);
    const first = KEYS.map((k) => p.shadow('tinygpt', k));
    expect(Math.abs(share(first, 'tinygpt@3') - 5)).toBeLessThanOrEqual(2);
    expect(KEYS.map((k) => p.shadow('tinygpt', k))).toEqual(first);
    // A different salt from route(): the mirrored keys are not just the candidate's keys.
    const mirroredCandidates = KEYS.filter((k, i) => first[i] && p.route('tinygpt', k)?.variant === 'candidate');
    expect(mirroredCandidates.length).toBeLessThan(first.filter(Boolean).length);
    const never = shadowed(0);
    const always = shadowed(100);
    expect(KEYS.some((k) => never.shadow('tinygpt', k) !== undefined)).toBe(false);
    expect(KEYS.every((k) => always.shadow('tinygpt', k) === 'tinygpt@3')).toBe(true);
    expect(plan(split(90, 10)).shadow('tinygpt', 'user-1')).toBeUndefined();
  });

  it('mirrors empty keys by random draw', () => {
    const draws = [0.01, 0.99];
    const p = plan(split(90, 10, '    shadow:\n      model: tinygpt@3\n      percent: 5\n'), { random: () => draws.shift()! });
    expect(p.shadow('tinygpt', '')).toBe('tinygpt@3');
    expect(p.shadow('tinygpt', '')).toBeUndefined();
  });

  it("uses a model's strategy, else the file's default, else none", () => {
    const p = plan(`${split(90, 10)}  othergpt:\n    variants:\n      - { name: only, model: othergpt@1, weight: 1 }\n`);
    expect(p.strategyFor('tinygpt')).toBe('consistent-hash');
    expect(p.strategyFor('tinygpt@2')).toBe('consistent-hash');
    expect(p.strategyFor('othergpt')).toBe('p2c');
    expect(p.strategyFor('unlisted')).toBe('p2c');
    expect(plan('models: {}\n').strategyFor('tinygpt')).toBeUndefined();
  });
});

describe('traffic config watcher', () => {
  let dir: string;
  let file: string;
  let closers: (() => void)[];

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'tokenmesh-traffic-'));
    file = join(dir, 'router.yaml');
    closers = [];
  });

  afterEach(() => {
    for (const close of closers) close();
    rmSync(dir, { recursive: true, force: true });
  });

  function watch(): { changes: TrafficConfig[]; errors: Error[]; close(): void } {
    const changes: TrafficConfig[] = [];
    const errors: Error[] = [];
    const w = watchTrafficConfig(
      file,
      (c) => changes.push(c),
      (e) => errors.push(e),
      { intervalMs: 50 },
    );
    closers.push(() => w.close());
    return { changes, errors, close: () => w.close() };
  }

  const weightOf = (c: TrafficConfig | undefined, i: number): number | undefined => c?.models.get('tinygpt')?.variants[i]?.weight;

  it('loads a file at start-up, and names the file when it is invalid', () => {
    writeFileSync(file, split(90, 10));
    expect(weightOf(loadTrafficConfig(file), 0)).toBe(90);
    writeFileSync(file, 'strategy: fastest\n');
    expect(() => loadTrafficConfig(file)).toThrow(`${file}: strategy must be one of`);
  });

  it('reloads valid edits, reports invalid ones without a change, and stops on close', async () => {
    writeFileSync(file, split(90, 10));
    const w = watch();

    writeFileSync(file, split(80, 20));
    await waitFor(() => w.changes.length === 1);
    expect(weightOf(w.changes[0], 1)).toBe(20);

    writeFileSync(file, split(80, 20).replace('weight: 20', 'weight: twenty'));
    const error = await waitFor(() => w.errors[0]);
    expect(error).toBeInstanceOf(TrafficConfigError);
    expect(error.message).toContain(`${file}: models.tinygpt.variants[1].weight must be a number >= 0, got "twenty"`);
    expect(w.changes).toHaveLength(1);

    // Editors save by writing a temporary file and renaming it over the original.
    const tmp = join(dir, '.router.yaml.swp');
    writeFileSync(tmp, split(70, 30));
    renameSync(tmp, file);
    await waitFor(() => w.changes.length === 2);
    expect(weightOf(w.changes[1], 1)).toBe(30);
    expect(w.errors).toHaveLength(1);

    w.close();
    writeFileSync(file, split(60, 40));
    await new Promise((r) => setTimeout(r, 250));
    expect(w.changes).toHaveLength(2);
    expect(w.errors).toHaveLength(1);
  });

  it('reports a deleted file once and picks it up when it comes back', async () => {
    writeFileSync(file, split(90, 10));
    const w = watch();
    rmSync(file);
    const error = await waitFor(() => w.errors[0]);
    expect((error as NodeJS.ErrnoException).code).toBe('ENOENT');
    await new Promise((r) => setTimeout(r, 200));
    expect(w.errors).toHaveLength(1);

    writeFileSync(file, split(50, 50));
    await waitFor(() => w.changes.length === 1);
    expect(weightOf(w.changes[0], 1)).toBe(50);
  });

  it('does not report a touch that leaves the text unchanged as a second change', async () => {
    writeFileSync(file, split(90, 10));
    const w = watch();
    writeFileSync(file, split(80, 20));
    await waitFor(() => w.changes.length === 1);
    utimesSync(file, new Date(), new Date(Date.now() + 60_000));
    await new Promise((r) => setTimeout(r, 200));
    expect(w.changes).toHaveLength(1);
  });
});
