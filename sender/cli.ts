#!/usr/bin/env node
/**
 * kdump-send: stream a kernel crash dump to a kdump-receiver.
 * Runs in the capture kernel; prints plain progress lines on stderr and
 * exits with a code the calling script can act on (sender/exit-codes.ts).
 * Settings: /etc/kdump-send.conf (or --config), KDUMP_SEND_* variables, flags.
 */
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { Command, InvalidArgumentError } from 'commander';
import { badInput, ErrorCode, NetdumpError, toNetdumpError } from '../shared/errors.js';
import { configFromEnv, parseConfig, positiveSetting, splitServers, type SenderConfig } from './config.js';
import { readCredentials } from './credentials.js';
import { ExitCode, exitCodeFor } from './exit-codes.js';
import { computeExclusion, dumpLevelReport, type Exclusion } from './dump-level/exclusion.js';
import { availableMemory, DEFAULT_PLAN, planMemory } from './memory-budget.js';
import { LineProgress } from './progress.js';
import { parseServerUrl } from './transport.js';
import { upload, SENDER_VERSION } from './upload.js';
import { VmcoreSource } from './vmcore-source.js';
import { captureKernelLog } from './kernel-log.js';
import { chooseFirstTier } from './first-tier.js';
import { DEFAULT_LZ4_ACCELERATION, MAX_LZ4_ACCELERATION } from './chunk-encoder-native.js';
import { LIVE_REASON_MAX_CHARS, type LiveSnapshot } from '../shared/protocol/messages.js';
import { parseRate, ReadRate } from './live/read-rate.js';

const DEFAULT_CONFIG = '/etc/kdump-send.conf';

/** What to do, for the operator reading the console of a machine about to reboot. */
const HINTS: Partial<Record<ErrorCode, string>> = {
  UNAVAILABLE: 'check that the capture kernel brings the network up and that SERVERS / --server point at a running kdump-receiver',
  AUTH: 'enrol this host on the receiver (kdump-receiver token add HOST) and check TOKEN_FILE, CA_FILE and the client certificate',
  LIMIT: 'the receiver is out of space or limits; free disk there, or set FALLBACK_DIR',
};

