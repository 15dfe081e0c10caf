/**
 * What a caller does with an error is on the error: whether to try again
 * (NetdumpError.retryable, from the code unless said otherwise), who said it
 * (fromPeer), and what an HTTP client is answered (one table, api-error.ts).
 */
import { describe, expect, it } from 'vitest';
import { ErrorCode, NetdumpError, finalError, toNetdumpError } from '../../shared/errors.js';
import { apiErrorFor } from '../../receiver/api/api-error.js';

describe('error decisions', () => {
  it('retryable follows the code unless the thrower says otherwise, and finalError makes any error final', () => {
    const byCode = Object.fromEntries(Object.values(ErrorCode).map((code) => [code, new NetdumpError(code, 'x').retryable]));
    expect(byCode).toEqual({
      BAD_INPUT: false, CORRUPT: true, PROTOCOL: false, LIMIT: false, AUTH: false, UNAVAILABLE: true, INTERNAL: true,
    });
    expect(new NetdumpError(ErrorCode.CORRUPT, 'digest of a stored dump', {}, { retryable: false }).retryable).toBe(false);
    const busy = new NetdumpError(ErrorCode.UNAVAILABLE, 'busy', { dump: 'abc' }, { fromPeer: true });
    const final = finalError(busy);
    expect(final).toMatchObject({ code: ErrorCode.UNAVAILABLE, message: 'busy', context: { dump: 'abc' }, retryable: false, fromPeer: true });
    expect(busy.retryable).toBe(true);
    expect(finalError(final)).toBe(final);
    expect(toNetdumpError(new Error('disk on fire'))).toMatchObject({ code: ErrorCode.INTERNAL, retryable: true, fromPeer: false });
  });

  it('answers each code by one table: the caller\'s faults with their message, ours with a logged request id', () => {
    const answers = Object.fromEntries(Object.values(ErrorCode).map((code) => {
      const answer = apiErrorFor(new NetdumpError(code, `said ${code}`));
      return [code, answer && { status: answer.status, code: answer.code, message: answer.message, headers: answer.headers }];
    }));
    expect(answers).toEqual({
      BAD_INPUT: { status: 400, code: 'BAD_REQUEST', message: 'said BAD_INPUT', headers: {} },
      PROTOCOL: { status: 400, code: 'BAD_REQUEST', message: 'said PROTOCOL', headers: {} },
      LIMIT: { status: 413, code: 'TOO_LARGE', message: 'said LIMIT', headers: {} },
      AUTH: { status: 401, code: 'UNAUTHENTICATED', message: 'said AUTH', headers: {} },
      UNAVAILABLE: { status: 503, code: 'UNAVAILABLE', message: 'said UNAVAILABLE', headers: { 'retry-after': '5' } },
      CORRUPT: undefined,
      INTERNAL: undefined,
    });
  });
});
