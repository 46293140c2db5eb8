import { loadConfig as batchConfig } from '@tokenmesh/batch-service';
import { ConfigError } from '@tokenmesh/config';
import { type FeedbackConfig, loadConfig as feedbackConfig } from '@tokenmesh/feedback';
import { type GatewayConfig, loadConfig as gatewayConfig } from '@tokenmesh/gateway';
import { type InferenceConfig, loadConfig as inferenceConfig } from '@tokenmesh/inference';
import { batchEnv, gatewayEnv, routerEnv } from '@tokenmesh/mesh';
import { loadConfig as routerConfig } from '@tokenmesh/router';
import { loadConfig as tokenizerConfig, type TokenizerConfig } from '@tokenmesh/tokenizer-service';

/** Stands in for the addresses the router and the gateway are given once their upstreams listen. */
const NOT_YET = 'http://127.0.0.1:0';

/** `load()`, with its ConfigError's problems added to `problems` instead of thrown. */
function collect<T>(problems: string[], load: () => T): T {
  try {
    return load();
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    problems.push(...err.problems);
    return undefined as T;
  }
}

/**
 * `npm start`'s configuration: every service's, read from one environment and checked before
 * anything starts, so that bad variables fail with exit 2 like any service's, all of them in one
 * error whichever services they belong to. Logged (by
 * runMain) are the services that call no other; the router and the gateway log theirs when they
 * start, once their upstreams' addresses are known.
 */
export class MeshConfig {
  readonly tokenizer: TokenizerConfig;
  readonly inference: InferenceConfig;
  readonly feedback: FeedbackConfig;
  /** The gateway's, with stand-in upstream addresses (the real ones are known once those listen). */
  readonly gateway: GatewayConfig;
  // A private field: the whole environment never reaches the configuration log.
  readonly #env: NodeJS.ProcessEnv;

  constructor(env: NodeJS.ProcessEnv) {
    this.#env = env;
    const problems: string[] = [];
    this.tokenizer = collect(problems, () => tokenizerConfig(env));
    this.inference = collect(problems, () => inferenceConfig(env));
    this.feedback = collect(problems, () => feedbackConfig(env));
    collect(problems, () => routerConfig(routerEnv(env, NOT_YET)));
    this.gateway = collect(problems, () => gatewayConfig(gatewayEnv(env, { tokenizer: NOT_YET, router: NOT_YET, feedback: NOT_YET })));
    collect(problems, () => batchConfig(batchEnv(env, NOT_YET)));
    // Variables several services read (NATS_URL, REDIS_URL) are reported once.
    if (problems.length > 0) throw new ConfigError([...new Set(problems)]);
  }

  /** The environment every service reads its own variables from. */
  get env(): NodeJS.ProcessEnv {
    return this.#env;
  }
}

/** @throws ConfigError naming every bad variable of every service. */
export function loadMeshConfig(env: NodeJS.ProcessEnv = process.env): MeshConfig {
  return new MeshConfig(env);
}
