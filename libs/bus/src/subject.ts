import { BusError } from './errors';

/*
 * NATS subject rules, applied by both adapters so the in-memory bus refuses what nats-server
 * would: dot-separated non-empty tokens without whitespace; `*` matches one token and `>` one or
 * more trailing tokens, and only as whole tokens (`a*` is a literal).
 */

function tokens(subject: string, what: string): string[] {
  if (typeof subject !== 'string' || subject === '' || /\s/.test(subject)) {
    throw new BusError('invalid', `invalid ${what} ${JSON.stringify(subject)}`);
  }
  const parts = subject.split('.');
  if (parts.some((t) => t === '')) throw new BusError('invalid', `invalid ${what} ${JSON.stringify(subject)}: empty token`);
  return parts;
}

/** @throws BusError(`invalid`) unless `subject` is a literal subject (no wildcards). */
export function checkSubject(subject: string): void {
  if (tokens(subject, 'subject').some((t) => t === '*' || t === '>')) {
    throw new BusError('invalid', `cannot publish to wildcard subject ${JSON.stringify(subject)}`);
  }
}

/** @throws BusError(`invalid`) unless `pattern` is a subject, possibly with wildcards. */
export function checkPattern(pattern: string): void {
  const parts = tokens(pattern, 'subject pattern');
  if (parts.slice(0, -1).includes('>')) {
    throw new BusError('invalid', `invalid subject pattern ${JSON.stringify(pattern)}: '>' must be the last token`);
  }
}

/** @throws BusError(`invalid`) unless `name` can name a stream or durable consumer. */
export function checkName(name: string, what: string): void {
  if (typeof name !== 'string' || name === '' || /[\s.*>/\\]/.test(name)) {
    throw new BusError('invalid', `invalid ${what} name ${JSON.stringify(name)}`);
  }
}

/** Whether literal `subject` matches `pattern`. */
export function subjectMatches(pattern: string, subject: string): boolean {
  const p = pattern.split('.');
  const s = subject.split('.');
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '>') return s.length > i;
    if (i >= s.length || (p[i] !== '*' && p[i] !== s[i])) return false;
  }
  return p.length === s.length;
}

/** Whether some subject matches both patterns (nats-server refuses overlapping stream subjects). */
export function patternsOverlap(a: string, b: string): boolean {
  const x = a.split('.');
  const y = b.split('.');
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    if (x[i] === '>' || y[i] === '>') return true;
    if (x[i] !== '*' && y[i] !== '*' && x[i] !== y[i]) return false;
  }
  return x.length === y.length;
}
