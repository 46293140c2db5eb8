import type { Sampling } from '@tokenmesh/model';

/** Sent once when the worker starts. */
export interface WorkerInit {
  readonly modelDir: string;
  readonly intraOpThreads: number;
  /** Tried in order; the first that loads wins (e.g. ['cuda', 'cpu']). */
  readonly executionProviders: readonly string[];
}

/** A sequence joining the worker: its first `step` prefills the prompt and samples one token. */
export interface AddSequence {
  readonly id: string;
  readonly promptIds: readonly number[];
  readonly sampling: Sampling;
}

export type WorkerRequest =
  | { readonly op: 'add'; readonly seq: AddSequence }
  | { readonly op: 'step' }
  | { readonly op: 'remove'; readonly id: string };

/** One token for one sequence from one step. */
export interface StepToken {
  readonly id: string;
  readonly token: number;
  readonly logprob: number;
}

export interface StepResult {
  readonly tokens: StepToken[];
  /** Sequences decoded together in this step's one decode pass (0 when none ran). */
  readonly decodeBatch: number;
  /** Prompts prefilled together in this step's prefill pass. */
  readonly prefillBatch: number;
  /** Milliseconds spent in onnxruntime for prompt prefill and for decoding in this step. */
  readonly prefillMs: number;
  readonly decodeMs: number;
}

export type WorkerReply =
  | { readonly kind: 'ready'; readonly executionProvider: string }
  | { readonly kind: 'result'; readonly call: number; readonly value: StepResult | null }
  | { readonly kind: 'error'; readonly call: number | null; readonly message: string };

/** Envelope that correlates a request with its reply. */
export interface WorkerCall {
  readonly call: number;
  readonly request: WorkerRequest;
}
