/**
 * The API's query parameters, checked: a filter that does not parse is a 400
 * naming the parameter and the value, never a silently empty result.
 */
import { badRequest } from './api-error.js';
import { DUMP_KINDS, DUMP_STATUSES, type DumpKind, type DumpQuery, type DumpStatus } from '../catalog/catalog.js';

const STATUSES: readonly DumpStatus[] = DUMP_STATUSES;
const KNOWN_DUMP_FILTERS = new Set(['host', 'kernel', 'signature', 'status', 'kind', 'since', 'until', 'limit', 'offset']);
const KNOWN_GROUP_FILTERS = new Set(['host', 'kernel', 'since', 'until']);
export const MAX_PAGE = 1000;

/** ISO 8601 or milliseconds since the epoch. */
export function parseTime(name: string, value: string): number {
  const ms = /^\d+$/.test(value) ? Number(value) : Date.parse(value);
  if (!Number.isFinite(ms) || !Number.isSafeInteger(Math.trunc(ms))) {
    throw badRequest(`${name}=${JSON.stringify(value)} is not a time (ISO 8601, or milliseconds since 1970)`);
  }
  return ms;
}

function parseCount(name: string, value: string, min: number, max: number): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < min || n > max) throw badRequest(`${name}=${JSON.stringify(value)} must be an integer from ${min} to ${max}`);
  return n;
}

function single(params: URLSearchParams, name: string): string | undefined {
  const values = params.getAll(name);
  if (values.length > 1) throw badRequest(`${name} given ${values.length} times`);
  if (values[0] === '') throw badRequest(`${name} is empty`);
  return values[0];
}

function rejectUnknown(params: URLSearchParams, known: Set<string>): void {
  for (const name of params.keys()) {
    if (!known.has(name)) throw badRequest(`unknown parameter ${JSON.stringify(name)} (known: ${[...known].join(', ')})`);
  }
}

function timeAndPlace(params: URLSearchParams): DumpQuery {
  const query: DumpQuery = {};
  const host = single(params, 'host');
  const kernel = single(params, 'kernel');
  const since = single(params, 'since');
  const until = single(params, 'until');
  if (host !== undefined) query.hostId = host;
  if (kernel !== undefined) query.osRelease = kernel;
  if (since !== undefined) query.sinceMs = parseTime('since', since);
  if (until !== undefined) query.untilMs = parseTime('until', until);
  if (query.sinceMs !== undefined && query.untilMs !== undefined && query.sinceMs > query.untilMs) {
    throw badRequest(`since (${since}) is after until (${until})`);
  }
  return query;
}

export function parseDumpQuery(params: URLSearchParams): DumpQuery {
  rejectUnknown(params, KNOWN_DUMP_FILTERS);
  const query = timeAndPlace(params);
  const status = single(params, 'status');
  if (status !== undefined) {
    if (!STATUSES.includes(status as DumpStatus)) throw badRequest(`status=${JSON.stringify(status)} is not one of ${STATUSES.join(', ')}`);
    query.status = status as DumpStatus;
  }
  const kind = single(params, 'kind');
  if (kind !== undefined) {
    if (!DUMP_KINDS.includes(kind as DumpKind)) throw badRequest(`kind=${JSON.stringify(kind)} is not one of ${DUMP_KINDS.join(', ')}`);
    query.kind = kind as DumpKind;
  }
  const signature = single(params, 'signature');
  if (signature !== undefined) query.signature = signature;
  const limit = single(params, 'limit');
  const offset = single(params, 'offset');
  query.limit = limit === undefined ? 100 : parseCount('limit', limit, 1, MAX_PAGE);
  query.offset = offset === undefined ? 0 : parseCount('offset', offset, 0, Number.MAX_SAFE_INTEGER);
  return query;
}

export function parseGroupQuery(params: URLSearchParams): DumpQuery {
  rejectUnknown(params, KNOWN_GROUP_FILTERS);
  return timeAndPlace(params);
}
