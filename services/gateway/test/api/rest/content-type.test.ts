import { isUtf8, parseContentType } from '../../../src/api/rest/content-type';

describe('parseContentType', () => {
  it.each([
    ['application/json', { mediaType: 'application/json' }],
    ['Application/JSON; Charset="UTF-8"', { mediaType: 'application/json', charset: 'utf-8' }],
    ['application/json;boundary=x; charset=latin1', { mediaType: 'application/json', charset: 'latin1' }],
  ])('%s', (header, want) => {
    expect(parseContentType(header)).toEqual(want);
  });

  it('accepts UTF-8 under its names, and no charset at all', () => {
    expect([undefined, 'utf-8', 'utf8'].map(isUtf8)).toEqual([true, true, true]);
    expect(['latin1', 'utf-16', 'iso-8859-1', ''].map(isUtf8)).toEqual([false, false, false, false]);
  });
});
