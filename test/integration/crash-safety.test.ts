/**
 * kill -9 the receiver in the middle of an upload, start it again on the
 * same data directory and port: the sender (the real CLI, retrying) resumes,
 * and the stored dump is byte-identical to one received without a crash.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExitCode } from '../../sender/exit-codes.js';
import { RECEIVER_CLI, runSender } from '../helpers/cli.js';
import { sampleX86Loads, writeElfCoreFile, type ElfCoreFile } from '../helpers/elf-core-builder.js';
import { freePort } from '../helpers/ports.js';

function startReceiverProcess(dataDir: string, port: number): Promise<ChildProcess> {
  const child = spawn(process.execPath, [RECEIVER_CLI, 'serve', '--open', '--data-dir', dataDir, '--tcp', `127.0.0.1:${port}`,
    '--http', 'off', '--checkpoint-chunks', '4', '--min-free-bytes', String(64 * 2 ** 20)], { stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d) => {
      out += d;
      if (out.includes('kdump-receiver ready')) resolve(child);
    });
    child.on('exit', (code) => reject(new Error(`receiver exited ${code} before it was ready: ${out}`)));
  });
}

/** Resume point the receiver has recorded for the only dump in the catalog, or 0. */
function recordedNextSeq(dataDir: string): number {
  const file = path.join(dataDir, 'index.db');
  if (!existsSync(file)) return 0;
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const row = db.prepare('SELECT next_seq FROM dumps LIMIT 1').get() as { next_seq: number } | undefined;
    return row?.next_seq ?? 0;
  } catch {
    return 0; // table not created yet
  } finally {
    db.close();
  }
}

describe('receiver crash safety', () => {
  let core: ElfCoreFile;
  const dirs: string[] = [];

  beforeAll(async () => {
    // ~40 MB of memory, a third of it incompressible: long enough to be killed mid-way.
    core = await writeElfCoreFile({
      loads: [...sampleX86Loads(), { paddr: 0x100_0000, memsz: 40 * 2 ** 20 }],
      page: (pfn) => (pfn % 3 === 0 ? 'random' : pfn % 3 === 1 ? 'pattern' : 'zero'),
    });
  });
  afterAll(async () => {
    await core.cleanup();
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it('kill -9 mid-upload, restart: the sender resumes and the dump equals an uninterrupted one', async () => {
    const sendArgs = (port: number) => ['--server', `tcp://127.0.0.1:${port}`, '--host-id', 'crashy', '--chunk-pages', '16', '--deadline', '60', core.path];

    const cleanDir = await mkdtemp(path.join(tmpdir(), 'netdump-clean-'));
    dirs.push(cleanDir);
    const cleanPort = await freePort();
    const clean = await startReceiverProcess(cleanDir, cleanPort);
    const cleanRun = await runSender(sendArgs(cleanPort));
    clean.kill('SIGTERM');
    expect(cleanRun.code, cleanRun.stderr).toBe(ExitCode.STORED);
    const cleanBytes = await readFile(path.join(cleanDir, JSON.parse(cleanRun.stdout).path));

    const dataDir = await mkdtemp(path.join(tmpdir(), 'netdump-crash-'));
    dirs.push(dataDir);
    const port = await freePort();
    let receiver = await startReceiverProcess(dataDir, port);
    const sending = runSender(sendArgs(port), 90_000);
    // Kill once a checkpoint is durable, while chunks are still arriving.
    const deadline = Date.now() + 20_000;
    while (recordedNextSeq(dataDir) === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    const killedAt = recordedNextSeq(dataDir);
    expect(killedAt).toBeGreaterThan(0);
    receiver.kill('SIGKILL');
    await new Promise((r) => receiver.once('exit', r));
    receiver = await startReceiverProcess(dataDir, port);
    try {
      const result = await sending;
      expect(result.code, result.stderr).toBe(ExitCode.STORED);
      expect(result.stderr).toMatch(/attempt 1 failed/);
      const resumedAt = Number(/resuming at chunk (\d+)/.exec(result.stderr)?.[1]);
      expect(resumedAt).toBeGreaterThanOrEqual(killedAt);
      const done = JSON.parse(result.stdout);
      expect(done.attempts).toBeGreaterThan(1);
      const stored = await readFile(path.join(dataDir, done.path));
      expect(stored.length).toBe(cleanBytes.length);
      expect(stored.equals(cleanBytes)).toBe(true);
      // The index agrees: one dump, complete, nothing left half-written.
      const db = new Database(path.join(dataDir, 'index.db'), { readonly: true });
      const rows = db.prepare('SELECT status, path FROM dumps').all() as Array<{ status: string; path: string }>;
      db.close();
      expect(rows).toEqual([{ status: 'complete', path: done.path }]);
      // No resume state left behind: the dump and the original's ELF headers (the synthetic core has no log, so no dmesg.txt).
      expect((await readdir(path.dirname(path.join(dataDir, done.path)))).sort()).toEqual(['vmcore', 'vmcore.elf-headers']);
    } finally {
      receiver.kill('SIGTERM');
    }
  });
});
