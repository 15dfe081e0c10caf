/**
 * Real dumps, real judges. Streams vmcores made by crashing Debian's kernel
 * in QEMU (test/fixtures/ensure-fixtures.sh) through the built kdump-send
 * and an in-process receiver, then asks crash, makedumpfile and
 * vmcore-dmesg whether what was stored is the same dump.
 */
import { existsSync } from 'node:fs';
import { createWriteStream } from 'node:fs';
import { copyFile, mkdtemp, readFile, rm, truncate } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KdumpFileReader } from '../../shared/kdump/reader.js';
import { VmcoreSource } from '../../sender/vmcore-source.js';
import { ExitCode } from '../../sender/exit-codes.js';
import { run, runReceiverCli, runSender } from '../helpers/cli.js';
import { startTestReceiver, type TestReceiver } from '../helpers/receiver.js';
import { crashSession, FIXTURE_CACHE, KVER, onPath, unindentContinuations, VMLINUX } from '../helpers/real-fixtures.js';

const CACHE = FIXTURE_CACHE;
const FIXTURES = [
  { name: 'idle', transport: 'ws' as const, level: 1 },
  { name: 'busy', transport: 'tcp' as const, level: 1 },
  { name: 'busy', transport: 'ws' as const, level: 31 },
];
const haveFixtures = KVER !== '' && existsSync(VMLINUX) && FIXTURES.every((f) => existsSync(path.join(CACHE, `${f.name}.vmcore`)));
const keyOf = (f: (typeof FIXTURES)[number]) => `${f.name}-d${f.level}`;
const VMCORE_DMESG = ['/usr/sbin/vmcore-dmesg', '/sbin/vmcore-dmesg'].find((p) => existsSync(p)) ?? 'vmcore-dmesg';
const haveTools = ['crash', 'makedumpfile', 'vmcore-dmesg', 'gdb'].every(onPath);

const PANIC_LINE = 'Kernel panic - not syncing: sysrq triggered crash';

const sha256 = async (file: string) => createHash('sha256').update(await readFile(file)).digest('hex');

