import { Code } from '@connectrpc/connect';
import { apiError } from '../../edge/api-error';

type Body = Record<string, unknown>;

/** A 400 naming the field: "<field>: must be <want>, got <value>". */
export function badField(field: string, want: string, got: unknown): never {
  throw apiError(Code.InvalidArgument, field, `must be ${want}, got ${JSON.stringify(got) ?? String(got)}`);
}

/** Typed, optional JSON fields; a wrong type is a 400 naming the field. */
export const fields = {
  string(body: Body, name: string): string | undefined {
    const v = body[name];
    if (v === undefined || v === null) return undefined;
    return typeof v === 'string' ? v : badField(name, 'a string', v);
  },
  number(body: Body, name: string): number | undefined {
    const v = body[name];
    if (v === undefined || v === null) return undefined;
    return typeof v === 'number' ? v : badField(name, 'a number', v);
  },
  integer(body: Body, name: string): number | undefined {
    const v = body[name];
    if (v === undefined || v === null) return undefined;
    return typeof v === 'number' && Number.isInteger(v) ? v : badField(name, 'an integer', v);
  },
  boolean(body: Body, name: string): boolean | undefined {
    const v = body[name];
    if (v === undefined || v === null) return undefined;
    return typeof v === 'boolean' ? v : badField(name, 'true or false', v);
  },
  /** OpenAI's `stop`: a string or an array of strings. */
  stringOrList(body: Body, name: string): string[] | undefined {
    const v = body[name];
    if (v === undefined || v === null) return undefined;
    if (typeof v === 'string') return [v];
    if (Array.isArray(v) && v.every((s) => typeof s === 'string')) return v as string[];
    return badField(name, 'a string or an array of strings', v);
  },
  /** A nested JSON object (not an array). */
  object(body: Body, name: string): Body | undefined {
    const v = body[name];
    if (v === undefined || v === null) return undefined;
    return typeof v === 'object' && !Array.isArray(v) ? (v as Body) : badField(name, 'an object', v);
  },
};
