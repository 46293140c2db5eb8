import { Code, ConnectError } from '@connectrpc/connect';

import { errorMessage } from '../../web/playground/error-message';

const GW = 'http://127.0.0.1:8080';

// What the page shows for each failure a person meets: the kind first, what to do, then the gateway's words.
describe('playground error messages', () => {
  it('401 asks for an API key, 403 says what the key may not do', () => {
    expect(errorMessage(new ConnectError('missing API key', Code.Unauthenticated), GW)).toBe(
      '401 — the gateway needs an API key: enter a valid one in the API key field. (missing API key)',
    );
    expect(errorMessage(new ConnectError('API key "a" may not use "tinyllama"', Code.PermissionDenied), GW)).toBe(
      '403 — this API key may not do that: API key "a" may not use "tinyllama"',
    );
  });

  it('429 gives the retry time from retry-after, and says "later" without one', () => {
    const limited = new ConnectError('rate limit reached for key a', Code.ResourceExhausted, { 'retry-after': '7' });
    expect(errorMessage(limited, GW)).toBe('429 — the gateway is busy or the rate limit is reached: retry in 7 s. (rate limit reached for key a)');
    expect(errorMessage(new ConnectError('queue full', Code.ResourceExhausted), GW)).toMatch(/^429 .*retry later/);
  });

  it('413 for a message over the gateway’s size limit (RESOURCE_EXHAUSTED from readMaxBytes)', () => {
    const big = new ConnectError('message size 2000000 is larger than configured readMaxBytes 1048576', Code.ResourceExhausted);
    expect(errorMessage(big, GW)).toBe('413 — the request is too large: message size 2000000 is larger than configured readMaxBytes 1048576');
  });

  it('names timeouts, refused fields and a stop by the user', () => {
    expect(errorMessage(new ConnectError('the request took longer than 30000 ms', Code.DeadlineExceeded), GW)).toMatch(/^Timed out/);
    expect(errorMessage(new ConnectError('sampling.top_p: must be in (0, 1], got 2', Code.InvalidArgument), GW)).toBe(
      'The request was refused: sampling.top_p: must be in (0, 1], got 2',
    );
    expect(errorMessage(new ConnectError('stopped', Code.Canceled), GW)).toBe('Stopped.');
  });

  it('a fetch that got no answer (gateway gone, or this origin refused by CORS) names the address and GATEWAY_CORS_ORIGINS', () => {
    // What connect-web makes of fetch's TypeError.
    const gone = ConnectError.from(new TypeError('Failed to fetch'));
    expect(gone.code).toBe(Code.Unknown);
    expect(errorMessage(gone, GW)).toBe(
      `The gateway at ${GW} cannot be reached: is it running, and (for a page on another origin) is this page's origin in its GATEWAY_CORS_ORIGINS?`,
    );
    expect(errorMessage(new ConnectError('boom', Code.Internal), GW)).toBe('The gateway failed (Internal): boom');
  });
});
