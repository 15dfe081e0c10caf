/**
 * How the HTTP API says no: a status, a stable code and a message naming what
 * was wrong, as JSON. Never a stack trace: unexpected errors are logged with a
 * request id and the client gets the id.
 */
import type http from 'node:http';
import { ErrorCode, NetdumpError } from '../../shared/errors.js';

export const ApiErrorCode = {
  BAD_REQUEST: 400,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  CONFLICT: 409,
  TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  RANGE_NOT_SATISFIABLE: 416,
  INTERNAL: 500,
  UNAVAILABLE: 503,
} as const;
export type ApiErrorCode = keyof typeof ApiErrorCode;

export class ApiError extends Error {
  constructor(readonly code: ApiErrorCode, message: string, readonly headers: Record<string, string> = {}) {
    super(message);
    this.name = 'ApiError';
  }

  get status(): number {
    return ApiErrorCode[this.code];
  }
}

/**
 * What a domain error (shared/errors.ts) is to an HTTP client. Errors that
 * are ours (INTERNAL, and CORRUPT: a stored dump that fails its own checks)
 * are logged, and the client gets a request id instead of the message.
 */
const STATUS_OF_CODE: Record<ErrorCode, ApiErrorCode | 'LOGGED'> = {
  [ErrorCode.BAD_INPUT]: 'BAD_REQUEST',
  [ErrorCode.PROTOCOL]: 'BAD_REQUEST',
  [ErrorCode.LIMIT]: 'TOO_LARGE',
  [ErrorCode.AUTH]: 'UNAUTHENTICATED',
  [ErrorCode.UNAVAILABLE]: 'UNAVAILABLE',
  [ErrorCode.CORRUPT]: 'LOGGED',
  [ErrorCode.INTERNAL]: 'LOGGED',
};

/** The ApiError a domain error answers as; undefined for the ones to log and hide. */
export function apiErrorFor(error: NetdumpError): ApiError | undefined {
  const code = STATUS_OF_CODE[error.code];
  if (code === 'LOGGED') return undefined;
  // A store or catalog that does not answer now may answer soon.
  return new ApiError(code, error.message, code === 'UNAVAILABLE' ? { 'retry-after': '5' } : {});
}

export const badRequest = (message: string) => new ApiError('BAD_REQUEST', message);
export const notFound = (message: string) => new ApiError('NOT_FOUND', message);
export const conflict = (message: string) => new ApiError('CONFLICT', message);

export function sendJson(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    ...headers,
  });
  res.end(text);
}

export function sendApiError(res: http.ServerResponse, error: ApiError): void {
  if (res.headersSent) {
    // Mid-stream (a download): the status is gone already; cutting the body short is all that is left to say.
    res.destroy(error);
    return;
  }
  sendJson(res, error.status, { error: { code: error.code, message: error.message } }, error.headers);
}
