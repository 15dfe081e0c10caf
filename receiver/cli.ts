#!/usr/bin/env node
/**
 * kdump-receiver: collect crash dumps from kdump-send and keep them indexed.
 *   serve   run the receiver
 *   list    the catalog, newest first
 *   show    one dump in full
 */
import path from 'node:path';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { Command, InvalidArgumentError, Option } from 'commander';
import pino from 'pino';
import { Catalog, isPostgresUrl, levelLowered, type DumpLevelRecord, type DumpRecord } from './catalog/catalog.js';
import { escapeControls, jsonForTerminal } from './terminal-text.js';
import { crashCommand } from './api/dump-view.js';
import { DEFAULT_CONNECTION_CAPS } from './ingest/connection-guard.js';
import { DEFAULT_HOST_QUOTAS } from './ingest/hello.js';
import { openDumpStorage } from './storage/open-storage.js';
import type { DumpStorage } from './storage/dump-storage.js';
import { startReceiver } from './server.js';
import { checkRetentionPolicy, type RetentionPolicy } from './retention/policy.js';
import { planRetentionNow } from './retention/apply.js';
import { formatRetentionPlan, retentionPlanJson } from './retention/report.js';

export const DEFAULTS = {
  dataDir: process.env.KDUMP_RECEIVER_DATA ?? '/var/lib/kdump-receiver',
  /** Undefined: DATA_DIR/index.db. */
  catalog: process.env.KDUMP_RECEIVER_CATALOG,
  tcp: '127.0.0.1:7341',
  http: '127.0.0.1:7342',
  pageCodec: 'lzo',
  maxDumpBytes: 16 * 2 ** 40,
  maxChunkBytes: 4 * 2 ** 20,
  checkpointChunks: 256,
  maxUploads: 64,
  minFreeBytes: 2 ** 30,
  idleTimeoutSeconds: 60,
};

