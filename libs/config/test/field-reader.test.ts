import { describeValue, FieldReader, type Problem, Problems, readValue } from '../src';

describe('FieldReader', () => {
  it('reads typed fields of a parsed object; absent (undefined or null) reads as undefined', () => {
    const r = new FieldReader({ name: 'a', n: 2, x: 1.5, on: true, mode: 'p2c', tags: ['t'], nested: { k: 'v' }, items: [1, 2], gone: null });
    expect([r.string('name'), r.integer('n'), r.number('x'), r.boolean('on'), r.oneOf('mode', ['rr', 'p2c'] as const)]).toEqual(['a', 2, 1.5, true, 'p2c']);
    expect(r.strings('tags')).toEqual(['t']);
    expect(r.object('nested')?.string('k')).toBe('v');
    expect(r.list('items')?.map((f) => [f.path, f.integer()])).toEqual([
      ['items[0]', 1],
      ['items[1]', 2],
    ]);
    expect([r.string('gone'), r.integer('missing'), r.has('gone'), r.has('name')]).toEqual([undefined, undefined, false, true]);
    expect(r.problems.size).toBe(0);
  });

  it('collects every problem with its path and what was expected, and throws them once', () => {
    const r = new FieldReader({ port: 'x', n: 1.5, limit: 0, on: 'yes', mode: 'fast', odd: { 'a b': 1 }, list: [1, 'two'], extra: 1 });
    r.unknownKeys(['port', 'n', 'limit', 'on', 'mode', 'odd', 'list', 'required']);
    r.integer('port');
    r.integer('n');
    r.integer('limit', { min: 1, max: 10 });
    r.boolean('on');
    r.oneOf('mode', ['slow', 'safe']);
    r.object('odd')?.string('a b');
    r.list('list')?.forEach((f) => f.integer());
    r.number('required', { min: 0, want: 'a number >= 0', required: true });
    r.check(false, 'limit', 'must be <= n');
    expect(r.problems.lines()).toEqual([
      'extra is not a known key (expected one of port, n, limit, on, mode, odd, list, required)',
      'port must be an integer, got "x"',
      'n must be an integer, got 1.5',
      'limit must be in 1..10, got 0',
      'on must be true or false, got "yes"',
      'mode must be one of slow, safe, got "fast"',
      'odd["a b"] must be a string, got 1',
      'list[1] must be an integer, got "two"',
      'required must be a number >= 0, got undefined',
      'limit must be <= n',
    ]);
    expect(() => r.done((p) => new Error(p.lines().join('\n')))).toThrow('port must be an integer, got "x"\nn must be');
  });

  it('lets a rule replace the wording, and `together` report unknown keys as one problem', () => {
    const r = new FieldReader({ secret: 'abc', models: [], wrong: 1, worse: 2 });
    r.unknownKeys(['secret', 'models'], (keys) => `unknown field(s) ${keys.join(', ')}`);
    r.string('secret', { test: (s) => s.length === 64, message: 'must be 64 hex digits' });
    r.strings('models', { nonEmpty: true, want: 'a non-empty list of model names' });
    expect(r.problems.lines()).toEqual([
      'unknown field(s) wrong, worse',
      'secret must be 64 hex digits',
      'models must be a non-empty list of model names, got []',
    ]);
  });

  it('stops at the first problem when the sink throws (a REST body: one 400 naming the field)', () => {
    const seen: Problem[] = [];
    const problems = new Problems((p) => {
      seen.push(p);
      throw new Error(`${p.path}: ${p.text}`);
    });
    const r = new FieldReader({ stream_options: { include_usage: 'yes' }, n: 'two' }, { problems });
    expect(() => r.object('stream_options')?.boolean('include_usage')).toThrow('stream_options.include_usage: must be true or false, got "yes"');
    expect(() => r.integer('n')).toThrow('n: must be an integer, got "two"');
    expect(seen.map((p) => p.path)).toEqual(['stream_options.include_usage', 'n']);
  });

  it('reads YAML with null as a value (not absent) and values described as a person wrote them', () => {
    const problems = new Problems();
    const file = readValue({ variants: [null, { weight: 'ten' }], canary: null }, { problems, show: describeValue, nullIsAbsent: false }).object()!;
    file.list('variants')?.forEach((v) => v.object({ want: 'a mapping', required: true })?.number('weight', { min: 0, want: 'a number >= 0', required: true }));
    file.boolean('canary');
    expect(problems.lines()).toEqual([
      'variants[0] must be a mapping, got null',
      'variants[1].weight must be a number >= 0, got "ten"',
      'canary must be true or false, got null',
    ]);
    expect([describeValue(undefined), describeValue([1]), describeValue({}), describeValue('x'.repeat(90)).length]).toEqual([
      'nothing',
      'a list',
      'a mapping',
      83,
    ]);
  });

  it('reads text (an environment): trimmed, empty is absent, numbers, booleans and lists parsed', () => {
    const r = new FieldReader({ PORT: ' 8080 ', EMPTY: '  ', ON: 'Off', LIST: 'a, b,,c', BIG: '1e999', FLAG: 'MAYBE' }, { text: true });
    expect([r.integer('PORT'), r.string('EMPTY'), r.boolean('ON'), r.strings('LIST'), r.number('BIG'), r.boolean('FLAG')]).toEqual([
      8080,
      undefined,
      false,
      ['a', 'b', 'c'],
      undefined,
      undefined,
    ]);
    expect(r.problems.lines()).toEqual(['BIG must be a number, got "1e999"', 'FLAG must be true or false, got "maybe"']);
  });

  it('with finite: false, takes JSON 1e999 (Infinity) as a number, for the range checks after it', () => {
    const r = new FieldReader({ t: Infinity, n: Number.NaN }, { finite: false });
    expect(r.number('t')).toBe(Infinity);
    expect(r.number('n')).toBeUndefined();
    expect(r.problems.lines()).toEqual(['n must be a number, got null']);
  });
});
