#!/usr/bin/env node
/**
 * kdump-receiver: collect crash dumps from kdump-send and keep them indexed.
 *   serve   run the receiver
 *   list    the catalog, newest first
 *   show    one dump in full (cli/show-dump.ts)
 */
import path from 'node:path';
import { readFileSync } from 'node:fs';
import { Command, InvalidArgumentError } from 'commander';
import pino from 'pino';
import { escapeControls, jsonForTerminal } from './cli/terminal-text.js';
import { showDump } from './cli/show-dump.js';
import { DEFAULT_DATA_DIR, catalogOption, dataDirOption, iso, storageOption, withCatalog } from './cli/catalog-options.js';
import { addCredentialCommandGroups } from './cli/credential-commands.js';
import { DEFAULT_CONNECTION_CAPS } from './ingest/connection-guard.js';
import { DEFAULT_HOST_QUOTAS } from './ingest/hello.js';
import { openDumpStorage } from './storage/open-storage.js';
import { startReceiver } from './server.js';
import { checkRetentionPolicy, type RetentionPolicy } from './retention/policy.js';
import { planRetentionNow } from './retention/apply.js';
import { formatRetentionPlan, retentionPlanJson } from './retention/report.js';

export const DEFAULTS = {
  dataDir: DEFAULT_DATA_DIR,
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

function wholeNumber(name: string) {
  return (value: string) => {
    const n = Number(value);
    if (!Number.isSafeInteger(n) || n < 0) throw new InvalidArgumentError(`${name} must be a whole number (0 or more)`);
    return n;
  };
}

const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;

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
  .option('--partial-after <minutes>', 'an upload no connection has written to for this long is kept as a partial dump crash opens (0: never)', wholeNumber('--partial-after'), 15)
  .option('--storm-dumps <n>', 'crash storms: once a crash signature has N complete dumps within --storm-window, further senders with it send their first tier only (0: never)', wholeNumber('--storm-dumps'), 3)
  .option('--storm-window <minutes>', 'crash storms: the window --storm-dumps counts in', positiveInt('--storm-window'), 60)
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
      limits: {
        maxDumpBytes: opts.maxDumpBytes, maxChunkBytes: opts.maxChunkBytes, maxUploads: opts.maxUploads, minFreeBytes: opts.minFreeBytes,
        maxUploadsPerHost: opts.maxUploadsPerHost, maxUnfinishedPerHost: opts.maxUnfinishedPerHost,
      },
      checkpointChunks: opts.checkpointChunks,
      partialAfterMs: opts.partialAfter * 60_000,
      storm: { completeDumps: opts.stormDumps, windowMs: opts.stormWindow * 60_000 },
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
    logger.info({ tcp: receiver.tcpAddress, http: receiver.httpAddress, dataDir: path.resolve(opts.dataDir), storage: receiver.storage.description },
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
    const found = await withCatalog(opts, false, async (catalog) => {
      const matches = await catalog.find(id);
      return { count: matches.length, dump: matches.length === 1 ? await catalog.getWithTriage(matches[0].dumpId) : undefined };
    });
    if (!found.dump) {
      process.stderr.write(`kdump-receiver: ${found.count === 0 ? 'no dump' : 'more than one dump'} matches ${JSON.stringify(id)}\n`);
      process.exit(found.count > 1 ? 2 : 3);
    }
    // Only names where the dump is: opening the storage makes no request.
    const storage = openDumpStorage(opts.storage, path.resolve(opts.dataDir));
    process.stdout.write(`${showDump(found.dump.record, found.dump.triage, storage, opts.json ? 'json' : 'text')}\n`);
    await storage.close();
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
      const plan = await planRetentionNow(policy, { storage, catalog, uploads: { isAttached: () => false } })
        .finally(() => storage.close());
      process.stdout.write(opts.json ? `${JSON.stringify(retentionPlanJson(plan), null, 2)}\n` : `${formatRetentionPlan(plan)}\n`);
    });
  });

addCredentialCommandGroups(program);

program.parseAsync().catch((error) => {
  process.stderr.write(`kdump-receiver: ${(error as Error).message}\n`);
  process.exit(1);
});
