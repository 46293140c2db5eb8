import { Code, ConnectError } from '@connectrpc/connect';
import type { Field } from '@tokenmesh/config';
import type { ChatMessage } from '@tokenmesh/proto';

import { apiError, restError } from '../../edge/api-error';
import type { TextRequest } from '../../pipeline/generate-text';
import { bodyFields } from './fields';

type Body = Record<string, unknown>;

/** What both OpenAI endpoints take besides the prompt and the sampling fields. */
export interface OpenAiOptions {
  readonly stream: boolean;
  /** `stream_options.include_usage`: a last chunk with `choices: []` and `usage`. */
  readonly includeUsage: boolean;
  /** OpenAI's `user`: the routing key (sticky routing, traffic-split variant). */
  readonly routingKey: string;
  /** OpenAI's `n`: choices per prompt. */
  readonly n: number;
}

function unsupported(field: string, detail: string): never {
  throw apiError(Code.InvalidArgument, field, detail);
}

/** Choices one request may ask for: prompts × n, each a generation of its own. */
export const MAX_CHOICES = 16;

/**
 * The generations of a request's choices: OpenAI's order, the `n` of prompt 0 first. Choice j of
 * a prompt is seeded with the request's seed + j mod 2^64 (when it has one), so every choice is
 * reproducible alone and they differ. A single choice keeps the request's id; several get
 * `<id>-<index>` (and an Idempotency-Key `<key>#<index>`). The n choices of one prompt are a choice group: one worker, one prefill of it.
 * @throws ConnectError (400) naming `n` when prompts × n is over MAX_CHOICES
 */
export function choiceRequests(prompts: readonly TextRequest[], n: number): TextRequest[] {
  if (prompts.length * n > MAX_CHOICES) unsupported('n', `prompts × n must be at most ${MAX_CHOICES}, got ${prompts.length} × ${n}`);
  if (prompts.length * n === 1) return [...prompts];
  return prompts.flatMap((base, i) => {
    const seed = base.sampling.seed;
    return Array.from({ length: n }, (_, j) => ({
      ...base,
      requestId: `${base.requestId}-${i * n + j}`,
      ...(base.idempotencyKey !== undefined && { idempotencyKey: `${base.idempotencyKey}#${i * n + j}` }),
      ...(n > 1 && { choiceGroup: { id: `${base.requestId}/${i}`, size: n } }),
      sampling: seed === undefined ? base.sampling : { ...base.sampling, seed: (BigInt(seed) + BigInt(j)) % 2n ** 64n },
    }));
  });
}

type Kind = 'completion' | 'chat';
type Neutral = (v: unknown) => boolean;

/**
 * OpenAI fields this gateway does not implement are accepted only at their neutral value, so a
 * client never silently gets something other than what it asked for. The value test also
 * checks the type: a wrong type is a 400 naming the field like any other.
 */
const NEUTRAL: Record<Kind, Record<string, Neutral>> = {
  completion: {
    best_of: (v) => v === 1,
    suffix: (v) => v === '',
  },
  chat: {
    tools: (v) => Array.isArray(v) && v.length === 0,
    tool_choice: (v) => v === 'none',
    functions: (v) => Array.isArray(v) && v.length === 0,
    function_call: (v) => v === 'none',
  },
};

/** Checks `n` (1..MAX_CHOICES), `stream`, `stream_options`, `user` and the unsupported OpenAI fields. @throws ConnectError (400) naming the field. */
export function openAiOptions(body: Body, kind: Kind): OpenAiOptions {
  const f = bodyFields(body);
  const n = f.integer('n') ?? 1;
  if (n < 1 || n > MAX_CHOICES) unsupported('n', `must be an integer in [1, ${MAX_CHOICES}], got ${n}`);
  for (const [name, neutral] of Object.entries(NEUTRAL[kind])) {
    const v = body[name];
    if (v !== undefined && v !== null && !neutral(v)) unsupported(name, `is not supported by this server, got ${JSON.stringify(v)}`);
  }
  const stream = f.boolean('stream') ?? false;
  const opts = f.object('stream_options');
  if (opts && !stream) unsupported('stream_options', 'is only allowed when stream is true');
  const includeUsage = opts?.boolean('include_usage') === true;
  return { stream, includeUsage, routingKey: f.string('user') ?? '', n };
}

/**
 * OpenAI's logprobs as sampling fields: completions' `logprobs` is how many alternatives (null:
 * none), chat's `logprobs` a flag with `top_logprobs`. Ranges are the sampling table's
 * (validateSampling); completions report `top_logprobs` errors as their `logprobs`.
 * @throws ConnectError (400) naming a field of the wrong type
 */
