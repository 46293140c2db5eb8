import type { Sampling } from '@tokenmesh/model';

import type { TopTokens } from './sampler';

/** Sent once when the worker starts. */
export interface WorkerInit {
  readonly modelDir: string;
  readonly intraOpThreads: number;
  /** Tried in order; the first that loads wins (e.g. ['cuda', 'cpu']). */
  readonly executionProviders: readonly string[];
  /** Slept after every step before its tokens are posted (INFERENCE_STEP_DELAY_MS); 0 in production. */
  readonly stepDelayMs: number;
  /** LoRA adapter directories of this base, slot k + 1 for the k-th (slot 0: none); served from the base's LoRA export. */
  readonly adapterDirs?: readonly string[];
  /** Decode with onnx/model_decode.onnx (and model_lora_decode.onnx with adapters) when present. */
  readonly decodeExport: boolean;
}

/** A sequence joining the worker: the next step prefills its prompt and samples one token. */
export interface AddSequence {
  readonly id: string;
  readonly promptIds: readonly number[];
  readonly sampling: Sampling;
  /** The adapter's slot (WorkerInit.adapterDirs index + 1, or a run-time load's); absent or 0: the base alone. */
  readonly adapter?: number;
}

/**
 * Main thread → worker, in arrays (one message per turn of the main thread). There is no "step" request: the worker steps on its own while it has
 * sequences, so it never waits for the serving thread's event loop between steps; joins and
 * leaves arrive as messages and apply from the next step on.
 */
export type WorkerRequest =
  | { readonly op: 'add'; readonly seq: AddSequence }
  | { readonly op: 'remove'; readonly id: string }
  /**
   * Load the PEFT adapter in `dir` into `slot` (the LoRA exports too, at the first), checked
   * against the base; replies `adapter` with `ref`. Applies beside the steps, not between them.
   */
  | { readonly op: 'load-adapter'; readonly ref: number; readonly slot: number; readonly dir: string }
  /** Free `slot`: no sequence of it is left (the serving thread waited for them). Replies `adapter`. */
  | { readonly op: 'unload-adapter'; readonly ref: number; readonly slot: number }
  /** Stop after the step in progress, release the session, reply `closed`. */
  | { readonly op: 'close' };

/** Why the worker itself ended a sequence (cancellation is the main thread's). */
export type WorkerFinish = 'eos' | 'stop' | 'length';

/**
 * One token for one sequence from one step. With `finish` the sequence has left the worker:
 * `eos`/`stop` say this token ended it (the main thread does not stream it); `length` says it
 * was the last one max_tokens allows.
 */
export interface StepToken {
  readonly id: string;
  readonly token: number;
  readonly logprob: number;
  /** With top_logprobs: the most likely tokens at this position. */
  readonly top?: TopTokens;
  readonly finish?: WorkerFinish;
}

export interface StepResult {
  readonly tokens: StepToken[];
  /** Sequences decoded together in this step's one decode pass (0 when none ran). */
  readonly decodeBatch: number;
  /** Rows of the decode pass, free rows kept as padding included. */
  readonly decodeRows: number;
  /** Prompts prefilled together in this step's prefill pass. */
  readonly prefillBatch: number;
  /** Rows that pass ran: sequences with the same prompt and adapter (OpenAI's `n`) share one. */
  readonly prefillRows: number;
  /** Milliseconds of the prefill and the decode pass in this step, their sampling included. */
  readonly prefillMs: number;
  readonly decodeMs: number;
  /** Milliseconds of both passes spent choosing tokens (samplers), not in onnxruntime. */
  readonly sampleMs: number;
  /** Positions of the batch cache after this step (its widest row plus padding columns). */
  readonly width: number;
  /** Milliseconds spent maintaining the batch's KV cache (placing rows, rebuilds) in this step. */
  readonly kvMs: number;
  /** Milliseconds of the whole step in the worker (passes, sampling, KV maintenance). */
  readonly stepMs: number;
  /** Full rebuilds of the batch cache (gathers of every row) in this step. */
  readonly rebuilds: number;
}

export type WorkerReply =
  | { readonly kind: 'ready'; readonly executionProvider: string }
  | { readonly kind: 'step'; readonly step: StepResult }
  /**
   * A load-adapter or unload-adapter is done: `message` says why it failed (`refused`: the
   * adapter itself is at fault, an AdapterError's parts); `rank` is the adapter's.
   */
  | {
      readonly kind: 'adapter';
      readonly ref: number;
      readonly message?: string;
      readonly refused?: { readonly adapter: string; readonly field: string; readonly detail: string };
      readonly rank?: number;
    }
  /** A step failed: these sequences have left the worker. */
  | { readonly kind: 'failed'; readonly ids: readonly string[]; readonly message: string }
  /** Loading failed, or the worker cannot go on. */
  | { readonly kind: 'error'; readonly message: string }
  /** The session is released: the thread may be terminated without onnxruntime running in it. */
  | { readonly kind: 'closed' };
