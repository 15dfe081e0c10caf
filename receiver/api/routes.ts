/**
 * The receiver's HTTP surface apart from WebSocket uploads: health, metrics,
 * the web UI and the JSON API of docs/api.md. One function per route; the
 * table at the bottom is the whole map.
 */
import { randomUUID } from 'node:crypto';
import type http from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Logger } from 'pino';
import { hasStoredFile, type Catalog, type DumpRecord, type TriageRecord } from '../catalog/catalog.js';
import type { UploadRegistry } from '../ingest/uploads.js';
import type { ReceiverMetrics } from '../metrics.js';
import { keysFor } from '../../shared/dump-folders.js';
import type { DumpObjectReader, DumpStorage } from '../storage/dump-storage.js';
import { KdumpFileReader } from '../../shared/kdump/reader.js';
import { NetdumpError } from '../../shared/errors.js';
import { planStoredDumpExport, streamElfCore } from '../../shared/kdump/elf-export.js';
import { ApiError, apiErrorFor, badRequest, conflict, notFound, sendApiError, sendJson } from './api-error.js';
import { checkStateChange } from './request-guard.js';
import { authenticate, clearedSessionCookie, requireAdmin, sessionCookie, type AuthPolicy, type Operator } from './operator-auth.js';
import { parseDumpQuery, parseGroupQuery } from './query-params.js';
import { parseRange } from './byte-range.js';
import type { DeleteNowOutcome } from '../retention/delete-dump.js';
import { downloadName, dumpDetail, dumpSummary, groupView, uploadView } from './dump-view.js';
import type { StaticFile } from './static-files.js';

export interface RetentionControl {
  /** The policy and what applying it now would delete. */
  dryRun(): Promise<unknown>;
  run(): Promise<unknown>;
}

export interface HttpDeps {
  storage: DumpStorage;
  catalog: Catalog;
  registry: UploadRegistry;
  metrics: ReceiverMetrics;
  auth: AuthPolicy;
  /** Cookies get Secure when the listener speaks TLS. */
  secure: boolean;
  logger: Logger;
  webFiles: Map<string, StaticFile>;
  /** Removes a dump's data and row, unless a connection is receiving it. */
  deleteDump(record: DumpRecord): Promise<DeleteNowOutcome>;
  retention?: RetentionControl;
  /** --open: throws FORBIDDEN for a Host this receiver does not answer to (request-guard.ts). */
  checkHost?: (req: http.IncomingMessage) => void;
}

interface Request {
  req: http.IncomingMessage;
  res: http.ServerResponse;
  url: URL;
  params: string[];
  operator: Operator;
}

const MAX_BODY_BYTES = 4096;

