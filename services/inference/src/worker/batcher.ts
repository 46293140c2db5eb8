import { type CausalLm, type DecodeLm, JsonGuide, leftPad, LoraPassFeeds, parseJsonSchema, pastNames, positionIds, type TokenBytes } from '@tokenmesh/model';
import type { Tensor } from 'onnxruntime-node';

import { BatchCache, type Joining } from './batch-cache';
import type { LoraServing } from './load-model';
import type { AddSequence, StepResult, StepToken, WorkerFinish } from './protocol';
import { Sampler } from './sampler';
import { SlotCache } from './slot-cache';

/** Schemas whose guides (and mask tables) a worker keeps. */
const MAX_GUIDES = 32;

interface Sequence {
  readonly add: AddSequence;
  readonly sampler: Sampler;
  /** The newest sampled token, fed at the next decode step. */
  last: number;
  /** Tokens sampled so far, the prefill's included. */
  generated: number;
}

/**
 * Batched steps over every sequence, each step at most two forward passes: one decode pass for
 * every running sequence together (rows of one BatchCache) and one prefill pass for the
 * prompts that arrived since the last step. Sequences end here, on end-of-sequence, a stop
 * token id or max_tokens, so the worker never needs the serving thread to decide a step.
 */
export class Batcher {
  private readonly seqs = new Map<string, Sequence>();
  /** Prefilled since the last decode pass: they join the cache at the next one. */
  private joining: Joining[] = [];
  /** SlotCache with the decode-step export (no copy of the cache per step), else BatchCache. */
  private readonly cache: BatchCache | SlotCache;
  private readonly eos: ReadonlySet<number>;
  /** Time in samplers during the current step. */
  private sampleMs = 0;
  /** Guided decoding's guides by schema text: rows with one schema share its mask tables. */
  private readonly guides = new Map<string, JsonGuide>();
  /** Each pass's LoRA inputs, only the slots its rows use; remade with the stack. */
  private loraFeeds?: LoraPassFeeds;

  constructor(
    private readonly lm: CausalLm,
    private lora?: LoraServing,
    private readonly decoder?: DecodeLm,
    /** The bytes of each token (the model's tokenizer.json), for guided decoding; absent: guided sequences are refused. */
    private readonly tokenBytes?: TokenBytes,
  ) {
    const { spec } = lm;
    this.cache = decoder
      ? new SlotCache({ names: pastNames(spec), heads: spec.numKvHeads, headDim: spec.headDim, contextLength: spec.contextLength, padTokenId: spec.padTokenId })
      : new BatchCache({ names: pastNames(spec), padTokenId: spec.padTokenId });
    this.eos = new Set(lm.spec.eosTokenIds);
  }

  /**
   * The adapters from the next pass on (an adapter loaded or unloaded at run time). Slots of the
   * sequences held must keep their weights: the serving thread frees a slot only once its
   * sequences have left.
   */
  setLora(lora: LoraServing): void {
    this.lora = lora;
    this.loraFeeds = new LoraPassFeeds(lora.stack);
  }

  /** Sequences in the worker (running or about to be prefilled). */
  get size(): number {
    return this.seqs.size;
  }

  /** @throws Error when the sequence asks for guided decoding this worker cannot do */
  add(seq: AddSequence): void {
    const guide = seq.sampling.guidedJson === '' ? undefined : this.guide(seq.sampling.guidedJson);
    this.seqs.set(seq.id, { add: seq, sampler: new Sampler(seq.sampling, seq.promptIds, guide), last: -1, generated: 0 });
  }

  private guide(schema: string): JsonGuide {
    let guide = this.guides.get(schema);
    if (guide) return guide;
    if (!this.tokenBytes)
      throw new Error(`guided decoding needs the token bytes of ${this.lm.spec.name} (its tokenizer.json), which this worker could not read`);
    // A few schemas are common and each table costs memory: the oldest goes first.
    if (this.guides.size >= MAX_GUIDES) this.guides.delete(this.guides.keys().next().value!);
    guide = new JsonGuide(parseJsonSchema(schema), this.tokenBytes, this.lm.spec.eosTokenIds);
    this.guides.set(schema, guide);
    return guide;
  }

  /** Drops a sequence before the next step (cancelled, or ended by this worker). */
  remove(id: string): void {
    if (!this.seqs.delete(id)) return;
    this.cache.leave(id);
    this.joining = this.joining.filter((j) => j.id !== id);
  }

  /** Every sequence the worker holds, e.g. to report them failed. */
  ids(): string[] {
    return [...this.seqs.keys()];
  }

