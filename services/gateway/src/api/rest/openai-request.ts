import { Code, ConnectError } from '@connectrpc/connect';
import type { ChatMessage } from '@tokenmesh/proto';
import { apiError, restError } from '../../edge/api-error';
import { badField, fields } from './fields';

type Body = Record<string, unknown>;

/** What both OpenAI endpoints take besides the prompt and the sampling fields. */
export interface OpenAiOptions {
  readonly stream: boolean;
  /** `stream_options.include_usage`: a last chunk with `choices: []` and `usage`. */
  readonly includeUsage: boolean;
  /** OpenAI's `user`: the routing key (sticky routing, traffic-split variant). */
  readonly routingKey: string;
}

function unsupported(field: string, detail: string): never {
  throw apiError(Code.InvalidArgument, field, detail);
}

/**
 * OpenAI fields this gateway does not implement are accepted only at their neutral value, so a
 * client never silently gets something other than what it asked for. The value test also
 * checks the type: a wrong type is a 400 naming the field like any other.
 */
const NEUTRAL: Record<'completion' | 'chat', Record<string, (v: unknown) => boolean>> = {
  completion: {
    logprobs: (v) => v === false,
    echo: (v) => v === false,
    best_of: (v) => v === 1,
    suffix: (v) => v === '',
    presence_penalty: (v) => v === 0,
    frequency_penalty: (v) => v === 0,
    logit_bias: (v) => typeof v === 'object' && v !== null && !Array.isArray(v) && Object.keys(v).length === 0,
  },
  chat: {
    logprobs: (v) => v === false,
    top_logprobs: (v) => v === 0,
    presence_penalty: (v) => v === 0,
    frequency_penalty: (v) => v === 0,
    logit_bias: (v) => typeof v === 'object' && v !== null && !Array.isArray(v) && Object.keys(v).length === 0,
    tools: (v) => Array.isArray(v) && v.length === 0,
    tool_choice: (v) => v === 'none',
    functions: (v) => Array.isArray(v) && v.length === 0,
    function_call: (v) => v === 'none',
    response_format: (v) => typeof v === 'object' && v !== null && (v as Body)['type'] === 'text',
  },
};

/** Checks `n`, `stream`, `stream_options`, `user` and the unsupported OpenAI fields. @throws ConnectError (400) naming the field. */
export function openAiOptions(body: Body, kind: 'completion' | 'chat'): OpenAiOptions {
  const n = fields.integer(body, 'n') ?? 1;
  if (n !== 1) unsupported('n', `only 1 is supported, got ${n}`);
  for (const [name, neutral] of Object.entries(NEUTRAL[kind])) {
    const v = body[name];
    if (v !== undefined && v !== null && !neutral(v)) unsupported(name, `is not supported by this server, got ${JSON.stringify(v)}`);
  }
  const stream = fields.boolean(body, 'stream') ?? false;
  const opts = fields.object(body, 'stream_options');
  if (opts && !stream) unsupported('stream_options', 'is only allowed when stream is true');
  const include = opts?.['include_usage'];
  if (include !== undefined && include !== null && typeof include !== 'boolean') badField('stream_options.include_usage', 'true or false', include);
  const includeUsage = include === true;
  return { stream, includeUsage, routingKey: fields.string(body, 'user') ?? '' };
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
  const v = body['messages'];
  if (v === undefined || v === null) unsupported('messages', 'is required');
  if (!Array.isArray(v)) badField('messages', 'an array of messages', v);
  if (v.length === 0) unsupported('messages', 'must contain at least one message');
  return v.map((m: unknown, i) => {
    const at = `messages[${i}]`;
    if (typeof m !== 'object' || m === null || Array.isArray(m)) badField(at, 'an object with role and content', m);
    const msg = m as Body;
    const role = msg['role'];
    if (role === undefined || role === null) unsupported(`${at}.role`, 'is required');
    if (typeof role !== 'string' || !ROLES.has(role)) badField(`${at}.role`, `one of ${[...ROLES.keys()].join(', ')}`, role);
    return { role: ROLES.get(role)!, content: content(msg['content'], `${at}.content`) };
  });
}

function content(v: unknown, at: string): string {
  if (typeof v === 'string') return v;
  if (v === undefined || v === null) unsupported(at, 'is required');
  if (!Array.isArray(v)) badField(at, 'a string or an array of text parts', v);
  return v
    .map((p: unknown, j) => {
      const part = p as Body | null;
      if (typeof part !== 'object' || part === null || part['type'] !== 'text' || typeof part['text'] !== 'string') {
        badField(`${at}[${j}]`, 'a text part {"type": "text", "text": "..."} (only text is supported)', p);
      }
      return part['text'] as string;
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
