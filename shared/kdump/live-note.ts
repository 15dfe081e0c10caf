/**
 * The note a stored live snapshot carries, so the file says what it is
 * wherever it is copied: an ELF note appended to the core's own notes in the
 * kdump header (after VMCOREINFO, whose offset stays), named "NETDUMP", its
 * text saying that the memory was read from a running kernel and is not
 * atomic, when, and why. crash and makedumpfile pass over notes they do not
 * know (they look for CORE/NT_PRSTATUS, VMCOREINFO and QEMU's).
 */
import type { LiveSnapshot } from '../protocol/messages.js';
import { encodeNote } from '../elf/core.js';

export const LIVE_NOTE_NAME = 'NETDUMP';
/** 'LIVE' as a little-endian word. */
export const NT_NETDUMP_LIVE = 0x4556494c;

/** The text of the note: one line per fact, the reason last (it is the operator's words). */
export function liveNoteText(live: LiveSnapshot): string {
  return `live snapshot of a running kernel (kdump-send --live): not atomic, memory was read while the kernel ran\n` +
    `taken at ${new Date(live.startedAtMs).toISOString()}\n` +
    `reason: ${live.reason}\n`;
}

/** The note, as the kdump header's notes carry it. */
export function encodeLiveNote(live: LiveSnapshot): Buffer {
  return encodeNote(LIVE_NOTE_NAME, NT_NETDUMP_LIVE, Buffer.from(liveNoteText(live), 'utf8'));
}
