/**
 * Small newc cpio archives and initramfs images made of them, for the
 * --check tests: an uncompressed early archive followed by a compressed
 * main one, as dracut and initramfs-tools lay them out.
 */
import { spawnSync } from 'node:child_process';

export type CpioEntry =
  | { name: string; data: Buffer | string }
  | { name: string; dir: true }
  | { name: string; symlink: string };

const hex = (n: number) => n.toString(16).padStart(8, '0');
const pad4 = (n: number) => Buffer.alloc((4 - (n % 4)) % 4);

function member(name: string, mode: number, data: Buffer, ino: number): Buffer {
  const nameBytes = Buffer.from(`${name}\0`, 'latin1');
  const fields = [ino, mode, 0, 0, 1, 0, data.length, 0, 0, 0, 0, nameBytes.length, 0];
  const header = Buffer.from(`070701${fields.map(hex).join('')}`, 'latin1');
  return Buffer.concat([header, nameBytes, pad4(header.length + nameBytes.length), data, pad4(data.length)]);
}

/** One archive, TRAILER!!! included. */
export function cpioArchive(entries: CpioEntry[]): Buffer {
  const parts = entries.map((entry, i) => {
    if ('dir' in entry) return member(entry.name, 0o040755, Buffer.alloc(0), i + 1);
    if ('symlink' in entry) return member(entry.name, 0o120777, Buffer.from(entry.symlink), i + 1);
    return member(entry.name, 0o100644, Buffer.isBuffer(entry.data) ? entry.data : Buffer.from(entry.data), i + 1);
  });
  return Buffer.concat([...parts, member('TRAILER!!!', 0, Buffer.alloc(0), 0)]);
}

/** Compresses with a command-line tool (zstd, xz, ...); undefined when it is not installed. */
export function compressWith(command: string, args: string[], data: Buffer): Buffer | undefined {
  const result = spawnSync(command, args, { input: data, maxBuffer: 1 << 30 });
  if (result.error || result.status !== 0) return undefined;
  return result.stdout;
}

export const hasTool = (command: string) => !spawnSync(command, ['--version']).error;
