/** Assertions on the project's errors. */
import { expect } from 'vitest';
import { NetdumpError } from '../../shared/errors.js';

/** Runs fn, expecting it to throw a NetdumpError; returns it for checks on code, message and context. */
export function catchNetdump(fn: () => unknown): NetdumpError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(NetdumpError);
    return error as NetdumpError;
  }
  throw new Error('expected a NetdumpError, nothing was thrown');
}