  async step(): Promise<StepResult> {
    const t0 = performance.now();
    this.sampleMs = 0;
    const tokens: StepToken[] = [];
    let kvMs = 0;
    let rebuilds = 0;
    if (this.cache.size + this.joining.length > 0) {
      const k0 = performance.now();
      rebuilds = this.cache.prepare(this.joining);
      this.joining = [];
      kvMs = performance.now() - k0;
    }
    const decodeBatch = this.cache.size;
    const decodeRows = this.cache.rows;
    const t1 = performance.now();
    if (decodeBatch > 0) await this.decode(tokens);
    const t2 = performance.now();
    const fresh = [...this.seqs.values()].filter((s) => s.last < 0);
    const prefillRows = fresh.length > 0 ? await this.prefill(fresh, tokens) : 0;
    const t3 = performance.now();
    for (const t of tokens) if (t.finish) this.remove(t.id);
    return {
      tokens,
      decodeBatch,
      decodeRows,
      prefillBatch: fresh.length,
      prefillRows,
      decodeMs: t2 - t1,
      prefillMs: t3 - t2,
      sampleMs: this.sampleMs,
      kvMs,
      stepMs: performance.now() - t0,
      rebuilds,
      width: this.cache.width,
    };
  }

  private async decode(tokens: StepToken[]): Promise<void> {
    const last = (id: string) => this.seqs.get(id)!.last;
    const slots = this.cache.ids().map((id) => (id === undefined ? 0 : (this.seqs.get(id)!.add.adapter ?? 0)));
    let logitsOf: (row: number) => Float32Array;
    if (this.cache instanceof SlotCache) {
      const { ids, positions } = this.cache.decodeInputs(last);
      const [decoder, feeds] = this.pick(slots, this.decoder!, this.lora?.decoder);
      const out = await decoder.step(ids, positions, this.cache.tensors, feeds);
      this.cache.advance(out.newKv);
      const v = this.lm.spec.vocabSize;
      logitsOf = (row) => out.logits.subarray(row * v, (row + 1) * v);
    } else {
      const cache = this.cache;
      const inputs = cache.decodeInputs(last);
      const t0 = performance.now();
      const [lm, feeds] = this.pick(slots, this.lm, this.lora?.lm);
      const out = await lm.forwardTensors(inputs.ids, inputs.mask, inputs.positions, cache.tensors, feeds);
      cache.advance(out.past, performance.now() - t0);
      logitsOf = (row) => this.lm.lastLogits(out, row);
    }
    const t = performance.now();
    this.cache.ids().forEach((id, row) => {
      if (id !== undefined) tokens.push(this.sample(this.seqs.get(id)!, logitsOf(row)));
    });
    this.sampleMs += performance.now() - t;
  }

  /**
   * One prefill pass for the prompts that arrived. Sequences with the same prompt (and adapter),
   * such as OpenAI's `n` choices, share one row of it: its logits (each samples with its own
   * sampler) and its keys and values (each joins the cache from the same row).
   * @returns the rows the pass ran
   */
  private async prefill(fresh: Sequence[], tokens: StepToken[]): Promise<number> {
    const unique: Sequence[] = [];
    const rowOf = new Map<string, number>();
    const rows = fresh.map((s) => {
      const key = `${s.add.adapter ?? 0}:${s.add.promptIds.join(',')}`;
      let row = rowOf.get(key);
      if (row === undefined) rowOf.set(key, (row = unique.push(s) - 1));
      return row;
    });
    const { ids, mask } = leftPad(
      unique.map((s) => s.add.promptIds),
      this.lm.spec.padTokenId,
    );
    const slots = unique.map((s) => s.add.adapter ?? 0);
    const [lm, feeds] = this.pick(slots, this.lm, this.lora?.lm);
    const out = await lm.forward(ids, mask, positionIds(mask), undefined, feeds);
    const t = performance.now();
    fresh.forEach((s, i) => {
      const row = rows[i]!;
      tokens.push(this.sample(s, this.lm.lastLogits(out, row)));
      this.joining.push({ id: s.add.id, kv: { past: out.past, index: row, length: s.add.promptIds.length } });
    });
    this.sampleMs += performance.now() - t;
    return unique.length;
  }

  /**
   * The session for rows in adapter `slots` and its further inputs: the base's (full speed) when
   * every row is the base's, else the LoRA twin with each row's adapter. Every pair keeps the KV
   * cache in one layout, so a row may go through either from step to step.
   */
  private pick<T>(slots: readonly number[], base: T, adapted: T | undefined): [T, Record<string, Tensor> | undefined] {
    if (slots.every((s) => s === 0)) return [base, undefined];
    // A slot is given to sequences only once its adapter (and the LoRA twins) are loaded.
    this.loraFeeds ??= new LoraPassFeeds(this.lora!.stack);
    return [adapted!, this.loraFeeds.feeds(slots)];
  }

  private sample(s: Sequence, logits: Float32Array): StepToken {
    const { sampling } = s.add;
    const { token, logprob, top } = s.sampler.next(logits, sampling.maxTokens - s.generated);
    s.last = token;
    s.generated++;
    const finish: WorkerFinish | undefined = this.eos.has(token)
      ? 'eos'
      : sampling.stopTokenIds.includes(token)
        ? 'stop'
        : s.generated >= sampling.maxTokens
          ? 'length'
          : undefined;
    const out: StepToken = top ? { id: s.add.id, token, logprob, top } : { id: s.add.id, token, logprob };
    return finish ? { ...out, finish } : out;
  }
}
