#!/usr/bin/env node
/**
 * kdump-send: stream a kernel crash dump to a kdump-receiver.
 * Runs in the capture kernel; prints plain progress lines on stderr and
 * exits with a code the calling script can act on (sender/exit-codes.ts).
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { Command, InvalidArgumentError } from 'commander';
import { badInput, NetdumpError, toNetdumpError } from '../shared/errors.js';
import { ExitCode, exitCodeFor } from './exit-codes.js';
import { LineProgress } from './progress.js';
import { parseServerUrl } from './transport.js';
import { upload, SENDER_VERSION } from './upload.js';
import { VmcoreSource } from './vmcore-source.js';

function positiveInt(name: string, max: number) {
  return (value: string) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1 || n > max) throw new InvalidArgumentError(`${name} must be an integer from 1 to ${max}`);
    return n;
  };
}

function readPem(what: string, path: string | undefined): Buffer | undefined {
  if (!path) return undefined;
  try {
    return readFileSync(path);
  } catch (error) {
    throw badInput(`cannot read ${what} ${path}: ${(error as Error).message}`);
  }
}

function readToken(path: string | undefined): string | undefined {
  if (!path) return undefined;
  try {
    return readFileSync(path, 'utf8').trim();
  } catch (error) {
    throw badInput(`cannot read token file ${path}: ${(error as Error).message}`);
  }
}

const program = new Command()
  .name('kdump-send')
  .description('Stream a kernel crash dump (/proc/vmcore) to a kdump-receiver')
  .version(SENDER_VERSION)
  .argument('[vmcore]', 'ELF core to send', '/proc/vmcore')
  .requiredOption('--server <url>', 'receiver: tcp://HOST:PORT, tls://HOST:PORT, ws://HOST:PORT/PATH or wss://HOST:PORT/PATH')
  .option('--host-id <name>', 'name this host is filed under', os.hostname())
  .option('--token-file <path>', 'file holding this host\'s upload token')
  .option('--ca-file <path>', 'PEM CA that signs the receiver\'s certificate (tls://, wss://); default: the system\'s CAs')
  .option('--client-cert <path>', 'PEM client certificate, for receivers that require mutual TLS')
  .option('--client-key <path>', 'PEM key of --client-cert')
  .option('--chunk-pages <n>', 'pages per chunk', positiveInt('--chunk-pages', 1024), 64)
  .option('--connect-timeout <s>', 'seconds to wait for a connection', positiveInt('--connect-timeout', 3600), 10)
  .option('--reply-timeout <s>', 'seconds to wait for an answer from the receiver', positiveInt('--reply-timeout', 3600), 120)
  .option('--deadline <s>', 'give up retrying after this many seconds', positiveInt('--deadline', 86400), 600)
  .option('--progress-interval <s>', 'seconds between progress lines', positiveInt('--progress-interval', 3600), 3)
  .option('--quiet', 'no progress lines')
  .exitOverride((error) => process.exit(error.exitCode === 0 ? 0 : ExitCode.BAD_INPUT));

async function main(): Promise<number> {
  program.parse();
  const opts = program.opts();
  const [vmcorePath] = program.processedArgs as [string];
  const say = (line: string) => process.stderr.write(`${line}\n`);
  try {
    const server = parseServerUrl(opts.server);
    const token = readToken(opts.tokenFile);
    if (Boolean(opts.clientCert) !== Boolean(opts.clientKey)) throw badInput('--client-cert and --client-key go together');
    const tls = { ca: readPem('--ca-file', opts.caFile), cert: readPem('--client-cert', opts.clientCert), key: readPem('--client-key', opts.clientKey) };
    const source = VmcoreSource.open(vmcorePath);
    const { core } = source;
    say(`kdump-send: ${vmcorePath}: ${core.vmcoreinfo.osRelease ?? 'unknown kernel'}, ${(source.size / 1e6).toFixed(1)} MB, ` +
      `${core.pageMap.totalPages} pages of ${core.pageSize} bytes; sending to ${server.url} as ${opts.hostId}`);
    const result = await upload(source, {
      server,
      tls,
      hostId: opts.hostId,
      token,
      chunkPages: opts.chunkPages,
      connectTimeoutMs: opts.connectTimeout * 1000,
      replyTimeoutMs: opts.replyTimeout * 1000,
      deadlineMs: opts.deadline * 1000,
      framesInFlight: 4,
      progress: opts.quiet ? undefined : new LineProgress(say, opts.progressInterval * 1000),
      log: (line) => say(`kdump-send: ${line}`),
    });
    source.close();
    say(`kdump-send: stored as ${result.path} (${(result.storedBytes / 1e6).toFixed(1)} MB stored, ` +
      `${result.zeroPages} zero pages elided, ${result.attempts} attempt${result.attempts === 1 ? '' : 's'}, ` +
      `peak RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(1)} MB)`);
    process.stdout.write(`${JSON.stringify(result)}\n`);
    return ExitCode.STORED;
  } catch (error) {
    const failure: NetdumpError = toNetdumpError(error);
    say(`kdump-send: error ${failure.code}: ${failure.message}`);
    return exitCodeFor(failure.code);
  }
}

main().then((code) => process.exit(code));
