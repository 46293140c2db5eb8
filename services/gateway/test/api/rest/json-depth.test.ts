import { jsonDepth } from '../../../src/api/rest/json-depth';

describe('jsonDepth', () => {
  it.each([
    ['1', 0],
    ['{}', 1],
    ['{"a": [1, {"b": []}]}', 4],
    ['[[], [[]], []]', 3],
    // Brackets inside strings, escaped quotes and backslashes included, are text.
    ['{"a": "[[[{{{"}', 1],
    ['{"a": "\\"[[[", "b": "\\\\", "c": [1]}', 2],
  ])('%s is %d deep', (text, depth) => {
    expect(jsonDepth(text)).toBe(depth);
  });

  it('measures a million levels without recursion', () => {
    expect(jsonDepth('['.repeat(1_000_000) + ']'.repeat(1_000_000))).toBe(1_000_000);
  });
});
