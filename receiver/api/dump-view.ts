/**
 * The JSON shapes of docs/api.md, made from catalog rows. Pure: the same row
 * always gives the same JSON, which the UI and scripts rely on. The view
 * types are the contract: the web UI (receiver/web, `// @ts-check`) and the
 * CLI's `show` read these and nothing else, so each fact has one place: a
 * detail is its summary plus what only a detail carries.
 */
import path from 'node:path';
import { hasStoredFile, type DumpGroup, type DumpLevelRecord, type DumpRecord, type TriageRecord } from '../catalog/catalog.js';
import type { UploadInFlight } from '../ingest/uploads.js';

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

type Iso = string;

/** One dump in a list (GET /api/v1/dumps, a group's dumps). */
export interface DumpSummaryView {
  id: string;
  host: string;
  kernel: string | null;
  status: DumpRecord['status'];
  /**
   * 'crash', or 'live': a snapshot of a running kernel (kdump-send --live), read while it ran, so
   * not atomic; its crashTime is when it was taken, and it joins no crash's group.
   */
  kind: DumpRecord['kind'];
  /** A live snapshot's reason, as the operator gave it (peer text: shown as text); null for a crash. */
  liveReason: string | null;
  crashTime: Iso | null;
  receivedAt: Iso | null;
  finishedAt: Iso | null;
  vmcoreBytes: number;
  storedBytes: number;
  pages: { total: number; stored: number; zero: number };
  /** Why the dump is partial (status partial: pages.stored + pages.zero of pages.total arrived); null otherwise. */
  partialReason: DumpRecord['partialReason'];
  /** The sender's own words (peer text): shown as text. */
  dumpLevel: Pick<DumpLevelRecord, 'asked' | 'applied' | 'rules' | 'notes'>;
  failure: string | null;
  panicLine: string | null;
  /** The BUG/Oops line if there is one, else the panic line. */
  reason: string | null;
  signature: string | null;
  /** Why the kernel log could not be read, when it could not. */
  triageError: string | null;
  /**
   * Where the log that triage read came from: 'sender' when it arrived ahead
   * of the pages (a dump still receiving then says what panicked), 'dump'
   * when it was read from the stored dump, null before triage.
   */
  logSource: TriageRecord['logSource'];
}

/** One dump in full (GET /api/v1/dumps/ID): the summary, then what only a detail carries. */
export interface DumpDetailView extends DumpSummaryView {
  /** Where the file is now (its .incomplete while it arrives), or its s3:// URL. */
  path: string;
  buildId: string | null;
  /** Upload bytes received (compressed, as on the wire), resends included. */
  bytesIn: number;
  pageCodec: DumpRecord['pageCodec'];
  durationMs: number | null;
  /** What triage read beyond the summary's reason, panic line, signature and error. */
  triage: {
    bugLine: string | null;
    ripSymbol: string | null;
    callTrace: string[];
    signatureText: string | null;
    triagedAt: Iso | null;
  };
  /** The command that opens the dump, ready to paste; null until it is complete. */
  crashCommand: string | null;
  links: { file: string; elf: string; dmesg: string };
}

export interface GroupView {
  signature: string;
  signatureText: string | null;
  reason: string | null;
  panicLine: string | null;
  count: number;
  hosts: string[];
  kernels: string[];
  firstSeen: Iso | null;
  lastSeen: Iso | null;
  latestDumpId: string;
}

export interface UploadView {
  id: string;
  host: string;
  kernel: string | null;
  peer: string;
  startedAt: Iso | null;
  pagesTotal: number;
  pagesDone: number;
  bytesIn: number;
  fraction: number;
  bytesPerSecond: number;
}

export function dumpSummary(record: DumpRecord, triage: TriageRecord): DumpSummaryView {
  return {
    id: record.dumpId,
    host: record.hostId,
    kernel: record.osRelease,
    status: record.status,
    kind: record.kind,
    liveReason: record.kind === 'live' ? record.liveReason ?? '' : null,
    crashTime: record.crashTime === null ? null : iso(record.crashTime * 1000),
    receivedAt: iso(record.receivedAt),
    finishedAt: iso(record.finishedAt),
    vmcoreBytes: record.vmcoreSize,
    storedBytes: record.bytesStored,
    pages: { total: record.pagesTotal, stored: record.pagesStored, zero: record.pagesZero },
    partialReason: record.status === 'partial' ? record.partialReason : null,
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
    logSource: triage.logSource,
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
  // Partial dumps too: crash opens them, and warns that they are incomplete.
  if (!hasStoredFile(record.status)) return null;
  const release = record.osRelease !== null && PLAUSIBLE_RELEASE.test(record.osRelease) ? record.osRelease : 'RELEASE';
  return ['crash', `/usr/lib/debug/boot/vmlinux-${release}`, file].map(shellArgument).join(' ');
}

/**
 * `where.location`: where the dump is kept for people (DumpStorage.locationOf);
 * `where.filePath`: the file on this machine that holds it now
 * (DumpStorage.filePath), for crash to open; without one, the command names
 * the file as downloaded from links.file.
 */
export function dumpDetail(record: DumpRecord, triage: TriageRecord, where: { location: string; filePath?: string }): DumpDetailView {
  const base = `/api/v1/dumps/${record.dumpId}`;
  return {
    ...dumpSummary(record, triage),
    path: where.filePath ?? where.location,
    buildId: record.buildId,
    bytesIn: record.bytesIn,
    pageCodec: record.pageCodec,
    durationMs: record.durationMs,
    triage: {
      bugLine: triage.bugLine,
      ripSymbol: triage.ripSymbol,
      callTrace: triage.callTrace ?? [],
      signatureText: triage.signatureText,
      triagedAt: iso(triage.triagedAt),
    },
    crashCommand: crashCommand(record, where.filePath ?? downloadName(record, '.kdump')),
    links: { file: `${base}/file`, elf: `${base}/elf`, dmesg: `${base}/dmesg` },
  };
}

export function groupView(group: DumpGroup): GroupView {
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

export function uploadView(upload: UploadInFlight, now: number): UploadView {
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
