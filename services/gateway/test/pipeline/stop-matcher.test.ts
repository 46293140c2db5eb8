import { StopMatcher } from '../../src/pipeline/stop-matcher';

function run(stops: string[], deltas: string[]): { out: string[]; done: boolean } {
  const m = new StopMatcher(stops);
  const out = deltas.map((d) => m.push(d));
  out.push(m.flush());
  return { out, done: m.done };
}

describe('StopMatcher', () => {
  it('passes text through when nothing matches', () => {
    expect(run(['END'], ['hello ', 'world'])).toEqual({ out: ['hello ', 'world', ''], done: false });
  });

  it('cuts at a stop string inside one delta and drops everything after it', () => {
    expect(run(['\n\n'], ['one\n\ntwo', 'three'])).toEqual({ out: ['one', '', ''], done: true });
  });

  it('holds back a possible start of a stop string across deltas', () => {
    expect(run(['STOP'], ['abc S', 'T', 'OP tail'])).toEqual({ out: ['abc ', '', '', ''], done: true });
  });

  it('releases held text when the match fails, and at the end of the stream', () => {
    expect(run(['STOP'], ['abc ST', 'x', 'def S'])).toEqual({ out: ['abc ', 'STx', 'def ', 'S'], done: false });
  });

  it('uses the earliest of several stop strings', () => {
    expect(run(['b', 'xyz'], ['axyzb'])).toEqual({ out: ['a', ''], done: true });
  });
});
