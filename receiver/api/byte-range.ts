/**
 * HTTP Range for downloads (RFC 9110 14.1.2): one range of bytes, as
 * resuming downloaders (curl -C -, wget -c) ask. Several ranges at once
 * (multipart/byteranges) are answered with the whole file, which the RFC allows.
 */
import { ApiError } from './api-error.js';

export interface ByteRange {
  start: number;
  /** Inclusive. */
  end: number;
}

/** undefined: serve the whole file. */
export function parseRange(header: string | undefined, size: number): ByteRange | undefined {
  if (header === undefined) return undefined;
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!match) {
    if (/^bytes=.*,/.test(header)) return undefined;
    throw new ApiError('BAD_REQUEST', `Range ${JSON.stringify(header)} is not "bytes=START-END"`);
  }
  const [, first, last] = match;
  const unsatisfiable = () => new ApiError('RANGE_NOT_SATISFIABLE', `Range ${header} is outside the file's ${size} bytes`, { 'content-range': `bytes */${size}` });
  if (first === '') {
    if (last === '') throw new ApiError('BAD_REQUEST', `Range ${JSON.stringify(header)} names no bytes`);
    const suffix = Number(last);
    if (suffix === 0 || size === 0) throw unsatisfiable();
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(first);
  const end = last === '' ? size - 1 : Math.min(Number(last), size - 1);
  if (last !== '' && Number(last) < start) throw new ApiError('BAD_REQUEST', `Range ${JSON.stringify(header)} ends before it starts`);
  if (start >= size) throw unsatisfiable();
  return { start, end };
}