const program = new Command()
  .name('kdump-send')
  .description('Stream a kernel crash dump (/proc/vmcore) to a kdump-receiver')
  .version(SENDER_VERSION)
  .argument('[vmcore]', 'ELF core to send (default /proc/vmcore; with --live, /proc/kcore)')
  .option('--config <file>', `settings file (KEY=VALUE lines; default ${DEFAULT_CONFIG} when it exists)`)
  .option('--server <url>', 'a receiver: tcp://HOST:PORT, tls://HOST:PORT, ws://HOST:PORT/PATH or wss://HOST:PORT/PATH; ' +
    'repeat (or separate with commas) for fallbacks in order of preference', (url: string, earlier: string[] = []) => [...earlier, url])
  .option('--host-id <name>', 'name this host is filed under (default: the hostname)')
  .option('--token-file <path>', 'file holding this host\'s upload token')
  .option('--ca-file <path>', 'PEM CA that signs the receivers\' certificates (tls://, wss://); default: the system\'s CAs')
  .option('--client-cert <path>', 'PEM client certificate, for receivers that require mutual TLS')
  .option('--client-key <path>', 'PEM key of --client-cert')
  .option('--fallback-dir <dir>', 'when no receiver takes the dump, save it here (kdump-compressed)')
  .option('--log-only', 'send the kernel log and the first tier (what crash needs to open the dump: kernel image, page tables, stacks), then stop; kept as a partial dump')
  .option('--live', 'snapshot the RUNNING kernel from /proc/kcore instead (root; nothing is stopped, so the snapshot is not atomic): ' +
    'for a hung service, a leak or a livelock, without a panic. Runs at nice 19; catalogued as live, apart from crashes')
  .option('--reason <text>', `with --live: why it was taken, kept in the catalog (at most ${LIVE_REASON_MAX_CHARS} characters)`)
  .option('--max-rate <bytes>', 'with --live: read memory at most this fast, per second (K, M, G suffixes: 50M); default unbounded')
  .option('--dump-level <n>', 'makedumpfile -d bits: 1 zero, 2 cache, 4 cache with private, 8 user, 16 free pages (default 31)')
  .option('--chunk-pages <n>', `pages per chunk (default ${DEFAULT_PLAN.chunkPages}, fewer when memory is low)`)
  .option('--mmap <when>', 'read the vmcore through mmap: auto (default: /proc/vmcore only), yes, or no (makedumpfile --non-mmap)')
  .option('--stored-pages <when>', 'auto (default): send pages compressed as the receiver stores them when it takes them; no: always lz4')
  .option('--lz4-acceleration <n>', `lz4 acceleration on the wire, 1 (lz4's default) to ${MAX_LZ4_ACCELERATION} (default ${DEFAULT_LZ4_ACCELERATION}): CPU against bytes sent`)
  .option('--connect-timeout <s>', 'seconds to wait for a connection (default 10)')
  .option('--reply-timeout <s>', 'seconds to wait for an answer from a receiver (default 120)')
  .option('--deadline <s>', 'seconds to keep trying receivers before giving up or falling back (default 600)')
  .option('--progress-interval <s>', 'seconds between progress lines', (value: string) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1 || n > 3600) throw new InvalidArgumentError('--progress-interval must be an integer from 1 to 3600');
    return n;
  }, 3)
  .option('--quiet', 'no progress lines')
  .option('--check [part]', 'preflight on the running host, before any crash: does the capture side fit the crashkernel reservation ' +
    '(payload), do the receivers answer and take this host\'s token (receivers); default both. Exit 0 when everything passes')
  .option('--initrd <path>', 'with --check: the capture initramfs (default: the kdump tools\' own), or the staging tree an install hook is building')
  .option('--json', 'with --check: the findings as one JSON object on stdout (the lines go to stderr)')
  .exitOverride((error) => process.exit(error.exitCode === 0 ? 0 : ExitCode.BAD_INPUT));