function positiveInt(name: string) {
  return (value: string) => {
    const n = Number(value);
    if (!Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError(`${name} must be a positive integer`);
    return n;
  };
}

/** Where every command finds the catalog: --data-dir (and its index.db), or --catalog for a shared database. */
const dataDirOption = () => new Option('--data-dir <dir>', 'data directory').default(DEFAULTS.dataDir);
const catalogOption = () => new Option('--catalog <url>',
  'catalog database: postgres://USER:PASSWORD@HOST/DB, shared by several receivers (default DATA_DIR/index.db)').default(DEFAULTS.catalog);

/** Where dumps are kept; serve, show and retention must agree on it. */
const storageOption = () => new Option('--storage <url>', 'where dumps go: "local" (the data directory) or s3://BUCKET[/PREFIX]?endpoint=URL&region=R&forcePathStyle=true'
  + ' (credentials from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)').env('KDUMP_RECEIVER_STORAGE');

/** Runs `use` on the catalog the options name, closing it after. Reading never creates a SQLite catalog. */
async function withCatalog<T>(opts: { dataDir: string; catalog?: string }, writable: boolean, use: (catalog: Catalog) => Promise<T>): Promise<T> {
  const location = opts.catalog ?? Catalog.inDataDir(opts.dataDir);
  if (!isPostgresUrl(location)) {
    if (writable) mkdirSync(opts.dataDir, { recursive: true });
    else if (!existsSync(location)) {
      process.stderr.write(`kdump-receiver: no catalog at ${location} (no dumps received yet, or wrong --data-dir)\n`);
      process.exit(2);
    }
  }
  const catalog = await Catalog.open(location, { readonly: !writable && !isPostgresUrl(location) });
  try {
    return await use(catalog);
  } finally {
    await catalog.close();
  }
}

const iso = (ms: number | null) => (ms === null ? '-' : new Date(ms).toISOString().replace('.000Z', 'Z'));
const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;

/** "31", or "1 (asked 31, lowered: see level notes)" when the sender applied less. */
function levelText(level: DumpLevelRecord): string {
  if (level.applied === null) return '-';
  if (level.asked === level.applied) return String(level.applied);
  return `${level.applied} (asked ${level.asked ?? '-'}${levelLowered(level) ? ', lowered: see level notes' : ''})`;
}

/** One row per note, the label on the first. */
function noteRows(notes: string[]): Array<[string, string]> {
  if (notes.length === 0) return [['level notes', '-']];
  return notes.map((note, i) => [i === 0 ? 'level notes' : '', note]);
}

const rulesText = (rules: string | null) => (rules === null ? 'unknown (sender did not say)' : rules === '' ? 'none' : rules);

function describe(record: DumpRecord, storage: DumpStorage): string {
  const location = storage.locationOf(record.path);
  const local = storage.backend === 'local';
  const rows: Array<[string, string | number | null]> = [
    ['dump id', record.dumpId],
    ['host', record.hostId],
    ['status', record.status + (record.failure ? ` (${record.failure})` : '')],
    ['kernel', record.osRelease],
    ['build id', record.buildId],
    ['crashed at', record.crashTime === null ? '-' : iso(record.crashTime * 1000)],
    ['received at', iso(record.receivedAt)],
    ['finished at', iso(record.finishedAt)],
    ['duration', record.durationMs === null ? '-' : `${(record.durationMs / 1000).toFixed(2)} s`],
    ['vmcore size', mb(record.vmcoreSize)],
    ['bytes in', mb(record.bytesIn)],
    ['bytes stored', mb(record.bytesStored)],
    ['pages', `${record.pagesTotal} total, ${record.pagesZero} zero, ${record.pagesStored} stored`],
    ['page codec', record.pageCodec],
    ['dump level', levelText(record.dumpLevel)],
    ['page rules', rulesText(record.dumpLevel.rules)],
    ...noteRows(record.dumpLevel.notes),
    ['path', location + (local && record.status !== 'complete' ? '.incomplete' : '')],
    ['open with', record.status !== 'complete' ? '-'
      : local ? crashCommand(record, location) : `${crashCommand(record, 'FILE')} (FILE: GET /api/v1/dumps/${record.dumpId}/file)`],
  ];
  // Values come from the sender (kernel, notes, ...): no control character reaches the terminal.
  return rows.map(([k, v]) => `${k.padEnd(13)} ${escapeControls(String(v ?? '-'))}`).join('\n');
}

function describeWithStorage(record: DumpRecord, opts: { dataDir: string; storage?: string }): string {
  // Only names where the dump is: opening the storage makes no request.
  const storage = openDumpStorage(opts.storage, path.resolve(opts.dataDir));
  try {
    return describe(record, storage);
  } finally {
    void storage.close();
  }
}

/** The retention rules the flags ask for; undefined when none is set (keep everything). */
/**
 * Always a policy: uploads that stopped --abandoned-after-days ago are deleted
 * on every receiver, with or without the rules for complete dumps, so partial
 * files a peer leaves behind never pile up.
 */
function retentionPolicyFrom(opts: Record<string, number | undefined>): RetentionPolicy {
  return checkRetentionPolicy({
    keepPerHost: opts.keepPerHost,
    maxTotalBytes: opts.maxTotalBytes,
    minFreeBytes: opts.retentionMinFreeBytes,
    abandonedAfterMs: (opts.abandonedAfterDays ?? 7) * 24 * 3600 * 1000,
  });
}

const program = new Command().name('kdump-receiver').description('Collect kernel crash dumps streamed by kdump-send');

program.command('serve')
  .description('receive dumps')
  .option('--data-dir <dir>', 'where dumps and index.db live', DEFAULTS.dataDir)
  .addOption(catalogOption())
  .addOption(storageOption())
  .option('--tcp <host:port>', 'TCP listener ("off" to disable)', DEFAULTS.tcp)
  .option('--http <host:port>', 'HTTP listener with WebSocket uploads at /upload ("off" to disable)', DEFAULTS.http)
  .option('--page-codec <name>', 'per-page compression in stored dumps: lzo, zlib or none', DEFAULTS.pageCodec)
  .option('--max-dump-bytes <n>', 'largest vmcore accepted', positiveInt('--max-dump-bytes'), DEFAULTS.maxDumpBytes)
  .option('--max-chunk-bytes <n>', 'largest chunk of raw pages accepted', positiveInt('--max-chunk-bytes'), DEFAULTS.maxChunkBytes)
  .option('--checkpoint-chunks <n>', 'fdatasync and ACK every N chunks', positiveInt('--checkpoint-chunks'), DEFAULTS.checkpointChunks)
  .option('--max-uploads <n>', 'uploads received at once; more are told to retry later', positiveInt('--max-uploads'), DEFAULTS.maxUploads)
  .option('--min-free-bytes <n>', 'free disk kept in reserve: dumps that could eat into it are refused', positiveInt('--min-free-bytes'), DEFAULTS.minFreeBytes)
  .option('--idle-timeout <s>', 'close connections that complete no frame for this many seconds', positiveInt('--idle-timeout'), DEFAULTS.idleTimeoutSeconds)
  .option('--max-uploads-per-host <n>', 'of those, from one host', positiveInt('--max-uploads-per-host'), DEFAULT_HOST_QUOTAS.maxUploadsPerHost)
  .option('--max-unfinished-per-host <n>', 'unfinished dumps one host keeps for resuming; a new one replaces its oldest', positiveInt('--max-unfinished-per-host'), DEFAULT_HOST_QUOTAS.maxUnfinishedPerHost)
  .option('--max-connections <n>', 'upload connections open at once (TCP and WebSocket); more are told to retry later', positiveInt('--max-connections'), DEFAULT_CONNECTION_CAPS.maxConnections)
  .option('--max-connections-per-peer <n>', 'of those, from one address (behind a proxy, all senders share its address)', positiveInt('--max-connections-per-peer'), DEFAULT_CONNECTION_CAPS.maxPerPeer)
  .option('--first-frame-bytes <n>', 'bytes the first frames (HELLOs, before any token is checked) of all connections may hold together', positiveInt('--first-frame-bytes'), DEFAULT_CONNECTION_CAPS.firstFrameBytes)
  .option('--open', 'accept uploads from any host without a token (lab networks only)')
  .option('--allowed-host <name>', 'with --open: a host name the web UI and API answer to (beside IP addresses, localhost, this machine\'s hostname and --public-url\'s); repeatable', (v: string, all: string[] = []) => [...all, v])
  .option('--tls-cert <file>', 'PEM certificate: both listeners speak TLS (senders use tls:// and wss://)')
  .option('--tls-key <file>', 'PEM key of --tls-cert')
  .option('--tls-client-ca <file>', 'require client certificates signed by this PEM CA (mutual TLS)')
  .option('--keep-per-host <n>', 'retention: keep the newest N complete dumps of each host', positiveInt('--keep-per-host'))
  .option('--max-total-bytes <n>', 'retention: delete oldest dumps while all dumps together exceed N bytes', positiveInt('--max-total-bytes'))
  .option('--retention-min-free-bytes <n>', 'retention: delete oldest dumps while the disk has less than N bytes free', positiveInt('--retention-min-free-bytes'))
  .option('--abandoned-after-days <n>', 'uploads that stopped this many days ago are deleted (with or without the retention rules above)', positiveInt('--abandoned-after-days'), 7)
  .option('--retention-interval <s>', 'retention: seconds between runs (also runs after each stored dump)', positiveInt('--retention-interval'), 3600)
  .option('--webhook-url <url>', 'POST a JSON notice of each stored dump here')
  .option('--webhook-secret-file <file>', 'sign notices: X-Kdump-Signature: sha256=HMAC(secret, body)')
  .option('--webhook-token-file <file>', 'send Authorization: Bearer TOKEN with notices')
  .option('--public-url <url>', 'how operators reach this receiver, for links in notices', 'http://localhost:7342')
  .option('--receiver-id <name>', 'this receiver\'s name among those sharing a --catalog (default HOST:PID:RANDOM)')
  .option('--lease-ttl <s>', 'seconds a receiver\'s claim on a dump outlives its last renewal; then another receiver may resume it', positiveInt('--lease-ttl'), 30)
  .option('--log-level <level>', 'pino log level', 'info')
  .action(async (opts) => {
    const logger = pino({ level: opts.logLevel, base: { service: 'kdump-receiver' } });
    const off = (v: string) => (v === 'off' ? undefined : v);
    if (Boolean(opts.tlsCert) !== Boolean(opts.tlsKey)) throw new Error('--tls-cert and --tls-key go together');
    if (opts.tlsClientCa && !opts.tlsCert) throw new Error('--tls-client-ca needs --tls-cert and --tls-key');
    const tls = opts.tlsCert
      ? { cert: readFileSync(opts.tlsCert), key: readFileSync(opts.tlsKey), clientCa: opts.tlsClientCa ? readFileSync(opts.tlsClientCa) : undefined }
      : undefined;
    const receiver = await startReceiver({
      dataDir: path.resolve(opts.dataDir),
      catalogUrl: opts.catalog,
      storage: opts.storage,
      receiverId: opts.receiverId,
      leaseTtlMs: opts.leaseTtl * 1000,
      tcp: off(opts.tcp),
      http: off(opts.http),
      pageCodec: opts.pageCodec,
      maxDumpBytes: opts.maxDumpBytes,
      maxChunkBytes: opts.maxChunkBytes,
      checkpointChunks: opts.checkpointChunks,
      maxUploads: opts.maxUploads,
      maxUploadsPerHost: opts.maxUploadsPerHost,
      maxUnfinishedPerHost: opts.maxUnfinishedPerHost,
      minFreeBytes: opts.minFreeBytes,
      idleTimeoutMs: opts.idleTimeout * 1000,
      connectionCaps: { maxConnections: opts.maxConnections, maxPerPeer: opts.maxConnectionsPerPeer, firstFrameBytes: opts.firstFrameBytes },
      open: Boolean(opts.open),
      allowedHosts: opts.allowedHost,
      publicUrl: opts.publicUrl,
      tls,
      retention: { policy: retentionPolicyFrom(opts), intervalMs: opts.retentionInterval * 1000 },
      webhook: opts.webhookUrl ? {
        url: opts.webhookUrl,
        publicBaseUrl: opts.publicUrl,
        secret: opts.webhookSecretFile ? readFileSync(opts.webhookSecretFile, 'utf8').trim() : undefined,
        bearerToken: opts.webhookTokenFile ? readFileSync(opts.webhookTokenFile, 'utf8').trim() : undefined,
      } : undefined,
      logger,
    });
    logger.info({ tcp: receiver.tcpAddress, http: receiver.httpAddress, dataDir: path.resolve(opts.dataDir), storage: receiver.storage.backend },
      'kdump-receiver ready');
    const stop = async (signal: string) => {
      logger.info({ signal }, 'shutting down');
      await receiver.close();
      process.exit(0);
    };
    process.once('SIGINT', () => void stop('SIGINT'));
    process.once('SIGTERM', () => void stop('SIGTERM'));
  });

program.command('list')
  .description('list dumps, newest first')
  .addOption(dataDirOption()).addOption(catalogOption())
  .option('--host <id>', 'only this host')
  .option('--json', 'one JSON array')
  .action(async (opts) => {
    const records = await withCatalog(opts, false, (catalog) => catalog.list({ hostId: opts.host }));
    if (opts.json) {
      process.stdout.write(`${jsonForTerminal(records)}\n`);
      return;
    }
    const header = ['DUMP ID', 'HOST', 'CRASHED (UTC)', 'KERNEL', 'STATUS', 'STORED', 'PATH'];
    const rows = records.map((r) => [
      r.dumpId.slice(0, 12), r.hostId, r.crashTime === null ? '-' : iso(r.crashTime * 1000), r.osRelease ?? '-',
      r.status, mb(r.bytesStored), r.path,
    ].map(escapeControls));
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
    for (const row of [header, ...rows]) process.stdout.write(`${row.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd()}\n`);
  });

program.command('show')
  .description('one dump in full (id or unique prefix)')
  .argument('<id>')
  .addOption(dataDirOption()).addOption(catalogOption()).addOption(storageOption())
  .option('--json', 'as JSON')
  .action(async (id: string, opts) => {
    const matches = await withCatalog(opts, false, (catalog) => catalog.find(id));
    if (matches.length !== 1) {
      process.stderr.write(`kdump-receiver: ${matches.length === 0 ? 'no dump' : 'more than one dump'} matches ${JSON.stringify(id)}\n`);
      process.exit(matches.length === 0 ? 3 : 2);
    }
    process.stdout.write(opts.json ? `${jsonForTerminal(matches[0])}\n` : `${describeWithStorage(matches[0], opts)}\n`);
  });

program.command('retention')
  .description('what the retention rules would delete now (a dry run; the running receiver applies them, or POST /api/v1/retention/run)')
  .addOption(dataDirOption()).addOption(catalogOption()).addOption(storageOption())
  .option('--keep-per-host <n>', 'keep the newest N complete dumps of each host', positiveInt('--keep-per-host'))
  .option('--max-total-bytes <n>', 'all dumps together at most N bytes', positiveInt('--max-total-bytes'))
  .option('--retention-min-free-bytes <n>', 'keep N bytes free on the disk', positiveInt('--retention-min-free-bytes'))
  .option('--abandoned-after-days <n>', 'uploads that stopped this many days ago go', positiveInt('--abandoned-after-days'), 7)
  .option('--json', 'as JSON')
  .action(async (opts) => {
    const policy = retentionPolicyFrom(opts);
    await withCatalog(opts, false, async (catalog) => {
      // This process cannot see the server's connections: files written recently count as live (see retention.ts).
      const storage = openDumpStorage(opts.storage, path.resolve(opts.dataDir));
      const plan = await planRetentionNow(policy, { dataDir: path.resolve(opts.dataDir), storage, catalog, uploads: { isAttached: () => false } })
        .finally(() => storage.close());
      process.stdout.write(opts.json ? `${JSON.stringify(retentionPlanJson(plan), null, 2)}\n` : `${formatRetentionPlan(plan)}\n`);
    });
  });

const token = program.command('token').description('enrol hosts: each gets an upload token bound to its host id');


token.command('add')
  .description('enrol HOST (or replace its token); prints the token once, for the host\'s --token-file')
  .argument('<host>')
  .addOption(dataDirOption()).addOption(catalogOption())
  .action(async (host: string, opts) => {
    process.stdout.write(`${await withCatalog(opts, true, (catalog) => catalog.hostTokens.add(host))}\n`);
  });

token.command('revoke')
  .description('revoke HOST\'s token: its uploads are refused from now on')
  .argument('<host>')
  .addOption(dataDirOption()).addOption(catalogOption())
  .action(async (host: string, opts) => {
    const revoked = await withCatalog(opts, true, (catalog) => catalog.hostTokens.revoke(host));
    if (!revoked) {
      process.stderr.write(`kdump-receiver: host ${host} has no live token\n`);
      process.exit(3);
    }
  });

token.command('list')
  .description('enrolled hosts (never the tokens: only their hashes are kept)')
  .addOption(dataDirOption()).addOption(catalogOption())
  .option('--json', 'as JSON')
  .action(async (opts) => {
    const hosts = await withCatalog(opts, false, (catalog) => catalog.hostTokens.list());
    if (opts.json) {
      process.stdout.write(`${JSON.stringify(hosts, null, 2)}\n`);
      return;
    }
    for (const h of hosts) process.stdout.write(`${h.hostId.padEnd(24)} enrolled ${iso(h.createdAt)}${h.revokedAt ? `  REVOKED ${iso(h.revokedAt)}` : ''}\n`);
  });

const operator = program.command('operator').description('tokens for people and scripts using the HTTP API and web UI (roles: read, admin)');

operator.command('add')
  .description('add NAME (or replace its token); prints the token once')
  .argument('<name>')
  .option('--role <role>', 'read (see everything) or admin (also delete dumps, apply retention)', 'read')
  .addOption(dataDirOption()).addOption(catalogOption())
  .action(async (name: string, opts) => {
    process.stdout.write(`${await withCatalog(opts, true, (catalog) => catalog.operatorTokens.add(name, opts.role))}\n`);
  });

operator.command('revoke')
  .description('revoke NAME\'s token')
  .argument('<name>')
  .addOption(dataDirOption()).addOption(catalogOption())
  .action(async (name: string, opts) => {
    const revoked = await withCatalog(opts, true, (catalog) => catalog.operatorTokens.revoke(name));
    if (!revoked) {
      process.stderr.write(`kdump-receiver: operator ${name} has no live token\n`);
      process.exit(3);
    }
  });

operator.command('list')
  .description('operators and their roles (never the tokens: only their hashes are kept)')
  .addOption(dataDirOption()).addOption(catalogOption())
  .option('--json', 'as JSON')
  .action(async (opts) => {
    const operators = await withCatalog(opts, false, (catalog) => catalog.operatorTokens.list());
    if (opts.json) {
      process.stdout.write(`${JSON.stringify(operators, null, 2)}\n`);
      return;
    }
    for (const o of operators) {
      process.stdout.write(`${o.name.padEnd(24)} ${o.role.padEnd(6)} added ${iso(o.createdAt)}${o.revokedAt ? `  REVOKED ${iso(o.revokedAt)}` : ''}\n`);
    }
  });

program.parseAsync().catch((error) => {
  process.stderr.write(`kdump-receiver: ${(error as Error).message}\n`);
  process.exit(1);
});
