import { subjectMatches } from '../src';
import { patternsOverlap } from '../src/subject';

describe('subjectMatches (NATS wildcard rules)', () => {
  it.each([
    ['tokenmesh.workers.heartbeat.*', 'tokenmesh.workers.heartbeat.w1', true],
    ['tokenmesh.workers.heartbeat.*', 'tokenmesh.workers.heartbeat.w1.x', false],
    ['tokenmesh.workers.heartbeat.*', 'tokenmesh.workers.heartbeat', false],
    ['tokenmesh.events.>', 'tokenmesh.events.completion', true],
    ['tokenmesh.events.>', 'tokenmesh.events.feedback.thumbs', true],
    ['tokenmesh.events.>', 'tokenmesh.events', false],
    ['*.events.*', 'tokenmesh.events.x', true],
    ['>', 'anything.at.all', true],
    ['a.b', 'a.b', true],
    ['a.b', 'a.bc', false],
    ['a*.b', 'ax.b', false], // `a*` is a literal token
  ])('%s ~ %s → %s', (pattern, subject, expected) => {
    expect(subjectMatches(pattern, subject)).toBe(expected);
  });
});

describe('patternsOverlap (streams may not share subjects)', () => {
  it.each([
    ['tokenmesh.events.>', 'tokenmesh.jobs.>', false],
    ['tokenmesh.events.>', 'tokenmesh.events.*.done', true],
    ['tokenmesh.*.x', 'tokenmesh.events.*', true],
    ['a.*', 'a.*.b', false],
    ['a.b', 'a.b', true],
    ['>', 'x', true],
  ])('%s / %s → %s', (a, b, expected) => {
    expect(patternsOverlap(a, b)).toBe(expected);
    expect(patternsOverlap(b, a)).toBe(expected);
  });
});
