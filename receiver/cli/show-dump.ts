/**
 * `kdump-receiver show`: one dump as the API's detail view (api/dump-view.ts)
 * shows it, as text rows or as that same JSON. Built from the view, never
 * from the row, so the CLI, the API and the web UI cannot tell a dump apart.
 */
import { hasStoredFile, levelLowered } from '../catalog/catalog.js';
import type { DumpRecord, TriageRecord } from '../catalog/catalog.js';
import { downloadName, dumpDetail, type DumpDetailView } from '../api/dump-view.js';
import type { DumpStorage } from '../storage/dump-storage.js';
import { escapeControls, jsonForTerminal } from './terminal-text.js';

/** The dump as `show` prints it, where `storage` keeps it (opening nothing: only names are asked). */
export function showDump(record: DumpRecord, triage: TriageRecord, storage: DumpStorage, format: 'text' | 'json'): string {
  const filePath = storage.filePath(record.path, { finished: hasStoredFile(record.status) });
  const view = dumpDetail(record, triage, { location: storage.locationOf(record.path), filePath });
  return format === 'json' ? jsonForTerminal(view) : dumpText(view, filePath ? undefined : downloadName(record, '.kdump'));
}

const when = (iso: string | null) => (iso === null ? '-' : iso.replace('.000Z', 'Z'));
const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;

/** "31", or "1 (asked 31, lowered: see level notes)" when the sender applied less. */
function levelText(level: DumpDetailView['dumpLevel']): string {
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

/** The command as the view has it; where it opens a downloaded file, also where that file comes from. */
function openWith(view: DumpDetailView, downloadedAs: string | undefined): string {
  if (view.crashCommand === null) return '-';
  return downloadedAs ? `${view.crashCommand} (${downloadedAs}: GET ${view.links.file})` : view.crashCommand;
}

/**
 * Label-value rows; values come from the sender (kernel, notes, log lines),
 * so no control character reaches the terminal. `downloadedAs`: the file
 * the crash command names, when the dump must be downloaded to open it.
 */
export function dumpText(view: DumpDetailView, downloadedAs?: string): string {
  const rows: Array<[string, string | number | null]> = [
    ['dump id', view.id],
    ['host', view.host],
    ['status', view.status + (view.failure ? ` (${view.failure})` : '')],
    ...(view.kind === 'live'
      ? [['kind', 'live snapshot of a running kernel (not atomic: read while it ran)'], ['live reason', view.liveReason || '-']] as Array<[string, string]>
      : [['kind', 'crash']] as Array<[string, string]>),
    ['kernel', view.kernel],
    ['build id', view.buildId],
    [view.kind === 'live' ? 'taken at' : 'crashed at', when(view.crashTime)],
    ['received at', when(view.receivedAt)],
    ['finished at', when(view.finishedAt)],
    ['duration', view.durationMs === null ? '-' : `${(view.durationMs / 1000).toFixed(2)} s`],
    ['vmcore size', mb(view.vmcoreBytes)],
    ['bytes in', mb(view.bytesIn)],
    ['bytes stored', mb(view.storedBytes)],
    ['pages', `${view.pages.total} total, ${view.pages.zero} zero, ${view.pages.stored} stored`],
    ['page codec', view.pageCodec],
    ['dump level', levelText(view.dumpLevel)],
    ['page rules', rulesText(view.dumpLevel.rules)],
    ...noteRows(view.dumpLevel.notes),
    ['reason', view.reason ?? (view.triageError ? `- (${view.triageError})` : '-')],
    ['signature', view.signature],
    ['path', view.path],
    ['open with', openWith(view, downloadedAs)],
  ];
  return rows.map(([k, v]) => `${k.padEnd(13)} ${escapeControls(String(v ?? '-'))}`).join('\n');
}
