import { bucketsUpTo, createCounter, createGauge, createHistogram, type Registry } from '@tokenmesh/metrics';

/** Seconds, for latencies from sub-millisecond steps to minute-long requests. */
const LATENCY = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** What the metrics read from each model's engine when scraped. */
export interface EngineGauges {
  readonly running: number;
  readonly queued: number;
  /** Of `queued`, those of a worse priority than interactive (batch lines). */
  readonly queuedBackground: number;
  readonly kvReserved: number;
  /** KV tokens that may be reserved at most (max_batch_total_tokens, summed over a pool). */
  readonly kvBudget: number;
}

/** The engine's observations for one model; every metric carries a `model` label (name@version). */
export interface EngineObserver {
  step(prefillMs: number, decodeMs: number, decodeBatch: number, prefillBatch: number): void;
  firstToken(queueMs: number, timeToFirstTokenMs: number): void;
  token(interTokenMs: number): void;
  finished(promptTokens: number, completionTokens: number, totalMs: number): void;
}

/**
 * vLLM's serving metrics under the tokenmesh_ prefix, with the same meanings: requests running
 * and waiting, time to first token, inter-token latency, end-to-end latency, queue time, prefill
 * and decode step durations, batch size, KV budget used, prompt and generation tokens.
 */
export class EngineMetrics {
  private readonly engines = new Map<string, EngineGauges>();
  private readonly ttft;
  private readonly itl;
  private readonly e2e;
  private readonly queue;
  private readonly prefill;
  private readonly decode;
  private readonly batch;
  private readonly promptTokens;
  private readonly generationTokens;

  constructor(registry: Registry, maxBatchSize: number) {
    const h = (name: string, help: string, buckets = LATENCY) => createHistogram(registry, { name, help, labelNames: ['model'] as const, buckets });
    this.ttft = h('time_to_first_token_seconds', 'Time from arrival to the first generated token');
    this.itl = h('inter_token_latency_seconds', 'Time between consecutive tokens of a request');
    this.e2e = h('e2e_request_latency_seconds', 'Time from arrival to the last token');
    this.queue = h('request_queue_time_seconds', 'Time a request waited before its prefill');
    this.prefill = h('prefill_step_seconds', 'Duration of one batched prefill pass');
    this.decode = h('decode_step_seconds', 'Duration of one batched decode pass');
    this.batch = h('decode_batch_size', 'Sequences decoded together in one pass', bucketsUpTo(maxBatchSize));
    this.promptTokens = createCounter(registry, { name: 'prompt_tokens_total', help: 'Prompt tokens prefilled', labelNames: ['model'] as const });
    this.generationTokens = createCounter(registry, { name: 'generation_tokens_total', help: 'Tokens generated', labelNames: ['model'] as const });
    const engines = this.engines;
    // Read at scrape time, so the gauges never lag the engines.
    const gauge = (name: string, help: string, read: (e: EngineGauges) => number) =>
      createGauge(registry, {
        name,
        help,
        labelNames: ['model'] as const,
        collect() {
          for (const [model, e] of engines) this.set({ model }, read(e));
        },
      });
    gauge('num_requests_running', 'Requests in the running batch', (e) => e.running);
    gauge('num_requests_waiting', 'Requests waiting in the queue', (e) => e.queued);
    gauge(
      'num_requests_waiting_background',
      'Of the requests waiting, those of a worse priority than interactive (batch lines, held back while interactive requests run)',
      (e) => e.queuedBackground,
    );
    gauge('kv_budget_used_ratio', 'Reserved KV tokens over the KV budget (max_batch_total_tokens per worker thread)', (e) => e.kvReserved / e.kvBudget);
  }

  /** Reads a model's running, waiting and KV gauges from `engine` at every scrape. */
  watch(model: string, engine: EngineGauges): void {
    this.engines.set(model, engine);
  }

  /** An unloaded model's gauges stop being reported. */
  unwatch(model: string): void {
    this.engines.delete(model);
  }

  /** The observer for one model's engine. */
  forModel(model: string): EngineObserver {
    const l = { model };
    // Children bound to the label once: inter-token latency is observed for every token.
    const [prefill, decode, batch, queue, ttft, itl, e2e] = [this.prefill, this.decode, this.batch, this.queue, this.ttft, this.itl, this.e2e].map((h) =>
      h.labels(l),
    );
    const [promptTokens, generationTokens] = [this.promptTokens, this.generationTokens].map((c) => c.labels(l));
    return {
      step: (prefillMs, decodeMs, decodeBatch, prefillBatch) => {
        if (prefillBatch > 0) prefill!.observe(prefillMs / 1000);
        if (decodeBatch > 0) {
          decode!.observe(decodeMs / 1000);
          batch!.observe(decodeBatch);
        }
      },
      firstToken: (queueMs, ttftMs) => {
        queue!.observe(queueMs / 1000);
        ttft!.observe(ttftMs / 1000);
      },
      token: (itlMs) => itl!.observe(itlMs / 1000),
      finished: (prompt, completion, totalMs) => {
        promptTokens!.inc(prompt);
        generationTokens!.inc(completion);
        e2e!.observe(totalMs / 1000);
      },
    };
  }
}
