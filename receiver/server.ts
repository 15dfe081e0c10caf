/**
 * The receiver process: TCP listener, HTTP listener with the WebSocket
 * upgrade at /upload, the catalog and the registry of uploads in flight.
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import os from 'node:os';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import { mkdir } from 'node:fs/promises';
import { WebSocketServer } from 'ws';
import type { Logger } from 'pino';
import { ErrorCode, NetdumpError } from '../shared/errors.js';
import { pageCodecByName } from '../shared/kdump/page-codec.js';
import { CHUNK_HEADER_SIZE, MAX_HELLO_BYTES } from '../shared/protocol/messages.js';
import { Catalog } from './catalog/catalog.js';
import { serveTcpConnection, serveWsConnection, type Admission } from './ingest/transports.js';
import { ConnectionGuard, DEFAULT_CONNECTION_CAPS, type ConnectionCaps } from './ingest/connection-guard.js';
import { hostChecker } from './api/request-guard.js';
import { UploadRegistry } from './ingest/uploads.js';
import type { ReceiverLimits } from './ingest/hello.js';
import { UploadSession, type SessionPeer } from './ingest/upload-session.js';
import { ReceiverMetrics } from './metrics.js';
import { createHttpHandler } from './api/routes.js';
import { findWebRoot, loadWebFiles } from './api/static-files.js';
import { deleteDumpNow } from './retention/delete-dump.js';
import { TriageQueue } from './triage/triage-queue.js';
import { runRetention, planRetentionNow, type RetentionDeps } from './retention/apply.js';
import { checkRetentionPolicy, type RetentionPolicy } from './retention/policy.js';
import { retentionOutcomeJson, retentionPlanJson } from './retention/report.js';
import { RetentionScheduler } from './retention/scheduler.js';
import { WebhookNotifier, type WebhookOptions } from './notify/webhook.js';
import type { StormPolicy } from './ingest/crash-storm.js';
import { DEFAULT_PARTIAL_AFTER_MS, StalledUploadSweeper } from './ingest/stalled-uploads.js';
import { openDumpStorage } from './storage/open-storage.js';
import type { DumpStorage } from './storage/dump-storage.js';

export interface ReceiverConfig {
  dataDir: string;
  /** Where dumps go: unset or "local" for the data directory, or s3://BUCKET[/PREFIX]?endpoint=... (receiver/storage/open-storage.ts). */
  storage?: string;
  /** The catalog: a postgres:// URL several receivers share; default DATA_DIR/index.db (SQLite). */
  catalogUrl?: string;
  /** This receiver's name among those sharing a catalog (default host:pid:random). */
  receiverId?: string;
  /** How long a receiver's claim on a dump outlives its last renewal (default 30 s): a dead receiver's uploads move on after this. */
  leaseTtlMs?: number;
  /** host:port; port 0 picks a free one. Undefined: no TCP listener. */
  tcp?: string;
  http?: string;
  pageCodec: string;
  /** What one HELLO, one host and all uploads together may take (receiver/ingest/hello.ts). */
  limits: ReceiverLimits;
  /** A connection that sends nothing for this long is closed (also reaps half-open ones). */
  idleTimeoutMs: number;
  /** Connections at once, in all and per address, and the bytes their first frames may hold (receiver/ingest/connection-guard.ts). */
  connectionCaps?: ConnectionCaps;
  /** Make data durable and ACK every this many chunks. */
  checkpointChunks: number;
  /** Accept uploads without a token (labs only; logged as a warning). */
  open: boolean;
  /** With open: host names the HTTP API and UI answer to, beside IP addresses, localhost, the listen host, this machine's hostname and publicUrl's. */
  allowedHosts?: string[];
  /** How operators reach this receiver (--public-url). */
  publicUrl?: string;
  /** PEM certificate and key: both listeners speak TLS (tls://, wss://). With clientCa, clients must present a certificate it signed. */
  tls?: { cert: Buffer; key: Buffer; clientCa?: Buffer };
  /** Deletes old dumps by these rules, every intervalMs and after each stored dump. Undefined: keep everything. */
  retention?: { policy: RetentionPolicy; intervalMs: number };
  /** When senders of one signature are asked for their first tier only (default: 3 complete dumps within an hour). */
  storm?: StormPolicy;
  /** An upload no connection has written to for this long is kept partial (default 15 min); 0: never. */
  partialAfterMs?: number;
  /** POSTs a notice of each stored dump (after triage, so it carries the panic line). */
  webhook?: WebhookOptions;
  logger: Logger;
}

