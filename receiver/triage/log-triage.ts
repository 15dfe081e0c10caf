/**
 * What a kernel log says, as the catalog keeps it: the same summary
 * whether the log came ahead of the pages from the sender (LOG) or was read
 * from the stored dump afterwards.
 */
import type { LogSource, TriageRecord } from '../catalog/catalog.js';
import { summarizeCrash } from './crash-summary.js';

export function triageOfLog(log: Buffer, logSource: LogSource, at = Date.now()): TriageRecord {
  const summary = summarizeCrash(log.toString('utf8'));
  return {
    panicLine: summary.panicLine,
    bugLine: summary.bugLine,
    ripSymbol: summary.ripSymbol,
    reason: summary.reason,
    signature: summary.signature,
    signatureText: summary.signatureText,
    callTrace: summary.callTrace,
    error: null,
    triagedAt: at,
    logSource,
  };
}
