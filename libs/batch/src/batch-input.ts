/** The endpoints a batch's lines may call (OpenAI's Batch API, those this server serves). */
export const BATCH_ENDPOINTS = ['/v1/completions', '/v1/chat/completions'] as const;
export type BatchEndpoint = (typeof BATCH_ENDPOINTS)[number];

/** One request of a batch input file (OpenAI's JSONL line: custom_id, method, url, body). */
export interface BatchLine {
  /** 1-based line number in the file. */
  readonly line: number;
  readonly customId: string;
  readonly url: BatchEndpoint;
  readonly body: Record<string, unknown>;
}

export interface LineError {
  readonly line: number;
  readonly message: string;
}

export interface ParsedBatchInput {
  readonly lines: BatchLine[];
  readonly errors: LineError[];
}

/** OpenAI's limit on a custom_id's length. */
const MAX_CUSTOM_ID = 512;

/**
 * Reads a batch input file line by line: each line one JSON object with a unique non-empty
 * `custom_id`, `method` "POST", a `url` this server serves and an object `body`. What a body
 * holds is the endpoint's to judge when the line runs (its refusal goes to the error file).
 * Errors name the line; a final newline is not an empty line.
 */
export function parseBatchInput(text: string, maxLines: number): ParsedBatchInput {
  const raw = text.split('\n');
  if (raw.at(-1) === '') raw.pop();
  const lines: BatchLine[] = [];
  const errors: LineError[] = [];
  if (raw.length === 0) errors.push({ line: 1, message: 'the file holds no requests' });
  if (raw.length > maxLines) errors.push({ line: maxLines + 1, message: `the file holds ${raw.length} requests; the limit is ${maxLines}` });
  const seen = new Map<string, number>();
  raw.slice(0, maxLines).forEach((content, i) => {
    const line = i + 1;
    const fail = (message: string) => void errors.push({ line, message });
    if (content.trim() === '') return fail('empty line');
    let v: unknown;
    try {
      v = JSON.parse(content);
    } catch (err) {
      return fail(`not valid JSON (${(err as Error).message})`);
    }
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return fail('must be a JSON object');
    const o = v as Record<string, unknown>;
    const id = o['custom_id'];
    if (typeof id !== 'string' || id === '') return fail('custom_id: must be a non-empty string');
    if (id.length > MAX_CUSTOM_ID) return fail(`custom_id: is ${id.length} characters; the limit is ${MAX_CUSTOM_ID}`);
    const first = seen.get(id);
    if (first !== undefined) return fail(`custom_id: ${JSON.stringify(id)} is also on line ${first}; each request needs its own`);
    seen.set(id, line);
    if (o['method'] !== 'POST') return fail(`method: must be "POST", got ${JSON.stringify(o['method'] ?? null)}`);
    const url = o['url'];
    if (!BATCH_ENDPOINTS.includes(url as BatchEndpoint)) return fail(`url: must be one of ${BATCH_ENDPOINTS.join(', ')}, got ${JSON.stringify(url ?? null)}`);
    const body = o['body'];
    if (typeof body !== 'object' || body === null || Array.isArray(body)) return fail('body: must be a JSON object');
    if ((body as Record<string, unknown>)['stream'] === true) return fail('body.stream: a batch request cannot stream');
    lines.push({ line, customId: id, url: url as BatchEndpoint, body: body as Record<string, unknown> });
  });
  return { lines, errors };
}

/** The first few errors in one message, for a 400 that names the lines. */
export function describeLineErrors(errors: readonly LineError[], shown = 10): string {
  const head = errors
    .slice(0, shown)
    .map((e) => `line ${e.line}: ${e.message}`)
    .join('; ');
  return errors.length > shown ? `${head}; and ${errors.length - shown} more` : head;
}