export interface RunningReceiver {
  tcpAddress?: { host: string; port: number };
  httpAddress?: { host: string; port: number };
  catalog: Catalog;
  storage: DumpStorage;
  registry: UploadRegistry;
  metrics: ReceiverMetrics;
  triage: TriageQueue;
  close(): Promise<void>;
}

function defaultReceiverId(): string {
  return `${os.hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
}

export function parseListenAddress(text: string): { host: string; port: number } {
  const match = /^(.*):(\d+)$/.exec(text);
  if (!match) throw new Error(`listen address ${JSON.stringify(text)} is not HOST:PORT`);
  const port = Number(match[2]);
  if (port > 65535) throw new Error(`port ${port} out of range in ${text}`);
  return { host: match[1].replace(/^\[|\]$/g, '') || '127.0.0.1', port };
}

function listen(server: net.Server | http.Server, address: string): Promise<{ host: string; port: number }> {
  const { host, port } = parseListenAddress(address);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      const bound = server.address() as net.AddressInfo;
      resolve({ host: bound.address, port: bound.port });
    });
  });
}

export async function startReceiver(config: ReceiverConfig): Promise<RunningReceiver> {
  const log = config.logger;
  await mkdir(config.dataDir, { recursive: true });
  const storage = openDumpStorage(config.storage, config.dataDir);
  const catalog = await Catalog.open(config.catalogUrl ?? Catalog.inDataDir(config.dataDir)).catch(async (error) => {
    await storage.close();
    throw error;
  });
  const registry = new UploadRegistry({
    storage,
    catalog,
    codec: pageCodecByName(config.pageCodec),
    limits: config.limits,
    checkpointChunks: config.checkpointChunks,
    auth: { open: config.open },
    lease: { owner: config.receiverId ?? defaultReceiverId(), ttlMs: config.leaseTtlMs ?? 30_000 },
    storm: config.storm,
  });
  // A SQLite catalog is this receiver's alone: leases an earlier process held died with it.
  if (!catalog.sharedByReceivers) await catalog.clearLeases();
  if (config.open) {
    log.warn('open mode: any host can upload dumps without a token; use only on a trusted lab network');
  } else if (!(await catalog.hostTokens.list()).some((t) => t.revokedAt === null)) {
    log.warn('no host is enrolled: every upload will be refused (kdump-receiver token add HOST)');
  }
  // The largest CHUNK: type byte, header, zero bitmap of 4 KiB pages, and a
  // payload no larger than the raw pages (the sender ships raw when lz4 does not help)
  // and, for stored pages (CHUNK_STORED_LZO), their size table of 4 bytes a page.
  // A HELLO carries the notes: up to MAX_HELLO_BYTES (thousands of CPUs' NT_PRSTATUS).
  const pagesAtMost = Math.ceil(config.limits.maxChunkBytes / 4096);
  const maxFrameBytes = Math.max(1 + CHUNK_HEADER_SIZE + Math.ceil(pagesAtMost / 8) + pagesAtMost * 4 + config.limits.maxChunkBytes, MAX_HELLO_BYTES);
  const connectionLimits = { maxFrameBytes, idleTimeoutMs: config.idleTimeoutMs };
  const guard = new ConnectionGuard(config.connectionCaps ?? DEFAULT_CONNECTION_CAPS);
  const metrics = new ReceiverMetrics({
    dataDir: config.dataDir,
    uploadsInFlight: () => registry.inFlight().length,
    dumpsByStatus: () => catalog.countsByStatus(),
  });
  const webhook = config.webhook && new WebhookNotifier(config.webhook, log.child({ component: 'webhook' }), {
    onOutcome: (outcome) => metrics.webhookDeliveries.inc({ outcome }),
  });
  const retentionDeps: RetentionDeps = { storage, catalog, uploads: registry, logger: log.child({ component: 'retention' }) };
  const retentionPolicy = config.retention && checkRetentionPolicy(config.retention.policy);
  const retention = config.retention && retentionPolicy && new RetentionScheduler({
    intervalMs: config.retention.intervalMs,
    run: () => runRetention(retentionPolicy, retentionDeps),
    logger: retentionDeps.logger,
  });
  const triage = new TriageQueue({
    storage, catalog, logger: log.child({ component: 'triage' }), metrics,
    onTriaged: async (dumpId) => {
      const found = webhook && await catalog.getWithTriage(dumpId);
      if (found) webhook.enqueue({ ...found.record, panicLine: found.triage.panicLine, signature: found.triage.signature });
    },
  });
  registry.onLogTriaged = (dumpId) => {
    if (!webhook) return;
    void catalog.getWithTriage(dumpId).then((found) => {
      // dump.panic says a host crashed: a live snapshot's host did not (its dump.stored says what it is).
      if (found && found.record.kind !== 'live') webhook.notify({ event: 'dump.panic', dump: { ...found.record, ...found.triage } });
    }, (error: unknown) => log.error({ dump: dumpId, err: error }, 'panic notice not queued: catalog read failed'));
  };
  registry.onUnfinishedDropped = (record) => {
    log.warn({ dump: record.dumpId, host: record.hostId, path: record.path }, 'unfinished dump dropped: a newer dump of its host took its place (--max-unfinished-per-host)');
  };
  registry.onStored = (dumpId) => {
    triage.enqueue(dumpId);
    retention?.nudge();
  };
  const partialAfterMs = config.partialAfterMs ?? DEFAULT_PARTIAL_AFTER_MS;
  const sweeper = partialAfterMs > 0 ? new StalledUploadSweeper({
    catalog, storage, registry, logger: log.child({ component: 'stalled-uploads' }), afterMs: partialAfterMs,
    onKept: () => metrics.dumpsPartial.inc({ reason: 'abandoned' }),
  }) : undefined;
  sweeper?.start();
  // Dumps stored while an earlier process was stopping, or before triage existed.
  for (const record of await catalog.untriaged()) triage.enqueue(record.dumpId);
  const sessionLog = log.child({ component: 'session' });
  const sessions = new Set<UploadSession>();
  const createSession = (peer: SessionPeer) => {
    const session = new UploadSession(peer, registry, sessionLog, metrics);
    sessions.add(session);
    void session.released.then(() => sessions.delete(session));
    return session;
  };
  const sockets = new Set<net.Socket>();

  const result: RunningReceiver = { catalog, storage, registry, metrics, triage, close: async () => {} };
  const servers: Array<net.Server | http.Server> = [];

  const tlsOptions: tls.TlsOptions | undefined = config.tls && {
    cert: config.tls.cert,
    key: config.tls.key,
    ca: config.tls.clientCa,
    requestCert: Boolean(config.tls.clientCa),
    // Checked after the handshake instead (clientRefusal), so the sender gets
    // an ERROR saying why rather than a bare TLS alert, which TLS 1.3 clients
    // often see only as a closed connection.
    rejectUnauthorized: false,
    minVersion: 'TLSv1.2',
  };
  /** With mutual TLS: why this connection's client certificate is not accepted, if it is not. */
  const clientRefusal = (socket: net.Socket): NetdumpError | undefined => {
    if (!config.tls?.clientCa) return undefined;
    const secure = socket as tls.TLSSocket;
    if (secure.authorized) return undefined;
    const reason = String(secure.authorizationError ?? 'no certificate');
    return new NetdumpError(ErrorCode.AUTH, `client certificate not accepted: ${reason}`);
  };
  /**
   * A place among the connections and, for `firstFrameBytes` (a WebSocket's
   * whole first message), room in the first-frame budget; or the refusal.
   */
  const admit = (socket: net.Socket, firstFrameBytes?: number): Admission => {
    const ticket = guard.admit(socket.remoteAddress ?? 'unknown');
    if (ticket instanceof NetdumpError) return { refusal: ticket };
    const refusal = clientRefusal(socket) ?? (firstFrameBytes === undefined ? undefined : ticket.reserveFirstFrame(firstFrameBytes));
    return refusal ? { refusal, ticket } : { ticket };
  };
  const logTlsFailure = (error: Error, socket: net.Socket) => {
    log.warn({ peer: `${socket.remoteAddress}:${socket.remotePort}`, code: ErrorCode.AUTH, err: error.message }, 'TLS handshake refused');
  };

  if (config.tcp) {
    const onConnection = (socket: net.Socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      serveTcpConnection(socket, createSession, connectionLimits, admit(socket));
    };
    const tcpServer = tlsOptions ? tls.createServer(tlsOptions, onConnection) : net.createServer(onConnection);
    tcpServer.on('tlsClientError', logTlsFailure);
    result.tcpAddress = await listen(tcpServer, config.tcp);
    servers.push(tcpServer);
  }
  let wss: WebSocketServer | undefined;
  if (config.http) {
    wss = new WebSocketServer({ noServer: true, maxPayload: maxFrameBytes, perMessageDeflate: false });
    const onRequest = createHttpHandler({
      checkHost: config.open ? hostChecker(openReceiverNames(config)) : undefined,
      storage,
      catalog,
      registry,
      metrics,
      auth: { tokens: catalog.operatorTokens, open: config.open },
      secure: Boolean(tlsOptions),
      logger: log.child({ component: 'http' }),
      webFiles: loadWebFiles(findWebRoot()),
      deleteDump: (record) => deleteDumpNow(record, { storage, catalog, uploads: registry }),
      retention: retentionPolicy && {
        dryRun: async () => ({ policy: retentionPolicy, ...retentionPlanJson(await planRetentionNow(retentionPolicy, retentionDeps)) }),
        run: async () => retentionOutcomeJson((await runRetention(retentionPolicy, retentionDeps)).outcome),
      },
    });
    const httpServer = tlsOptions ? https.createServer(tlsOptions, onRequest) : http.createServer(onRequest);
    httpServer.on('tlsClientError', logTlsFailure);
    httpServer.on('upgrade', (req, socket, head) => {
      (socket as net.Socket).setKeepAlive(true, 15_000);
      if (req.url !== '/upload') {
        socket.end('HTTP/1.1 404 Not Found\r\nconnection: close\r\n\r\n');
        return;
      }
      wss!.handleUpgrade(req, socket, head, (ws) => {
        serveWsConnection(ws, `${req.socket.remoteAddress}:${req.socket.remotePort}`, createSession, connectionLimits, admit(req.socket, maxFrameBytes));
      });
    });
    httpServer.on(tlsOptions ? 'secureConnection' : 'connection', (socket: net.Socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    });
    result.httpAddress = await listen(httpServer, config.http);
    servers.push(httpServer);
  }

  retention?.start();
  let closing: Promise<void> | undefined;
  result.close = () => (closing ??= (async () => {
    const closed = servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve())));
    for (const socket of sockets) socket.destroy();
    wss?.close();
    // Each session checkpoints its dump before the catalog goes away.
    await Promise.all([...sessions].map((session) => session.release()));
    await Promise.all(closed);
    registry.stop();
    await sweeper?.stop();
    await triage.stop();
    await retention?.stop();
    await webhook?.stop(5_000);
    await catalog.close();
    await storage.close();
  })());
  return result;
}

/** The names an --open receiver's HTTP API answers to, beside IP addresses and localhost. */
function openReceiverNames(config: ReceiverConfig): string[] {
  const names = [os.hostname(), ...(config.allowedHosts ?? [])];
  const listenHost = config.http?.slice(0, config.http.lastIndexOf(':')).replace(/^\[|\]$/g, '');
  if (listenHost) names.push(listenHost);
  if (config.publicUrl) {
    try {
      names.push(new URL(config.publicUrl).hostname);
    } catch {
      // --public-url is checked where it is used (notices)
    }
  }
  return names;
}
