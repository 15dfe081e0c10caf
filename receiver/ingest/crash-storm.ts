/**
 * Crash storms: a bad kernel or driver reaching a fleet makes hundreds of
 * hosts panic the same way within minutes, and every one of them would send
 * a full dump. The log arrives first (LOG), so the signature is known before
 * the first page: once a signature has `completeDumps` complete dumps
 * crashed within `windowMs`, further senders with it are asked to send the
 * first tier only (LOG_READ stopAfter) and are kept partial, reason 'storm'. Each
 * crash still counts in its group, with its host and kernel.
 */
import type { Catalog } from '../catalog/catalog.js';

export interface StormPolicy {
  /** Complete dumps of one signature within the window after which senders send the first tier only; 0: never. */
  completeDumps: number;
  windowMs: number;
}

export const DEFAULT_STORM_POLICY: StormPolicy = { completeDumps: 3, windowMs: 60 * 60_000 };

/** Why this crash should be kept to its first tier, or undefined when its whole dump is wanted. */
export async function stormAdvice(catalog: Catalog, policy: StormPolicy, signature: string | null, now = Date.now()): Promise<string | undefined> {
  if (!signature || policy.completeDumps <= 0) return undefined;
  const { total } = await catalog.query({ signature, status: 'complete', sinceMs: now - policy.windowMs, limit: 1 });
  if (total < policy.completeDumps) return undefined;
  return `crash storm: ${total} complete dumps with signature ${signature} in the last ${Math.round(policy.windowMs / 60_000)} min; ` +
    'this one is kept to its first tier (log, kernel image, page tables, stacks) and counted in its group';
}