export function openAiLogprobs(body: Body, kind: Kind): { logprobs: boolean; topLogprobs: number | undefined } {
  const f = bodyFields(body);
  if (kind === 'completion') {
    const n = f.integer('logprobs');
    return { logprobs: n !== undefined, topLogprobs: n };
  }
  return { logprobs: f.boolean('logprobs') ?? false, topLogprobs: f.integer('top_logprobs') };
}

/** OpenAI's json_object: any JSON object. */
export const JSON_OBJECT_SCHEMA = '{"type":"object"}';

/**
 * OpenAI's `response_format` as guided decoding's schema: `text` none, `json_object` any object,
 * `json_schema` its `schema` (`strict` or not: the worker always enforces it). Both endpoints
 * take it (completions as vLLM does). `param` is where the schema's errors point.
 * @throws ConnectError (400) naming the field
 */
export function responseFormat(body: Body): { guidedJson: string; param: string } | undefined {
  const f = bodyFields(body);
  const format = f.object('response_format', { want: 'an object with a type' });
  if (!format) return undefined;
  if (f.has('guided_json')) unsupported('response_format', 'give either response_format or guided_json, not both');
  const type = format.field('type').oneOf(['text', 'json_object', 'json_schema'], { required: true });
  if (type === 'text') return undefined;
  if (type === 'json_object') return { guidedJson: JSON_OBJECT_SCHEMA, param: 'response_format' };
  const spec = format.object('json_schema', { want: 'an object with name and schema', required: true })!;
  spec.string('name', { required: true });
  spec.boolean('strict');
  const schema = spec.field('schema');
  // OpenAI's schema is optional: without one, any object.
  if (schema.absent) return { guidedJson: JSON_OBJECT_SCHEMA, param: 'response_format.json_schema' };
  schema.object({ want: 'a JSON Schema object' });
  return { guidedJson: JSON.stringify(schema.value), param: 'response_format.json_schema.schema' };
}

/** Roles the chat templates know; OpenAI's newer `developer` role is the system prompt. */
const ROLES = new Map([
  ['system', 'system'],
  ['developer', 'system'],
  ['user', 'user'],
  ['assistant', 'assistant'],
  ['tool', 'tool'],
]);

/**
 * OpenAI's `messages`: a non-empty array of `{role, content}`, content a string or an array of
 * text parts (joined, as vLLM does). @throws ConnectError (400) naming e.g. `messages[1].role`.
 */
export function chatMessages(body: Body): Pick<ChatMessage, 'role' | 'content'>[] {
  const f = bodyFields(body);
  if (!f.has('messages')) unsupported('messages', 'is required');
  const list = f.list('messages', { want: 'an array of messages' })!;
  if (list.length === 0) unsupported('messages', 'must contain at least one message');
  return list.map((m) => {
    const msg = m.object({ want: 'an object with role and content', required: true })!;
    const role = msg.field('role');
    if (role.absent) unsupported(role.path, 'is required');
    return { role: ROLES.get(role.oneOf([...ROLES.keys()])!)!, content: content(msg.field('content')) };
  });
}

function content(field: Field): string {
  if (typeof field.value === 'string') return field.value;
  if (field.absent) unsupported(field.path, 'is required');
  return field
    .list({ want: 'a string or an array of text parts' })!
    .map((p) => {
      const part = p.value as Body | null;
      if (typeof part !== 'object' || part === null || part['type'] !== 'text' || typeof part['text'] !== 'string') {
        p.wrong('a text part {"type": "text", "text": "..."} (only text is supported)');
      }
      return part!['text'] as string;
    })
    .join('\n');
}

/**
 * The same error reported under the field names the caller used: `renames` maps a pipeline field
 * to the request's (chat's `max_completion_tokens` is validated as `max_tokens`, its rendered
 * messages as `prompt`); indexed params follow (`token_ids[3]` → `tokens[3]`). Other errors pass
 * through unchanged.
 */
export function renamedParam(err: unknown, renames: Readonly<Record<string, string>>): unknown {
  if (!(err instanceof ConnectError)) return err;
  const rest = restError(err);
  const m = rest.param === null ? null : /^([\w.]+)(.*)$/.exec(rest.param);
  const to = m ? renames[m[1]!] : undefined;
  if (!m || to === undefined) return err;
  return apiError(err.code, `${to}${m[2]}`, rest.message.slice(rest.param!.length + 2));
}