async function readJsonBody(req: http.IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    length += chunk.length;
    if (length > MAX_BODY_BYTES) throw badRequest(`request body over ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk);
  }
  try {
    const value = JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
    if (value && typeof value === 'object' && !Array.isArray(value)) return value as Record<string, unknown>;
  } catch {
    // Reported below, with what was expected.
  }
  throw badRequest('request body is not a JSON object');
}

async function dumpOr404(deps: HttpDeps, id: string): Promise<{ record: DumpRecord; triage: TriageRecord }> {
  const found = await deps.catalog.getWithTriage(id);
  if (!found) throw notFound(`no dump ${JSON.stringify(id)}`);
  return found;
}

/** The stored object of a complete or partial dump, open for reading; the caller closes it. */
async function openCompleteDump(deps: HttpDeps, record: DumpRecord): Promise<DumpObjectReader> {
  if (!hasStoredFile(record.status)) throw conflict(`dump ${record.dumpId} is ${record.status}, not complete: no file to download yet`);
  const reader = await deps.storage.openReader(record.path);
  if (!reader) throw notFound(`dump ${record.dumpId} is in the catalog but its file ${deps.storage.locationOf(record.path)} is gone`);
  return reader;
}

async function listDumps(deps: HttpDeps, r: Request) {
  const query = parseDumpQuery(r.url.searchParams);
  const { dumps, total } = await deps.catalog.query(query);
  sendJson(r.res, 200, { dumps: dumps.map(({ record, triage }) => dumpSummary(record, triage)), total, limit: query.limit, offset: query.offset });
}

async function showDump(deps: HttpDeps, r: Request) {
  const { record, triage } = await dumpOr404(deps, r.params[0]);
  sendJson(r.res, 200, dumpDetail(record, triage, { location: deps.storage.locationOf(record.path), filePath: deps.storage.filePath(record.path, { finished: hasStoredFile(record.status) }) }));
}

async function deleteDump(deps: HttpDeps, r: Request) {
  requireAdmin(r.operator, 'deleting a dump');
  const { record } = await dumpOr404(deps, r.params[0]);
  if ((await deps.deleteDump(record)) === 'receiving') {
    throw conflict(`dump ${record.dumpId} is being received now; delete it once its upload has ended`);
  }
  deps.logger.info({ dump: record.dumpId, host: record.hostId, operator: r.operator.name }, 'dump deleted by an operator');
  r.res.writeHead(204).end();
}

async function dumpDmesg(deps: HttpDeps, r: Request) {
  const { record, triage } = await dumpOr404(deps, r.params[0]);
  // Absent is 404 below; a store that does not answer is its own error (503), not "no log".
  const text = await deps.storage.get(keysFor(record.path).dmesg);
  if (!text) {
    const why = triage.error ?? (hasStoredFile(record.status) ? 'triage has not run yet' : `the dump is ${record.status}`);
    throw notFound(`no kernel log for dump ${record.dumpId}: ${why}`);
  }
  r.res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'content-length': text.length, 'cache-control': 'no-store' });
  r.res.end(text);
}

async function downloadDump(deps: HttpDeps, r: Request) {
  const { record } = await dumpOr404(deps, r.params[0]);
  const object = await openCompleteDump(deps, record);
  try {
    await sendDumpObject(r, record, object);
  } finally {
    await object.close();
  }
}

async function sendDumpObject(r: Request, record: DumpRecord, object: DumpObjectReader) {
  const { size } = object;
  const range = parseRange(r.req.headers.range, size);
  const headers: Record<string, string | number> = {
    'content-type': 'application/octet-stream',
    'accept-ranges': 'bytes',
    'content-disposition': `attachment; filename="${downloadName(record, '.kdump')}"`,
    // Complete dumps never change: the digest the sender and receiver agreed on names this content.
    etag: `"${record.digest ?? record.dumpId}"`,
  };
  if (range) {
    headers['content-range'] = `bytes ${range.start}-${range.end}/${size}`;
    headers['content-length'] = range.end - range.start + 1;
    r.res.writeHead(206, headers);
  } else {
    headers['content-length'] = size;
    r.res.writeHead(200, headers);
  }
  if (r.req.method === 'HEAD' || size === 0) {
    r.res.end();
    return;
  }
  await pipeline(await object.createReadStream(range ? { start: range.start, end: range.end } : undefined), r.res);
}

async function exportElf(deps: HttpDeps, r: Request) {
  const { record } = await dumpOr404(deps, r.params[0]);
  const reader = await KdumpFileReader.fromSource(await openCompleteDump(deps, record));
  try {
    const elfHeaders = await deps.storage.get(keysFor(record.path).elfHeaders);
    const plan = await planStoredDumpExport(reader, elfHeaders);
    r.res.writeHead(200, {
      'content-type': 'application/octet-stream',
      'content-length': plan.totalSize,
      'content-disposition': `attachment; filename="${downloadName(record, '.elf')}"`,
      'x-kdump-elf-segments': plan.segments.length,
      'x-kdump-elf-addresses': elfHeaders ? 'virtual' : 'physical-only',
    });
    if (r.req.method === 'HEAD') {
      r.res.end();
      return;
    }
    await pipeline(Readable.from(streamElfCore(reader, plan)), r.res);
  } finally {
    await reader.close();
  }
}

async function listGroups(deps: HttpDeps, r: Request) {
  const groups = await deps.catalog.groups(parseGroupQuery(r.url.searchParams));
  sendJson(r.res, 200, { groups: groups.map(groupView) });
}

async function showGroup(deps: HttpDeps, r: Request) {
  const signature = r.params[0];
  const [group] = await deps.catalog.groups({ signature });
  if (!group) throw notFound(`no group with signature ${JSON.stringify(signature)}`);
  // Every dump the group counts: complete, partial, and those whose log came ahead of their pages.
  const { dumps } = await deps.catalog.query({ signature, limit: 1000 });
  sendJson(r.res, 200, { ...groupView(group), dumps: dumps.map(({ record, triage }) => dumpSummary(record, triage)) });
}

async function listUploads(deps: HttpDeps, r: Request) {
  const now = Date.now();
  sendJson(r.res, 200, { uploads: deps.registry.inFlight().map((u) => uploadView(u, now)) });
}

async function retentionDryRun(deps: HttpDeps, r: Request) {
  if (!deps.retention) throw notFound('retention is not configured on this receiver (serve --keep-per-host, --max-total-bytes, --retention-min-free-bytes)');
  sendJson(r.res, 200, await deps.retention.dryRun());
}

async function retentionRun(deps: HttpDeps, r: Request) {
  requireAdmin(r.operator, 'applying retention');
  if (!deps.retention) throw notFound('retention is not configured on this receiver');
  deps.logger.info({ operator: r.operator.name }, 'retention run requested');
  sendJson(r.res, 200, await deps.retention.run());
}

async function whoami(deps: HttpDeps, r: Request) {
  sendJson(r.res, 200, { name: r.operator.name, role: r.operator.role, open: deps.auth.open });
}

type Handler = (deps: HttpDeps, r: Request) => Promise<void>;

/** METHOD path-pattern handler; ':' segments are captured in order. */
const API_ROUTES: Array<[string, string, Handler]> = [
  ['GET', '/api/v1/whoami', whoami],
  ['GET', '/api/v1/dumps', listDumps],
  ['GET', '/api/v1/dumps/:id', showDump],
  ['DELETE', '/api/v1/dumps/:id', deleteDump],
  ['GET', '/api/v1/dumps/:id/dmesg', dumpDmesg],
  ['GET', '/api/v1/dumps/:id/file', downloadDump],
  ['HEAD', '/api/v1/dumps/:id/file', downloadDump],
  ['GET', '/api/v1/dumps/:id/elf', exportElf],
  ['HEAD', '/api/v1/dumps/:id/elf', exportElf],
  ['GET', '/api/v1/groups', listGroups],
  ['GET', '/api/v1/groups/:signature', showGroup],
  ['GET', '/api/v1/uploads', listUploads],
  ['GET', '/api/v1/retention', retentionDryRun],
  ['POST', '/api/v1/retention/run', retentionRun],
];

function decodePathSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw badRequest(`path segment ${JSON.stringify(segment)} is not valid percent-encoding`);
  }
}

function matchRoute(method: string, pathname: string): { handler: Handler; params: string[] } {
  const segments = pathname.split('/');
  let pathMatched = false;
  for (const [routeMethod, pattern, handler] of API_ROUTES) {
    const parts = pattern.split('/');
    if (parts.length !== segments.length) continue;
    const params: string[] = [];
    let matches = true;
    for (let i = 0; i < parts.length && matches; i++) {
      if (parts[i].startsWith(':')) {
        if (segments[i] === '') matches = false;
        else params.push(decodePathSegment(segments[i]));
      } else if (parts[i] !== segments[i]) {
        matches = false;
      }
    }
    if (!matches) continue;
    pathMatched = true;
    if (routeMethod === method) return { handler, params };
  }
  if (pathMatched) throw new ApiError('METHOD_NOT_ALLOWED', `${method} is not allowed on ${pathname}`);
  throw notFound(`no API path ${pathname}`);
}

async function startSession(deps: HttpDeps, req: http.IncomingMessage, res: http.ServerResponse) {
  const body = await readJsonBody(req);
  if (typeof body.token !== 'string') throw badRequest('body must be {"token": "..."}');
  const operator = await deps.auth.tokens.lookup(body.token);
  if (!operator) throw new ApiError('UNAUTHENTICATED', 'unknown or revoked operator token');
  deps.logger.info({ operator: operator.name }, 'operator signed in');
  res.writeHead(204, { 'set-cookie': sessionCookie(body.token, deps.secure), 'cache-control': 'no-store' }).end();
}

function serveWebFile(deps: HttpDeps, name: string, res: http.ServerResponse): void {
  const file = deps.webFiles.get(name);
  if (!file) throw notFound(name === 'index.html' ? 'the web UI files are not installed (receiver/web)' : `no UI file ${name}`);
  res.writeHead(200, {
    'content-type': file.contentType,
    'content-length': file.body.length,
    'cache-control': 'no-cache',
    // The UI uses only its own scripts and the API: nothing injected can load or send elsewhere.
    'content-security-policy': "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'",
    'x-content-type-options': 'nosniff',
  });
  res.end(file.body);
}

/** The request target as a URL; one that does not parse (`http://[`, say) is the client's mistake: 400, not a logged 500. */
function requestUrl(target: string | undefined): URL {
  try {
    return new URL(target ?? '/', 'http://receiver');
  } catch {
    throw badRequest(`request target ${JSON.stringify((target ?? '').slice(0, 100))} is not a URL path`);
  }
}

export function createHttpHandler(deps: HttpDeps): (req: http.IncomingMessage, res: http.ServerResponse) => void {
  const handle = async (req: http.IncomingMessage, res: http.ServerResponse) => {
    const url = requestUrl(req.url);
    const method = req.method ?? 'GET';
    const pathname = url.pathname;
    if (pathname === '/healthz') {
      // Liveness: the process answers. Restarting it would not bring a lost database back.
      sendJson(res, 200, { ok: true, uploads: deps.registry.activeCount });
      return;
    }
    if (pathname === '/readyz') {
      // Readiness: new uploads can be taken (the catalog and the storage answer); a load balancer sends them elsewhere meanwhile.
      const [catalogProblem, storageProblem] = await Promise.all([deps.catalog.ping(), deps.storage.ping()]
        .map((check) => check.then(() => undefined, (error: Error) => error.message)));
      const ready = !catalogProblem && !storageProblem;
      sendJson(res, ready ? 200 : 503, { ready, catalog: catalogProblem ?? 'ok', storage: storageProblem ?? 'ok', uploads: deps.registry.activeCount });
      return;
    }
    if (pathname === '/metrics') {
      const text = await deps.metrics.render();
      res.writeHead(200, { 'content-type': deps.metrics.contentType, 'cache-control': 'no-store' }).end(text);
      return;
    }
    // Probes above answer any Host: load balancers and kubelets ask by address or service name.
    deps.checkHost?.(req);
    checkStateChange(req);
    // Node's server leaves the body out of answers to HEAD.
    const reading = method === 'GET' || method === 'HEAD';
    if (reading && (pathname === '/' || pathname === '/index.html')) return serveWebFile(deps, 'index.html', res);
    if (reading && pathname.startsWith('/ui/')) return serveWebFile(deps, pathname.slice(4), res);
    // Links in notifications: a plain path that survives chat tools, into the UI's hash route.
    const dumpLink = /^\/dumps\/([0-9a-f]{16,64})$/.exec(pathname);
    if (reading && dumpLink) {
      res.writeHead(302, { location: `/#/dumps/${dumpLink[1]}` }).end();
      return;
    }
    if (pathname === '/api/v1/session') {
      if (method === 'POST') return startSession(deps, req, res);
      if (method === 'DELETE') {
        res.writeHead(204, { 'set-cookie': clearedSessionCookie(deps.secure) }).end();
        return;
      }
      throw new ApiError('METHOD_NOT_ALLOWED', `${method} is not allowed on ${pathname}`);
    }
    if (!pathname.startsWith('/api/')) throw notFound(`no page ${pathname}`);
    if (!pathname.startsWith('/api/v1/')) throw notFound(`unknown API version in ${pathname} (this receiver speaks /api/v1)`);
    const route = matchRoute(method, pathname);
    const operator = await authenticate(req, deps.auth);
    await route.handler(deps, { req, res, url, params: route.params, operator });
  };
  return (req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (error instanceof ApiError) {
        sendApiError(res, error);
        return;
      }
      if ((error as NodeJS.ErrnoException)?.code === 'ERR_STREAM_PREMATURE_CLOSE') return; // the client went away mid-download
      const answer = error instanceof NetdumpError ? apiErrorFor(error) : undefined;
      if (answer) {
        sendApiError(res, answer);
        return;
      }
      const requestId = randomUUID();
      deps.logger.error({ err: error, requestId, method: req.method, url: req.url }, 'HTTP request failed');
      sendApiError(res, new ApiError('INTERNAL', `internal error (request id ${requestId}; the receiver's log has the details)`));
    });
  };
}
