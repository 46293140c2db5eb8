import { describeLineErrors, parseBatchInput } from '../src/batch-input';

const ok = (id: string, url = '/v1/completions', body: unknown = { prompt: 'x' }) => JSON.stringify({ custom_id: id, method: 'POST', url, body });

describe('parseBatchInput', () => {
  it('reads each line as a request with its line number; a final newline is no line', () => {
    const r = parseBatchInput(`${ok('a')}\n${ok('b', '/v1/chat/completions', { messages: [] })}\n`, 10);
    expect(r.errors).toEqual([]);
    expect(r.lines).toEqual([
      { line: 1, customId: 'a', url: '/v1/completions', body: { prompt: 'x' } },
      { line: 2, customId: 'b', url: '/v1/chat/completions', body: { messages: [] } },
    ]);
  });

  it.each([
    ['{"custom_id":', /^not valid JSON/],
    ['[1]', /^must be a JSON object$/],
    ['   ', /^empty line$/],
    [JSON.stringify({ method: 'POST', url: '/v1/completions', body: {} }), /^custom_id: must be a non-empty string$/],
    [JSON.stringify({ custom_id: 'z'.repeat(513), method: 'POST', url: '/v1/completions', body: {} }), /^custom_id: is 513 characters; the limit is 512$/],
    [JSON.stringify({ custom_id: 'c', method: 'GET', url: '/v1/completions', body: {} }), /^method: must be "POST", got "GET"$/],
    [ok('c', '/v1/embeddings'), /^url: must be one of \/v1\/completions, \/v1\/chat\/completions, got "\/v1\/embeddings"$/],
    [ok('c', '/v1/completions', 'text'), /^body: must be a JSON object$/],
    [ok('c', '/v1/completions', { prompt: 'x', stream: true }), /^body.stream: a batch request cannot stream$/],
  ])('names line 2 for %s', (bad, message) => {
    const r = parseBatchInput(`${ok('a')}\n${bad}\n${ok('b')}`, 10);
    expect(r.errors).toHaveLength(1);
    expect(r.errors[0]!.line).toBe(2);
    expect(r.errors[0]!.message).toMatch(message);
    expect(r.lines.map((l) => l.customId)).toEqual(['a', 'b']);
  });

  it('names the earlier line of a duplicate custom_id', () => {
    const r = parseBatchInput([ok('a'), ok('b'), ok('a')].join('\n'), 10);
    expect(r.errors).toEqual([{ line: 3, message: 'custom_id: "a" is also on line 1; each request needs its own' }]);
  });

  it('refuses an empty file and one over the line limit', () => {
    expect(parseBatchInput('', 10).errors).toEqual([{ line: 1, message: 'the file holds no requests' }]);
    const r = parseBatchInput([ok('a'), ok('b'), ok('c')].join('\n'), 2);
    expect(r.errors).toEqual([{ line: 3, message: 'the file holds 3 requests; the limit is 2' }]);
  });

  it('describes the first errors and counts the rest', () => {
    const errors = Array.from({ length: 12 }, (_, i) => ({ line: i + 1, message: 'bad' }));
    expect(describeLineErrors(errors, 2)).toBe('line 1: bad; line 2: bad; and 10 more');
  });
});
