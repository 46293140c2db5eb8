/** A `content-type` header split into its media type and charset (both lower case; RFC 9110 §8.3). */
export interface ContentType {
  readonly mediaType: string;
  /** The `charset` parameter without quotes, undefined when absent. */
  readonly charset?: string;
}

export function parseContentType(header: string): ContentType {
  const [type = '', ...params] = header.split(';');
  let charset: string | undefined;
  for (const p of params) {
    const eq = p.indexOf('=');
    if (eq < 0 || p.slice(0, eq).trim().toLowerCase() !== 'charset') continue;
    charset = p
      .slice(eq + 1)
      .trim()
      .replace(/^"(.*)"$/, '$1')
      .toLowerCase();
  }
  return { mediaType: type.trim().toLowerCase(), ...(charset === undefined ? {} : { charset }) };
}

/** JSON is UTF-8 (RFC 8259 §8.1): the only charset a body may declare; `utf8` is a common alias. */
export function isUtf8(charset: string | undefined): boolean {
  return charset === undefined || charset === 'utf-8' || charset === 'utf8';
}