describe.runIf(haveFixtures && haveTools)('real vmcores (need test/fixtures/cache from test/fixtures/ensure-fixtures.sh and Debian\'s crash, makedumpfile, kexec-tools, gdb: `npm test` provides both)', () => {
  let receiver: TestReceiver;
  let work: string;
  const stored = new Map<string, string>();
  const dumpIds = new Map<string, string>();
  const api = (pathname: string) => fetch(`http://127.0.0.1:${receiver.httpAddress!.port}${pathname}`);

  beforeAll(async () => {
    receiver = await startTestReceiver({ checkpointChunks: 256 });
    work = await mkdtemp(path.join(tmpdir(), 'netdump-real-'));
  });
  afterAll(async () => {
    await receiver?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  for (const fixture of FIXTURES) {
    const original = path.join(CACHE, `${fixture.name}.vmcore`);

    describe(`${fixture.name}.vmcore at -d ${fixture.level} over ${fixture.transport}`, () => {
      const hostId = keyOf(fixture);
      it('kdump-send stores it and the catalog lists it complete', async () => {
        const server = fixture.transport === 'tcp' ? receiver.tcpUrl : receiver.wsUrl;
        const result = await runSender(['--server', server, '--host-id', hostId, '--dump-level', String(fixture.level), '--deadline', '30', original]);
        expect(result.code, result.stderr).toBe(ExitCode.STORED);
        const done = JSON.parse(result.stdout);
        const file = path.join(receiver.dataDir, done.path);
        expect(existsSync(file)).toBe(true);
        expect(existsSync(`${file}.incomplete`)).toBe(false);
        stored.set(hostId, file);
        dumpIds.set(hostId, done.dumpId);

        const listed = await runReceiverCli(['list', '--json', '--data-dir', receiver.dataDir]);
        const record = JSON.parse(listed.stdout).find((r: { dumpId: string }) => r.dumpId === done.dumpId);
        expect(record).toMatchObject({ status: 'complete', hostId, osRelease: KVER, path: done.path });
        expect(record.bytesStored).toBeGreaterThan(0);
        expect(record.pagesZero + record.pagesStored).toBe(record.pagesTotal);
        const shown = await runReceiverCli(['show', done.dumpId.slice(0, 10), '--data-dir', receiver.dataDir]);
        expect(shown.stdout).toContain(`crash /usr/lib/debug/boot/vmlinux-${KVER} ${file}`);
      });

      it('every stored page equals the original page, and the pages present are the core\'s', async () => {
        const file = stored.get(hostId)!;
        const source = VmcoreSource.open(original);
        const reader = await KdumpFileReader.open(file);
        try {
          expect(reader.incomplete).toBe(false);
          const pageSize = source.core.pageSize;
          const corePfns = source.core.pageMap.extents.flatMap((e) => Array.from({ length: e.pageCount }, (_, i) => e.startPfn + i));
          expect(reader.pfnsIn(reader.presentBitmap)).toEqual(corePfns);
          // Which pages a level keeps is checked against makedumpfile below (byte identity) and in dump-levels.test.ts.
          const expectedPfns = reader.pfnsIn(reader.dumpableBitmap);
          if (fixture.level <= 1) expect(expectedPfns).toEqual(corePfns);
          else expect(expectedPfns.length).toBeLessThan(corePfns.length / 2);
          expect(reader.subHeader.dumpLevel).toBe(fixture.level);
          const page = Buffer.alloc(pageSize);
          const zeroOffsets = new Set<number>();
          let mismatches = 0;
          for (let rank = 0; rank < expectedPfns.length; rank += 4096) {
            const descriptors = await reader.readDescriptors(rank, Math.min(4096, expectedPfns.length - rank));
            for (let i = 0; i < descriptors.length; i++) {
              const want = source.readPages(expectedPfns[rank + i], 1, page);
              const got = await reader.readPage(descriptors[i]);
              if (!got.equals(want)) mismatches++;
              if (want.every((b) => b === 0)) zeroOffsets.add(descriptors[i].offset);
            }
          }
          expect(mismatches).toBe(0);
          // Zero pages are deduplicated: every one points at the same shared page.
          expect(zeroOffsets.size).toBe(1);
        } finally {
          source.close();
          await reader.close();
        }
      });

      it(`is byte-identical to makedumpfile -l -d ${fixture.level} of the original`, async () => {
        const reference = path.join(work, `${hostId}.makedumpfile.kdump`);
        const made = await run('makedumpfile', ['-f', '-l', '-d', String(fixture.level), original, reference], { timeoutMs: 240_000 });
        expect(made.code, made.stderr + made.stdout).toBe(0);
        expect(await sha256(stored.get(hostId)!)).toBe(await sha256(reference));
      });

      it('crash --osrelease reads the kernel release', async () => {
        const result = await run('crash', ['--osrelease', stored.get(hostId)!]);
        expect(result.stdout.trim()).toBe(KVER);
      });

      it('makedumpfile --dump-dmesg of the stored dump equals vmcore-dmesg of the original', async () => {
        const ours = path.join(work, `${hostId}.dmesg`);
        const dumped = await run('makedumpfile', ['--dump-dmesg', stored.get(hostId)!, ours]);
        expect(dumped.code, dumped.stderr + dumped.stdout).toBe(0);
        const reference = await run(VMCORE_DMESG, [original]);
        expect(reference.code).toBe(0);
        const log = await readFile(ours, 'utf8');
        expect(log.length).toBeGreaterThan(1000);
        expect(unindentContinuations(log)).toBe(reference.stdout);
      });

      it('triage saves dmesg.txt equal to vmcore-dmesg of the original, and the panic line and signature', async () => {
        await receiver.triage.idle();
        const reference = await run(VMCORE_DMESG, [original]);
        expect(reference.code).toBe(0);
        const saved = await readFile(path.join(path.dirname(stored.get(hostId)!), 'dmesg.txt'), 'utf8');
        expect(saved).toBe(reference.stdout);
        const detail = await (await api(`/api/v1/dumps/${dumpIds.get(hostId)}`)).json() as any;
        expect(detail).toMatchObject({ panicLine: PANIC_LINE, triageError: null });
        expect(detail.triage.callTrace).toContain('sysrq_handle_crash');
        expect(detail.signature).toMatch(/^[0-9a-f]{16}$/);
        const served = await api(`/api/v1/dumps/${dumpIds.get(hostId)}/dmesg`);
        expect(await served.text()).toBe(reference.stdout);
      });

      it('the ELF export of the stored dump reads in vmcore-dmesg and crash like the original', async () => {
        const exported = path.join(work, `${hostId}.elf`);
        const started = Date.now();
        const res = await api(`/api/v1/dumps/${dumpIds.get(hostId)}/elf`);
        expect(res.status).toBe(200);
        await pipeline(Readable.fromWeb(res.body as any), createWriteStream(exported));
        console.log(`ELF export of ${hostId}: ${(Date.now() - started) / 1000} s, ${res.headers.get('content-length')} bytes, ${res.headers.get('x-kdump-elf-segments')} segments`);
        const [ours, theirs] = await Promise.all([run(VMCORE_DMESG, [exported]), run(VMCORE_DMESG, [original])]);
        expect(ours.code, ours.stderr).toBe(0);
        expect(ours.stdout).toBe(theirs.stdout);
        const session = await run('crash', ['-s', VMLINUX, exported], { input: 'sys\nbt\nquit\n', timeoutMs: 240_000 });
        expect(session.code, session.stderr).toBe(0);
        expect(session.stdout).toContain(`RELEASE: ${KVER}`);
        expect(session.stdout).toMatch(/PANIC: .*sysrq/);
        expect(session.stdout).toContain('sysrq_handle_crash');
        // gdb, which reads the core by virtual address: the kernel's own variables, relocated by KASLR's offset.
        const source = VmcoreSource.open(original);
        const kaslr = source.core.vmcoreinfo.kernelOffset ?? 0n;
        source.close();
        const gdb = await run('gdb', ['-batch', '-nx', '-ex', `symbol-file -o 0x${kaslr.toString(16)} ${VMLINUX}`, '-ex', `core-file ${exported}`,
          '-ex', 'p init_uts_ns.name.release'], { timeoutMs: 120_000 });
        expect(gdb.stdout).toContain(`= "${KVER}"`);
        await rm(exported, { force: true });
      });

      it('crash answers bt, sys and log as on the original', async () => {
        const [ours, theirs] = await Promise.all([crashSession(stored.get(hostId)!), crashSession(original)]);
        expect(ours).toContain('PANIC:');
        expect(ours).toContain(`RELEASE: ${KVER}`);
        expect(ours).toBe(theirs);
      });
    });
  }

  it('the three dumps of one bug form one group across their hosts', async () => {
    await receiver.triage.idle();
    const { groups } = await (await api('/api/v1/groups')).json() as any;
    const group = groups.find((g: any) => g.panicLine === PANIC_LINE);
    expect(group).toMatchObject({ count: FIXTURES.length, kernels: [KVER] });
    expect(group.hosts).toEqual(FIXTURES.map(keyOf).sort());
  });

  it('a truncated real vmcore is refused by the sender with what and where, and nothing is stored', async () => {
    const cut = path.join(work, 'truncated.vmcore');
    await copyFile(path.join(CACHE, 'idle.vmcore'), cut);
    await truncate(cut, 100 * 2 ** 20);
    const before = (await receiver.catalog.list()).length;
    const result = await runSender(['--server', receiver.tcpUrl, '--host-id', 'cut-host', '--deadline', '5', cut]);
    expect(result.code).toBe(ExitCode.BAD_INPUT);
    expect(result.stderr).toMatch(/truncated\.vmcore: PT_LOAD \d+ ends at file offset \d+ but the file is 104857600 bytes/);
    expect((await receiver.catalog.list()).length).toBe(before);
  });
});
