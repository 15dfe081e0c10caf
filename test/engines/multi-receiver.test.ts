/**
 * Several receivers, one fleet: two receiver processes share a PostgreSQL
 * catalog and a dump directory (shared POSIX storage), behind HAProxy. The
 * receiver serving an upload is killed (-9) mid-way; the sender's reconnect
 * lands on the survivor, which waits out the dead one's lease, resumes from
 * the recorded checkpoint, and stores a dump byte-identical to an
 * uninterrupted upload's.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Catalog } from '../../receiver/catalog/catalog.js';
import { ExitCode } from '../../sender/exit-codes.js';
import { runSender } from '../helpers/cli.js';
import { startReceiverProcess, type ReceiverProcess } from '../helpers/receiver-process.js';
import { sampleX86Loads, writeElfCoreFile, type ElfCoreFile } from '../helpers/elf-core-builder.js';
import { haveHaproxy, startHaproxy } from '../helpers/haproxy.js';
import { freePort } from '../helpers/ports.js';
import { createDatabase, POSTGRES_SKIP_HINT, usePostgres, havePostgres } from '../helpers/postgres.js';
import { existsSync } from 'node:fs';


function startReceiver(args: string[]): Promise<ReceiverProcess> {
  return startReceiverProcess(['--http', 'off', '--checkpoint-chunks', '4', ...args]);
}

describe.skipIf(!havePostgres || !haveHaproxy)(
  `two receivers behind HAProxy sharing PostgreSQL${!havePostgres ? ` (skipped: ${POSTGRES_SKIP_HINT})` : !haveHaproxy ? ' (skipped: needs /usr/sbin/haproxy: apt-get install haproxy, which `npm test` installs)' : ''}`,
  () => {
    const postgres = usePostgres();
    let core: ElfCoreFile;
    const cleanup: Array<() => Promise<unknown>> = [];

    beforeAll(async () => {
      // ~40 MB of memory, a third incompressible: long enough to kill the receiver mid-way.
      core = await writeElfCoreFile({
        loads: [...sampleX86Loads(), { paddr: 0x100_0000, memsz: 40 * 2 ** 20 }],
        page: (pfn) => (pfn % 3 === 0 ? 'random' : pfn % 3 === 1 ? 'pattern' : 'zero'),
      });
    });
    afterAll(async () => {
      for (const step of cleanup.reverse()) await step().catch(() => {});
      await core?.cleanup();
    });

    it('kill -9 the receiver serving an upload: the survivor takes the reconnect and finishes it, byte-identical', async () => {
      if (!postgres.server) throw new Error(`PostgreSQL did not start: ${postgres.reason}`);
      const sendArgs = (port: number, host: string) => ['--server', `tcp://127.0.0.1:${port}`, '--host-id', host, '--chunk-pages', '16',
        '--deadline', '90', core.path];

      // The reference: the same core through one receiver, no crash.
      const cleanDir = await mkdtemp(path.join(tmpdir(), 'multi-clean-'));
      cleanup.push(() => rm(cleanDir, { recursive: true, force: true }));
      const cleanPort = await freePort();
      const clean = await startReceiver(['--data-dir', cleanDir, '--tcp', `127.0.0.1:${cleanPort}`]);
      cleanup.push(async () => { clean.child.kill('SIGKILL'); });
      const cleanRun = await runSender(sendArgs(cleanPort, 'fleet-host'));
      clean.child.kill('SIGTERM');
      expect(cleanRun.code, cleanRun.stderr).toBe(ExitCode.STORED);
      const reference = await readFile(path.join(cleanDir, JSON.parse(cleanRun.stdout).path));

      const database = await createDatabase(postgres.server, 'fleet');
      cleanup.push(() => database.drop());
      const shared = await mkdtemp(path.join(tmpdir(), 'multi-shared-'));
      cleanup.push(() => rm(shared, { recursive: true, force: true }));
      const ports = [await freePort(), await freePort()];
      const receivers: ReceiverProcess[] = [];
      for (const [i, port] of ports.entries()) {
        // One at a time, each stopped at the end even if the next fails to start.
        const receiver = await startReceiver(['--data-dir', shared, '--catalog', database.url,
          '--tcp', `127.0.0.1:${port}`, '--receiver-id', `rx-${i}`, '--lease-ttl', '2']);
        receivers.push(receiver);
        cleanup.push(async () => { receiver.child.kill('SIGKILL'); });
      }
      const balancer = await startHaproxy(ports);
      cleanup.push(() => balancer.stop());
      const catalog = await Catalog.open(database.url);
      cleanup.push(() => catalog.close());

      const sending = runSender(sendArgs(balancer.port, 'fleet-host'), 150_000);
      // Kill the receiver serving the upload once a checkpoint is recorded.
      let killedAt = 0;
      for (const deadline = Date.now() + 30_000; killedAt === 0 && Date.now() < deadline;) {
        killedAt = (await catalog.list())[0]?.nextSeq ?? 0;
        if (killedAt === 0) await new Promise((r) => setTimeout(r, 10));
      }
      expect(killedAt).toBeGreaterThan(0);
      // Normally rx-0 (balance first); whichever holds the dump's lease is the one serving it.
      const holder = await catalog.leaseHolder((await catalog.list())[0].dumpId);
      expect(holder).toMatch(/^rx-[01]$/);
      const served = Number(holder!.slice(3));
      const survivor = receivers[1 - served];
      receivers[served].child.kill('SIGKILL');

      const result = await sending;
      expect(result.code, result.stderr).toBe(ExitCode.STORED);
      const resumedAt = Number(/resuming at chunk (\d+)/.exec(result.stderr)?.[1]);
      expect(resumedAt).toBeGreaterThanOrEqual(killedAt);
      const done = JSON.parse(result.stdout);
      expect(done.attempts).toBeGreaterThan(1);
      expect((await readFile(path.join(shared, done.path))).equals(reference)).toBe(true);
      // The survivor finished it: its log says so, and the catalog shows one complete dump, no lease left.
      expect(survivor.log()).toMatch(/"msg":"dump stored"/);
      const rows = await catalog.list();
      expect(rows.map((r) => r.status)).toEqual(['complete']);
      expect(await catalog.leaseHolder(rows[0].dumpId)).toBeUndefined();
      expect(existsSync(path.join(shared, `${done.path}.incomplete`))).toBe(false);
    });
  },
);