/** A file's text, or '' when it cannot be read (not Linux, no /proc). */
function readTextOr(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

function readFileSetting(what: string, path: string | undefined): Buffer | undefined {
  if (!path) return undefined;
  try {
    return readFileSync(path);
  } catch (error) {
    throw badInput(`cannot read ${what} ${path}: ${(error as Error).message}`);
  }
}

/** A yes/no setting; absent is no. */
function yesNo(key: 'LOG_ONLY', value: string | undefined): boolean {
  if (value === undefined || value === '' || /^(no|0|false)$/i.test(value)) return false;
  if (/^(yes|1|true)$/i.test(value)) return true;
  throw badInput(`${key} must be yes or no, not ${JSON.stringify(value)}`);
}

/** MMAP: undefined for auto (VmcoreSource maps /proc/vmcore alone), else whether to map. */
function mmapSetting(value: string | undefined): boolean | undefined {
  if (value === undefined || value === '' || /^auto$/i.test(value)) return undefined;
  if (/^(yes|no)$/i.test(value)) return /^yes$/i.test(value);
  throw badInput(`MMAP (--mmap) must be auto, yes or no, not ${JSON.stringify(value)}`);
}

/** STORED_PAGES: whether stored pages may be sent (to a receiver that takes them). */
function storedPagesSetting(value: string | undefined): boolean {
  if (value === undefined || value === '' || /^auto$/i.test(value)) return true;
  if (/^no$/i.test(value)) return false;
  throw badInput(`STORED_PAGES (--stored-pages) must be auto or no, not ${JSON.stringify(value)}`);
}

/** Config file, then environment, then flags: later ones win. */
function settings(opts: Record<string, unknown>): SenderConfig {
  const file = (opts.config as string | undefined) ?? (existsSync(DEFAULT_CONFIG) ? DEFAULT_CONFIG : undefined);
  const fromFile = file ? parseConfig(readFileSetting('config file', file)!.toString('utf8'), file) : {};
  const fromFlags: SenderConfig = {
    SERVERS: (opts.server as string[] | undefined)?.join(' '),
    HOST_ID: opts.hostId as string | undefined,
    TOKEN_FILE: opts.tokenFile as string | undefined,
    CA_FILE: opts.caFile as string | undefined,
    CLIENT_CERT: opts.clientCert as string | undefined,
    CLIENT_KEY: opts.clientKey as string | undefined,
    FALLBACK_DIR: opts.fallbackDir as string | undefined,
    CHUNK_PAGES: opts.chunkPages as string | undefined,
    LZ4_ACCELERATION: opts.lz4Acceleration as string | undefined,
    STORED_PAGES: opts.storedPages as string | undefined,
    MMAP: opts.mmap as string | undefined,
    DUMP_LEVEL: opts.dumpLevel as string | undefined,
    LOG_ONLY: opts.logOnly ? 'yes' : undefined,
    CONNECT_TIMEOUT: opts.connectTimeout as string | undefined,
    REPLY_TIMEOUT: opts.replyTimeout as string | undefined,
    DEADLINE: opts.deadline as string | undefined,
  };
  const merged: SenderConfig = { ...fromFile, ...configFromEnv(process.env) };
  for (const [key, value] of Object.entries(fromFlags)) if (value !== undefined) merged[key as keyof SenderConfig] = value;
  return merged;
}

/** --live, --reason and --max-rate, checked together: the last two mean nothing without the first. */
function liveSettings(opts: Record<string, unknown>): { snapshot: Omit<LiveSnapshot, 'startedAtMs'>; rate?: ReadRate; startedAtMs: number } | undefined {
  const reason = opts.reason as string | undefined;
  const maxRate = opts.maxRate as string | undefined;
  if (!opts.live) {
    if (reason !== undefined || maxRate !== undefined) throw badInput(`${reason !== undefined ? '--reason' : '--max-rate'} goes with --live`);
    return undefined;
  }
  if (reason !== undefined && reason.length > LIVE_REASON_MAX_CHARS) throw badInput(`--reason is ${reason.length} characters; at most ${LIVE_REASON_MAX_CHARS}`);
  let rate: ReadRate | undefined;
  if (maxRate !== undefined) {
    const bytes = parseRate(maxRate);
    if (bytes === undefined) throw badInput(`--max-rate must be bytes per second, at least 4096, with an optional K, M or G (50M), not ${JSON.stringify(maxRate)}`);
    rate = new ReadRate(bytes);
  }
  return { snapshot: { reason: reason ?? '' }, rate, startedAtMs: Date.now() };
}

async function main(): Promise<number> {
  program.parse();
  const opts = program.opts();
  if (opts.check) {
    const { runCheck } = await import('./check/run.js');
    return runCheck({ what: opts.check, json: Boolean(opts.json), initrd: opts.initrd, settings: () => settings(opts) });
  }
  const givenPath = (program.processedArgs as [string | undefined])[0];
  let live: ReturnType<typeof liveSettings>;
  let vmcorePath = givenPath ?? '/proc/vmcore';
  const say = (line: string) => process.stderr.write(`${line}\n`);
  let source: VmcoreSource | undefined;
  let config: SenderConfig = {};
  let hostId = os.hostname();
  let chunkPages: number = DEFAULT_PLAN.chunkPages;
  let exclusion: Exclusion | undefined;
  try {
    live = liveSettings(opts);
    if (live) vmcorePath = givenPath ?? '/proc/kcore';
    config = settings(opts);
    const servers = splitServers(config.SERVERS ?? '').map(parseServerUrl);
    if (servers.length === 0 && !config.FALLBACK_DIR) {
      throw badInput('no receiver given: pass --server URL, or set SERVERS in the config file or KDUMP_SEND_SERVERS');
    }
    hostId = config.HOST_ID ?? hostId;
    const memory = planMemory(availableMemory(readTextOr('/proc/meminfo')), config.CHUNK_PAGES ? positiveSetting('CHUNK_PAGES', config.CHUNK_PAGES, 1024) : undefined);
    chunkPages = memory.chunkPages;
    const dumpLevel = config.DUMP_LEVEL === undefined ? 31 : Number(config.DUMP_LEVEL);
    if (!Number.isInteger(dumpLevel) || dumpLevel < 0 || dumpLevel > 31) {
      throw badInput(`DUMP_LEVEL (--dump-level) must be an integer from 0 to 31, not ${JSON.stringify(config.DUMP_LEVEL)}`);
    }
    const lz4Acceleration = config.LZ4_ACCELERATION ? positiveSetting('LZ4_ACCELERATION', config.LZ4_ACCELERATION, MAX_LZ4_ACCELERATION) : undefined;
    const { token, tls, problems } = readCredentials(config);
    const stop = problems.find((p) => p.stopsSend);
    if (stop) throw badInput(stop.message);
    const seconds = (key: 'CONNECT_TIMEOUT' | 'REPLY_TIMEOUT' | 'DEADLINE', fallback: number) =>
      (config[key] ? positiveSetting(key, config[key]!, 86_400) : fallback) * 1000;
    if (live) {
      if (existsSync('/proc/vmcore')) throw badInput('/proc/vmcore exists: this is a capture kernel, whose crash dump is the thing to send (drop --live)');
      if (mmapSetting(config.MMAP) === true) throw badInput('MMAP=yes (--mmap yes) does not apply to --live: /proc/kcore is read with read()');
      source = VmcoreSource.openLive(vmcorePath);
      // A guest on a running host: its work first. Memory bandwidth is what --max-rate bounds.
      try { os.setPriority(19); } catch { /* an unprivileged nice is no reason to stop */ }
      say(`kdump-send: live snapshot of the running kernel: not atomic (memory changes while it is read), nothing written locally, nice 19` +
        `${live.rate ? `, memory read at most ${(live.rate.bytesPerSecond / 2 ** 20).toFixed(1)} MiB/s` : ''}${live.snapshot.reason ? `; reason: ${live.snapshot.reason}` : ''}`);
    } else {
      source = VmcoreSource.open(vmcorePath, { mapped: mmapSetting(config.MMAP) });
    }
    const { core } = source;
    say(`kdump-send: ${vmcorePath}: ${core.vmcoreinfo.osRelease ?? 'unknown kernel'}, ${(source.size / 1e6).toFixed(1)} MB, ` +
      `${core.pageMap.totalPages} pages of ${core.pageSize} bytes; sending to ${servers.map((s) => s.url).join(', ') || 'nobody'} as ${hostId}`);
    say(`kdump-send: ${memory.line}`);
    // Before the dump-level pass: on a large machine the pass takes seconds, the log milliseconds.
    const kernelLog = await captureKernelLog(source);
    if ('error' in kernelLog) say(`kdump-send: warning: kernel log not read, so not sent ahead of the pages: ${kernelLog.error}`);
    const excludeStarted = Date.now();
    exclusion = computeExclusion(source, dumpLevel);
    for (const warning of exclusion.warnings) say(`kdump-send: warning: ${warning}`);
    const left = Object.entries(exclusion.excluded).filter(([, n]) => n > 0).map(([why, n]) => `${why} ${n}`).join(', ');
    const judged = exclusion.generation ? `, pages judged by the ${exclusion.generation} rules` : '';
    say(`kdump-send: dump level ${exclusion.level}${exclusion.level === dumpLevel ? '' : ` (asked ${dumpLevel}, lowered: see the warnings)`}${judged}: keeping ${exclusion.dumpablePages} of ${core.pageMap.totalPages} pages` +
      `${left ? ` (left out: ${left})` : ''}, decided in ${((Date.now() - excludeStarted) / 1000).toFixed(2)} s`);
    const logOnly = yesNo('LOG_ONLY', config.LOG_ONLY);
    const kept = exclusion.dumpablePages !== core.pageMap.totalPages ? exclusion.dumpable : core.pageMap.extents;
    const firstTier = chooseFirstTier(source, kept, 'error' in kernelLog ? [] : kernelLog.pfns ?? [], exclusion.structPageTier);
    if (firstTier.pages > 0) {
      const why = Object.entries(firstTier.parts).filter(([, n]) => n > 0).map(([part, n]) => `${part} ${n}`).join(', ');
      say(`kdump-send: first tier: ${firstTier.pages} pages (${(100 * firstTier.pages / exclusion.dumpablePages).toFixed(1)}% of those kept: ${why}) go ahead of the rest`);
    }
    if (servers.length === 0) throw new NetdumpError(ErrorCode.UNAVAILABLE, 'no receiver configured');
    const result = await upload(source, {
      servers,
      tls,
      hostId,
      token,
      chunkPages,
      lz4Acceleration,
      storedPages: storedPagesSetting(config.STORED_PAGES),
      dumpLevel: exclusion.level,
      dumpable: exclusion.dumpablePages !== core.pageMap.totalPages ? exclusion.dumpable : undefined,
      dumpLevelReport: dumpLevelReport(exclusion),
      firstTier: firstTier.runs,
      logOnly,
      connectTimeoutMs: seconds('CONNECT_TIMEOUT', 10),
      replyTimeoutMs: seconds('REPLY_TIMEOUT', 120),
      deadlineMs: seconds('DEADLINE', 600),
      framesInFlight: memory.framesInFlight,
      kernelLog: 'error' in kernelLog ? undefined : kernelLog,
      live: live && { ...live.snapshot, startedAtMs: live.startedAtMs },
      readRate: live?.rate,
      progress: opts.quiet ? undefined : new LineProgress(say, opts.progressInterval * 1000),
      log: (line) => say(`kdump-send: ${line}`),
    });
    if (result.partial) say(`kdump-send: kept partial, as asked: ${result.partial.why} (${result.partial.chunksSent} of ${result.chunks} chunks sent)`);
    say(`kdump-send: ${result.partial ? 'partial dump ' : ''}stored by ${result.server} as ${result.path} (${(result.storedBytes / 1e6).toFixed(1)} MB stored, ` +
      `${result.zeroPages} zero pages elided, ${result.attempts} attempt${result.attempts === 1 ? '' : 's'}, ` +
      `peak RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(1)} MB)`);
    process.stdout.write(`${JSON.stringify(result)}\n`);
    return ExitCode.STORED;
  } catch (error) {
    const failure: NetdumpError = toNetdumpError(error);
    say(`kdump-send: error ${failure.code}: ${failure.message}${HINTS[failure.code] ? ` (${HINTS[failure.code]})` : ''}`);
    const code = exitCodeFor(failure.code);
    if (!source || !config.FALLBACK_DIR || code === ExitCode.BAD_INPUT) return code;
    if (live) {
      say(`kdump-send: a live snapshot is not saved to FALLBACK_DIR: nothing is written on a running host; take it again when a receiver answers`);
      return code;
    }
    try {
      say(`kdump-send: no receiver took the dump; saving it to ${config.FALLBACK_DIR}`);
      // Loaded only when needed: the fallback's stored-page codec (lzo) is a native addon to open.
      const { saveLocally } = await import('./local-fallback.js');
      const saved = await saveLocally(source, config.FALLBACK_DIR, hostId, chunkPages, exclusion);
      say(`kdump-send: saved locally as ${saved.path} (${(saved.storedBytes / 1e6).toFixed(1)} MB)`);
      process.stdout.write(`${JSON.stringify({ savedLocally: saved.path, storedBytes: saved.storedBytes })}\n`);
      return ExitCode.SAVED_LOCALLY;
    } catch (fallbackError) {
      say(`kdump-send: local save failed too: ${toNetdumpError(fallbackError).message}`);
      return code;
    }
  } finally {
    source?.close();
  }
}

main().then((code) => process.exit(code));
