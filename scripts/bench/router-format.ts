/** How the router benchmark's report prints its figures, shared by its sections. */
import { round } from './stats';

/** A share (0..1) as a percentage with one decimal. */
export const pct = (v: number) => `${round(v * 100)} %`;
/** A pick-time p99 bound in µs; null means above the histogram's largest bucket (10 ms). */
export const us = (v: number | null) => (v === null ? '> 10 000' : String(v));
/** A CPU share that may be unknown (no /proc). */
export const share = (v: number | null) => (v === null ? '?' : pct(v));
