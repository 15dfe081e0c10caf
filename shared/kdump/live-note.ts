/**
 * The note a stored live snapshot carries, so the file says what it is
 * wherever it is copied: an ELF note appended to the core's own notes in the
 * kdump header (after VMCOREINFO, whose offset stays), named "NETDUMP", its
 * text saying that the memory was read from a running kernel and is not
 * atomic, when, and why. crash and makedumpfile pass over notes they do not
 * know (they look for CORE/NT_PRSTATUS, VMCOREINFO and QEMU's).
 */
import type { LiveSnapshot } from '../protocol/messages.js';

export const LIVE_NOTE_NAME = 'NETDUMP';
/** 'LIVE' as a little-endian word. */
export const NT_NETDUMP_LIVE = 0x4556494c;

const align4 = (n: number) => (n + 3) & ~3;

/** The text of the note: one line per fact, the reason last (it is the operator's words). */
export function liveNoteText(live: LiveSnapshot): string {
  return `live snapshot of a running kernel (kdump-send --live): not atomic, memory was read while the kernel ran\n` +
    `taken at ${new Date(live.startedAtMs).toISOString()}\n` +
    `reason: ${live.reason}\n`;
}

/** The ELF note (namesz, descsz, type, name, desc, each padded to 4 bytes). */
export function encodeLiveNote(live: LiveSnapshot): Buffer {
  const name = Buffer.from(`${LIVE_NOTE_NAME}\0`, 'latin1');
  const desc = Buffer.from(liveNoteText(live), 'utf8');
  const out = Buffer.alloc(12 + align4(name.length) + align4(desc.length));
  out.writeUInt32LE(name.length, 0);
  out.writeUInt32LE(desc.length, 4);
  out.writeUInt32LE(NT_NETDUMP_LIVE, 8);
  name.copy(out, 12);
  desc.copy(out, 12 + align4(name.length));
  return out;
}
