/**
 * kdump-send --check: the preflight run on the running host (by the
 * operator, or an install hook) before any crash. Prints one line per
 * finding and exits 0 when everything passes, otherwise with the exit code
 * of the first failure (sender/exit-codes.ts). With --json the lines go to
 * stderr and one JSON object to stdout.
 */
import os from 'node:os';
import { badInput, ErrorCode, toNetdumpError } from '../../shared/errors.js';
import type { SenderConfig } from '../config.js';
import { checkExitCode, fail, formatBytes, formatFinding, summaryLine, type Finding } from './findings.js';
import { findInitramfs, readHostFacts } from './host-facts.js';
import { receiverFindings } from './receivers.js';
import { payloadFindings, type PayloadEstimate } from './reservation.js';

export const CHECK_PARTS = ['all', 'payload', 'receivers'] as const;
export type CheckPart = (typeof CHECK_PARTS)[number];

export interface CheckOptions {
  /** --check's value: everything, only the reservation against the payload, or only the receivers. */
  what: string | true;
  json: boolean;
  /** --initrd: an image file, or a staging directory an install hook is building. */
  initrd?: string;
  /** The merged settings, as a real send reads them; throws on a bad config file. */
  settings: () => SenderConfig;
  /** Prefix of every sysfs/procfs/boot path read: for tests only (KDUMP_SEND_CHECK_ROOT). */
  root?: string;
  stdout?: (text: string) => void;
  stderr?: (text: string) => void;
}

export async function runCheck(options: CheckOptions): Promise<number> {
  const stdout = options.stdout ?? ((text: string) => process.stdout.write(text));
  const stderr = options.stderr ?? ((text: string) => process.stderr.write(text));
  const say = (line: string) => (options.json ? stderr : stdout)(`${line}\n`);
  const what = options.what === true ? 'all' : options.what;
  if (!(CHECK_PARTS as readonly string[]).includes(what)) {
    const error = badInput(`--check takes ${CHECK_PARTS.join(', ')} (or nothing, for all), not ${JSON.stringify(what)}`);
    stderr(`kdump-send: error ${error.code}: ${error.message}\n`);
    return checkExitCode([fail('--check', ErrorCode.BAD_INPUT, error.message)]);
  }
  const findings: Finding[] = [];
  let config: SenderConfig = {};
  try {
    config = options.settings();
  } catch (error) {
    findings.push(fail('config', ErrorCode.BAD_INPUT, toNetdumpError(error).message));
  }
  if (config.CHECK_AT_BUILD !== undefined && !['refuse', 'warn', 'off'].includes(config.CHECK_AT_BUILD)) {
    findings.push(fail('config', ErrorCode.BAD_INPUT, `CHECK_AT_BUILD must be refuse, warn or off, not ${JSON.stringify(config.CHECK_AT_BUILD)}`));
  }
  const hostId = config.HOST_ID ?? os.hostname();
  const root = options.root ?? (process.env.KDUMP_SEND_CHECK_ROOT || '/');
  const facts = readHostFacts(root);
  say(`kdump-send --check: host ${hostId}, kernel ${facts.kernelRelease}${facts.ramBytes ? `, ${formatBytes(facts.ramBytes)} of RAM` : ''}`);
  const show = (more: Finding[]) => {
    for (const finding of more) say(formatFinding(finding));
    findings.push(...more);
  };
  show(findings.splice(0));
  let estimate: PayloadEstimate | undefined;
  if (what !== 'receivers') {
    const payload = payloadFindings({ ...facts, initramfs: findInitramfs(root, facts.kernelRelease, options.initrd) });
    estimate = payload.estimate;
    show(payload.findings);
  }
  if (what !== 'payload') {
    show(await receiverFindings({ config, defaultHostId: os.hostname(), ramBytes: facts.ramBytes }));
  }
  const exitCode = checkExitCode(findings);
  say(summaryLine(findings, exitCode));
  if (options.json) {
    stdout(`${JSON.stringify({
      ok: exitCode === 0, exitCode, check: what,
      host: { hostId, kernelRelease: facts.kernelRelease, ramBytes: facts.ramBytes ?? null },
      ...(estimate && { estimate }),
      findings,
    })}\n`);
  }
  return exitCode;
}
