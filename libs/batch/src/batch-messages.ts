import type { BatchEndpoint } from './batch-input';
import type { LineOutcome } from './batch-topology';

/** A batch to expand (on BATCH_JOBS_STREAM). */
export interface BatchJob {
  readonly batchId: string;
}

/** One request of a batch (on BATCH_LINES_STREAM). */
export interface LineJob {
  readonly batchId: string;
  /** 1-based line of the input file: the output keeps the input's order. */
  readonly line: number;
  readonly customId: string;
  readonly url: BatchEndpoint;
  readonly body: Record<string, unknown>;
}

/** OpenAI's line of a batch output or error file. */
export interface OutputLine {
  readonly id: string;
  readonly custom_id: string;
  readonly response: { readonly status_code: number; readonly request_id: string; readonly body: unknown } | null;
  readonly error: { readonly code: string; readonly message: string } | null;
}

/** A line's result (on BATCH_RESULTS_STREAM). */
export interface LineResult {
  readonly line: number;
  readonly outcome: LineOutcome;
  /** Absent for a line a cancel skipped. */
  readonly output?: OutputLine;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

export const encodeMessage = (m: BatchJob | LineJob | LineResult): Uint8Array => enc.encode(JSON.stringify(m));
export const decodeMessage = <T extends BatchJob | LineJob | LineResult>(data: Uint8Array): T => JSON.parse(dec.decode(data)) as T;
