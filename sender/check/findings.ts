/**
 * What kdump-send --check found: one finding per line, each saying what is
 * fine or what to change, and the exit code they add up to. Pure.
 */
import { ErrorCode } from '../../shared/errors.js';
import { exitCodeFor } from '../exit-codes.js';

/** ok: checked and fine; note: a figure taken as given; warn: worth a look, does not fail; fail: fix it. */
export type FindingStatus = 'ok' | 'note' | 'warn' | 'fail';

export interface Finding {
  status: FindingStatus;
  /** What was looked at: "reservation", "initramfs", a receiver's URL, ... */
  topic: string;
  message: string;
  /** For a failure: the kind of trouble, which picks the exit code (sender/exit-codes.ts). */
  code?: ErrorCode;
  /** The figures behind it, for --json. */
  data?: Record<string, unknown>;
}

export const ok = (topic: string, message: string, data?: Finding['data']): Finding => ({ status: 'ok', topic, message, data });
export const note = (topic: string, message: string, data?: Finding['data']): Finding => ({ status: 'note', topic, message, data });
export const warn = (topic: string, message: string, data?: Finding['data']): Finding => ({ status: 'warn', topic, message, data });
export const fail = (topic: string, code: ErrorCode, message: string, data?: Finding['data']): Finding =>
  ({ status: 'fail', topic, message, code, data });

/** 0 when nothing failed; otherwise the exit code of the first failure, in the order they are printed. */
export function checkExitCode(findings: readonly Finding[]): number {
  const first = findings.find((f) => f.status === 'fail');
  return first ? exitCodeFor(first.code ?? ErrorCode.INTERNAL) : 0;
}

const LABEL: Record<FindingStatus, string> = { ok: 'ok', note: 'note', warn: 'warn', fail: 'FAIL' };

export function formatFinding(finding: Finding): string {
  return `${LABEL[finding.status].padEnd(4)}  ${finding.topic}: ${finding.message}`;
}

export function summaryLine(findings: readonly Finding[], exitCode: number): string {
  const count = (status: FindingStatus) => findings.filter((f) => f.status === status).length;
  const failed = count('fail');
  const warned = count('warn');
  const warnings = warned ? `, ${warned} warning${warned === 1 ? '' : 's'}` : '';
  const checks = findings.filter((f) => f.status !== 'note').length;
  return failed === 0
    ? `kdump-send --check: every check passed${warnings} (exit 0)`
    : `kdump-send --check: ${failed} of ${checks} check${checks === 1 ? '' : 's'} failed${warnings} (exit ${exitCode})`;
}

const MiB = 2 ** 20;
const GiB = 2 ** 30;

/** Sizes as people read them: MiB below 1 GiB, GiB from there. */
export function formatBytes(bytes: number): string {
  return bytes >= GiB ? `${(bytes / GiB).toFixed(1)} GiB` : `${(bytes / MiB).toFixed(1)} MiB`;
}

/** Text a peer sent, safe on a terminal: control characters shown as \xNN, bounded. */
export function peerText(text: string, max = 400): string {
  // eslint-disable-next-line no-control-regex
  const shown = text.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  return shown.length > max ? `${shown.slice(0, max)}...` : shown;
}
