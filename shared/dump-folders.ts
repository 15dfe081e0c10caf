/**
 * Where dumps live under the data directory (and, by the same names, under
 * an S3 bucket's prefix: keysFor):
 *   DIR/<host>/<YYYY-MM-DD-HH:MM:SS>/vmcore            a complete, verified dump
 *   DIR/<host>/<YYYY-MM-DD-HH:MM:SS>/vmcore.incomplete  one still arriving (or abandoned)
 *   DIR/<host>/<...>/vmcore.elf-headers                 the original core's ELF and program headers (ELF export)
 *   DIR/<host>/<...>/dmesg.txt                          the kernel log triage extracted
 *   DIR/<host>/<...>/vmcore.first-tier                  while it arrives: the pages crash needs first
 *   DIR/<host>/<...>/vmcore.hello                       while it arrives: the HELLO that started it
 * Host ids are checked, never rewritten: two hosts must not map to one folder.
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { badInput } from './errors.js';

const HOST_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const DUMP_ID = /^[0-9a-f]{16,64}$/;

export function checkHostId(hostId: string): string {
  if (!HOST_ID.test(hostId)) {
    throw badInput(`host id ${JSON.stringify(hostId.slice(0, 80))} is not allowed: use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit`);
  }
  return hostId;
}

export function checkDumpId(dumpId: string): string {
  if (!DUMP_ID.test(dumpId)) throw badInput(`dump id ${JSON.stringify(dumpId.slice(0, 80))} is not 16-64 lowercase hex digits`);
  return dumpId;
}

/** UTC, as makedumpfile-era tools name dump folders: 2026-11-26-14:05:09. */
export function dumpFolderName(epochSeconds: number): string {
  const iso = new Date(epochSeconds * 1000).toISOString(); // 2026-11-26T14:05:09.000Z
  return `${iso.slice(0, 10)}-${iso.slice(11, 19)}`;
}

export interface DumpPaths {
  /** Relative to the data directory: what the catalog stores. */
  relative: string;
  final: string;
  incomplete: string;
  elfHeaders: string;
  dmesg: string;
}

export function pathsFor(dataDir: string, relative: string): DumpPaths {
  const final = path.join(dataDir, relative);
  return {
    relative,
    final,
    incomplete: `${final}.incomplete`,
    elfHeaders: `${final}.elf-headers`,
    dmesg: path.join(path.dirname(final), 'dmesg.txt'),
  };
}

/** The objects of one dump by storage key (receiver/storage), the same names as on disk. */
export interface DumpKeys {
  /** The kdump-compressed file (the catalog's path). */
  dump: string;
  elfHeaders: string;
  dmesg: string;
  /**
   * While a dump sent first tier first arrives: a kdump file of just the first
   * tier's chunks, from which the dump takes them in pfn order; gone once the
   * dump is complete.
   */
  firstTier: string;
  /**
   * While it arrives: the HELLO that started it, so a receiver can finish
   * what arrived as a partial dump when the upload goes still for good.
   */
  hello: string;
}

export function keysFor(relative: string): DumpKeys {
  const folder = path.posix.dirname(relative);
  return { dump: relative, elfHeaders: `${relative}.elf-headers`, dmesg: `${folder}/dmesg.txt`, firstTier: `${relative}.first-tier`, hello: `${relative}.hello` };
}

/** Candidate keys for a new dump of `hostId` crashed at `epochSeconds`: the folder name, then .2, .3, ... */
export function* dumpKeyCandidates(hostId: string, epochSeconds: number): Generator<string> {
  const base = dumpFolderName(epochSeconds);
  for (let n = 1; n < 1000; n++) yield `${checkHostId(hostId)}/${n === 1 ? base : `${base}.${n}`}/vmcore`;
}

/** Makes the folder of dump `key` under `dataDir`; false when it exists already (taken). */
export async function claimDumpFolder(dataDir: string, key: string): Promise<boolean> {
  const folder = path.join(dataDir, path.dirname(key));
  await mkdir(path.dirname(folder), { recursive: true });
  return mkdir(folder).then(() => true, (error: NodeJS.ErrnoException) => {
    if (error.code === 'EEXIST') return false;
    throw error;
  });
}

/** Makes a new, empty folder for a dump; a second crash in the same second gets a suffix. */
export async function allocateDumpFolder(dataDir: string, hostId: string, epochSeconds: number): Promise<DumpPaths> {
  for (const key of dumpKeyCandidates(hostId, epochSeconds)) {
    if (await claimDumpFolder(dataDir, key)) return pathsFor(dataDir, key);
  }
  throw badInput(`too many dumps for host ${hostId} at ${dumpFolderName(epochSeconds)}`);
}
