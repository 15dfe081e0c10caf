/**
 * The closed set of error kinds shared by sender, receiver and protocol.
 * Codes are stable: they travel in the protocol's ERROR message, appear in
 * logs, map to the sender's exit codes and are asserted by tests.
 */
export const ErrorCode = {
  /** Input that is not what it claims to be (not an ELF core, bad CLI value, bad host id). */
  BAD_INPUT: 'BAD_INPUT',
  /** Data that fails a check: checksum, digest, decoded size. The sender resends. */
  CORRUPT: 'CORRUPT',
  /** A protocol rule broken by the peer: unknown message, out-of-order chunk. */
  PROTOCOL: 'PROTOCOL',
  /** A configured bound exceeded: frame size, dump size, chunk size. */
  LIMIT: 'LIMIT',
  /** Missing, wrong or revoked credentials. */
  AUTH: 'AUTH',
  /** The peer or a resource is unreachable or busy; trying again later may work. */
  UNAVAILABLE: 'UNAVAILABLE',
  /** A bug or an environment failure (disk I/O) on our side. */
  INTERNAL: 'INTERNAL',
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

const KNOWN_CODES = new Set<string>(Object.values(ErrorCode));

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && KNOWN_CODES.has(value);
}

/** Context that says where an error happened: which dump, which byte, which frame. */
export type ErrorContext = Record<string, string | number | bigint | boolean | undefined>;

/** Codes after which the same operation may succeed when tried again: busy or unreachable, data damaged on the way (resent), our own trouble. */
const RETRYABLE_BY_CODE = new Set<ErrorCode>([ErrorCode.UNAVAILABLE, ErrorCode.CORRUPT, ErrorCode.INTERNAL]);

export interface NetdumpErrorOptions {
  cause?: unknown;
  /** Whether trying the same thing again may succeed; by default, as the code says (RETRYABLE_BY_CODE). */
  retryable?: boolean;
  /** Said by the peer in an ERROR message rather than found here: its verdict on retrying stands. */
  fromPeer?: boolean;
}

/**
 * An error of the closed set. What the caller does next is on the error
 * itself, typed: `retryable` (the sender resends, the receiver tells the
 * sender so), `fromPeer` (a refusal, not a failure on the way). The context
 * only says where, for logs; no decision is ever read from it.
 */
export class NetdumpError extends Error {
  readonly code: ErrorCode;
  readonly context: ErrorContext;
  readonly retryable: boolean;
  readonly fromPeer: boolean;

  constructor(code: ErrorCode, message: string, context: ErrorContext = {}, options: NetdumpErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'NetdumpError';
    this.code = code;
    this.context = context;
    this.retryable = options.retryable ?? RETRYABLE_BY_CODE.has(code);
    this.fromPeer = options.fromPeer ?? false;
  }
}

/** The same error, final: whatever its code, trying the same thing again fails the same way. */
export function finalError(error: NetdumpError): NetdumpError {
  if (!error.retryable) return error;
  return new NetdumpError(error.code, error.message, error.context, { cause: error.cause, fromPeer: error.fromPeer, retryable: false });
}

export function badInput(message: string, context?: ErrorContext): NetdumpError {
  return new NetdumpError(ErrorCode.BAD_INPUT, message, context);
}

export function corrupt(message: string, context?: ErrorContext): NetdumpError {
  return new NetdumpError(ErrorCode.CORRUPT, message, context);
}

export function protocolError(message: string, context?: ErrorContext): NetdumpError {
  return new NetdumpError(ErrorCode.PROTOCOL, message, context);
}

export function limitError(message: string, context?: ErrorContext): NetdumpError {
  return new NetdumpError(ErrorCode.LIMIT, message, context);
}

/** Wraps anything thrown into a NetdumpError, keeping codes that are already ours. */
export function toNetdumpError(error: unknown, fallback: ErrorCode = ErrorCode.INTERNAL): NetdumpError {
  if (error instanceof NetdumpError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new NetdumpError(fallback, message, {}, { cause: error });
}
