/**
 * The JSON shapes of docs/api.md, made from catalog rows. Pure: the same row
 * always gives the same JSON, which the UI and scripts rely on.
 */
import path from 'node:path';
import type { DumpGroup, DumpRecord, TriageRecord } from '../catalog/catalog.js';
import type { UploadInFlight } from '../ingest/uploads.js';

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

export function dumpSummary(record: DumpRecord, triage: TriageRecord) {
  return {
    id: record.dumpId,
    host: record.hostId,
    kernel: record.osRelease,
    status: record.status,
    crashTime: record.crashTime === null ? null : iso(record.crashTime * 1000),
    receivedAt: iso(record.receivedAt),
    finishedAt: iso(record.finishedAt),
    vmcoreBytes: record.vmcoreSize,
    storedBytes: record.bytesStored,
    pages: { total: record.pagesTotal, stored: record.pagesStored, zero: record.pagesZero },
    // The sender's own words (peer text): clients show it as text.
    dumpLevel: {
      asked: record.dumpLevel.asked,
      applied: record.dumpLevel.applied,
      rules: record.dumpLevel.rules,
      notes: record.dumpLevel.notes,
    },
    failure: record.failure,
    panicLine: triage.panicLine,
    reason: triage.reason,
    signature: triage.signature,
    triageError: triage.error,
  };
}

/**
 * A kernel release as uname prints it (utsname's release is 64 bytes at most).
 * OSRELEASE comes from the dump's VMCOREINFO, which the sender controls:
 * anything else is not named in a command an operator pastes.
 */
const PLAUSIBLE_RELEASE = /^[A-Za-z0-9][A-Za-z0-9._+~-]{0,63}$/;

/** One argument for a POSIX shell: as is when it has nothing a shell reads, else single-quoted. */
export function shellArgument(text: string): string {
  return /^[A-Za-z0-9_./:=@%+,-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`;
}

/**
 * The command an engineer pastes to open the dump (Debian's and Fedora's debug
 * vmlinux live under /usr/lib/debug/boot): every argument quoted for the
 * shell, and RELEASE in place of a release that is not one. `file` is where
 * crash opens the dump; null for a dump that is not complete.
 */
export function crashCommand(record: DumpRecord, file: string): string | null {
  if (record.status !== 'complete') return null;
  const release = record.osRelease !== null && PLAUSIBLE_RELEASE.test(record.osRelease) ? record.osRelease : 'RELEASE';
  return ['crash', `/usr/lib/debug/boot/vmlinux-${release}`, file].map(shellArgument).join(' ');
}

/**
 * `where.location`: where the dump is kept (a local path, an s3:// URL);
 * `where.local`: whether crash can open it there, else the command names the
 * file as downloaded from links.file.
 */
export function dumpDetail(record: DumpRecord, triage: TriageRecord, where: { location: string; local: boolean }) {
  const absolutePath = where.location + (where.local && record.status !== 'complete' ? '.incomplete' : '');
  const base = `/api/v1/dumps/${record.dumpId}`;
  return {
    ...dumpSummary(record, triage),
    path: absolutePath,
    buildId: record.buildId,
    pageCodec: record.pageCodec,
    durationMs: record.durationMs,
    triage: {
      panicLine: triage.panicLine,
      bugLine: triage.bugLine,
      ripSymbol: triage.ripSymbol,
      callTrace: triage.callTrace ?? [],
      reason: triage.reason,
      signature: triage.signature,
      signatureText: triage.signatureText,
      error: triage.error,
      triagedAt: iso(triage.triagedAt),
    },
    crashCommand: crashCommand(record, where.local ? absolutePath : downloadName(record, '.kdump')),
    links: { file: `${base}/file`, elf: `${base}/elf`, dmesg: `${base}/dmesg` },
  };
}

export function groupView(group: DumpGroup) {
  return {
    signature: group.signature,
    signatureText: group.signatureText,
    reason: group.reason,
    panicLine: group.panicLine,
    count: group.count,
    hosts: group.hosts,
    kernels: group.kernels,
    firstSeen: iso(group.firstSeenMs),
    lastSeen: iso(group.lastSeenMs),
    latestDumpId: group.latestDumpId,
  };
}

export function uploadView(upload: UploadInFlight, now: number) {
  const seconds = Math.max((now - upload.attachedAt) / 1000, 0.001);
  return {
    id: upload.dumpId,
    host: upload.hostId,
    kernel: upload.osRelease,
    peer: upload.peer,
    startedAt: iso(upload.attachedAt),
    pagesTotal: upload.pagesTotal,
    pagesDone: upload.pagesDone,
    bytesIn: upload.bytesIn,
    fraction: upload.pagesTotal === 0 ? 1 : upload.pagesDone / upload.pagesTotal,
    bytesPerSecond: Math.round((upload.bytesIn - upload.bytesInAtAttach) / seconds),
  };
}

/** A file name for downloads: host and crash time, no characters browsers or shells trip on. */
export function downloadName(record: DumpRecord, suffix: string): string {
  const folder = path.basename(path.dirname(record.path));
  return `${record.hostId}-${folder}`.replace(/[^A-Za-z0-9._-]/g, '-') + suffix;
}
