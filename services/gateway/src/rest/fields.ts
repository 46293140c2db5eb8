import { Code } from '@connectrpc/connect';
import { apiError } from '../api-error';

type Body = Record<string, unknown>;

function bad(field: string, want: string, got: unknown): never {
  throw apiError(Code.InvalidArgument, field, `must be ${want}, got ${JSON.stringify(got) ?? String(got)}`);
}

/** Typed, optional JSON fields; a wrong type is a 400 naming the field. */
export const fields = {
  string(body: Body, name: string): string | undefined {
    const v = body[name];
    if (v === undefined || v === null) return undefined;
    return typeof v === 'string' ? v : bad(name, 'a string', v);
  },
  number(body: Body, name: string): number | undefined {
    const v = body[name];
    if (v === undefined || v === null) return undefined;
    return typeof v === 'number' ? v : bad(name, 'a number', v);
  },
  integer(body: Body, name: string): number | undefined {
    const v = body[name];
    if (v === undefined || v === null) return undefined;
    return typeof v === 'number' && Number.isInteger(v) ? v : bad(name, 'an integer', v);
  },
  boolean(body: Body, name: string): boolean | undefined {
    const v = body[name];
    if (v === undefined || v === null) return undefined;
    return typeof v === 'boolean' ? v : bad(name, 'true or false', v);
  },
  /** OpenAI's `stop`: a string or an array of strings. */
  stringOrList(body: Body, name: string): string[] | undefined {
    const v = body[name];
    if (v === undefined || v === null) return undefined;
    if (typeof v === 'string') return [v];
    if (Array.isArray(v) && v.every((s) => typeof s === 'string')) return v as string[];
    return bad(name, 'a string or an array of strings', v);
  },
};
