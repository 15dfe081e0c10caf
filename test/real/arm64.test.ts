/**
 * arm64: Debian 12's arm64 kernel crashed under qemu-system-aarch64
 * (test/fixtures/ensure-arm64.sh), judged by the tools right for it:
 * Debian's arm64 makedumpfile (under qemu-user) for the kept pages, the
 * stored file and the kernel log; drgn 0.0.31 (the trixie judge chroot's;
 * it reads cores of any architecture) with the arm64 debug vmlinux for what a
 * reader of the dump sees. The host's crash is built for
 * x86_64 and reads no arm64 dump, so it is no judge here.
 *
 * - the dump-level pass keeps the pfns makedumpfile keeps, at -d 1 and
 *   -d 31, on the busy and the idle core;
 * - kdump-send stores the busy core at -d 31 and the catalog says aarch64,
 *   level 31 applied; the stored file is byte-identical to makedumpfile's
 *   -l -d 31 file, header included;
 * - drgn reads the stored dump as it reads the original: the release, the
 *   crashed thread's stack, the task list, memory counters and slab caches;
 * - dmesg.txt equals makedumpfile --dump-dmesg of the original, and triage
 *   gives the panic line and a signature of the crash's frames;
 * - kdump-send --log-only stores the log and the first tier (a partial
 *   dump), and drgn reads it as it reads the original.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { computeExclusion } from '../../sender/dump-level/exclusion.js';
import { ExitCode } from '../../sender/exit-codes.js';
import { VmcoreSource } from '../../sender/vmcore-source.js';
import { KdumpFileReader } from '../../shared/kdump/reader.js';
import { summarizeCrash } from '../../receiver/triage/crash-summary.js';
import { arm64Fixtures, type Arm64Fixtures } from '../helpers/arm64-fixtures.js';
import { firstPfnDifference, keptPfns } from '../helpers/real-fixtures.js';
import { run, runReceiverCli, runSender } from '../helpers/cli.js';
import { haveJudge, runJudge } from '../helpers/judges.js';
import { startTestReceiver, type TestReceiver } from '../helpers/receiver.js';

const PANIC_LINE = 'Kernel panic - not syncing: sysrq triggered crash';
/**
 * arm64 kernels export no SYMBOL(node_data) in VMCOREINFO (x86_64's arch code does), and Debian builds
 * them without CONFIG_KALLSYMS_ALL, so their kallsyms lists functions only and has no node_data either:
 * the guard cannot hold the free pages against the kernel's count there, and says so.
 */
const GUARD_NOTES = [
  "dump level guard: free pages not checked against the kernel's count (VMCOREINFO has no SYMBOL(node_data) or SYMBOL(contig_page_data), "
  + 'nor has kallsyms (50336 symbols, functions only: CONFIG_KALLSYMS_ALL is not set))',
];
/** Where the drgn that reads 6.1 dumps lives (bookworm's 0.0.22 cannot unwind them all). */
const DRGN = 'trixie';
const found = arm64Fixtures();
const why = typeof found === 'string' ? found
  : !haveJudge(DRGN, 'drgn') ? `no drgn in the ${DRGN} judge chroot: \`bash test/fixtures/ensure-fixtures.sh\` makes it` : '';
const f = typeof found === 'string' ? undefined : found as Arm64Fixtures;

const sha256 = async (file: string) => createHash('sha256').update(await readFile(file)).digest('hex');
let work: string;
let receiver: TestReceiver;
beforeAll(async () => {
  if (why) return;
  work = await mkdtemp(path.join(tmpdir(), 'netdump-arm64-'));
  receiver = await startTestReceiver({ checkpointChunks: 256 });
});
afterAll(async () => {
  await receiver?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

async function makedumpfile(args: string[]) {
  const result = await run(f!.makedumpfile, args, { timeoutMs: 240_000 });
  expect(result.code, result.stderr + result.stdout).toBe(0);
  return result;
}

/** drgn's view of a dump: what a kernel engineer looks at first. */
async function drgnAnswers(dump: string): Promise<string> {
  const script = [
    'from drgn.helpers.linux.pid import for_each_task',
    'from drgn.helpers.linux.slab import for_each_slab_cache',
    'print(prog["init_uts_ns"].name.release.string_().decode())',
    'print(prog.crashed_thread().stack_trace())',
    'print(sorted((t.pid.value_(), t.comm.string_().decode()) for t in for_each_task(prog)))',
    'print(prog["_totalram_pages"].counter.value_(), prog["init_task"].comm.string_().decode())',
    'print(sorted(c.name.string_().decode() for c in for_each_slab_cache(prog))[:40])',
  ].join('\n');
  const result = await runJudge(DRGN, 'drgn', ['-q', '-c', dump, '-s', f!.vmlinux, '-e', script], { timeoutMs: 300_000 });
  expect(result.code, result.stderr).toBe(0);
  return result.stdout;
}

describe.skipIf(why !== '')(`arm64 (${f?.kver ?? why}): judged by Debian's arm64 makedumpfile and drgn`, () => {
  for (const fixture of ['busy', 'idle'] as const) {
    it(`${fixture}.vmcore: the dump-level pass keeps the pfns makedumpfile keeps at -d 1 and -d 31`, async () => {
      const source = VmcoreSource.open(f!.vmcores[fixture]);
      try {
        expect(source.core.machine).toBe('aarch64');
        for (const level of [1, 31]) {
          const out = path.join(work, `${fixture}-d${level}.kdump`);
          await makedumpfile(['-f', '-l', '-d', String(level), f!.vmcores[fixture], out]);
          const reader = await KdumpFileReader.open(out);
          let theirs: number[];
          try {
            theirs = reader.pfnsIn(reader.dumpableBitmap);
          } finally {
            await reader.close();
            await rm(out);
          }
          const exclusion = computeExclusion(source, level);
          expect(exclusion.level, exclusion.warnings.join('; ')).toBe(level);
          // The guard holds judged levels only: -d 1 reads no struct page bit.
          expect(exclusion.warnings).toEqual(level === 1 ? [] : GUARD_NOTES);
          const ours = keptPfns(exclusion);
          expect(ours.length, `-d ${level}: first difference ${firstPfnDifference(ours, theirs)}`).toBe(theirs.length);
          expect(firstPfnDifference(ours, theirs), `-d ${level}`).toBe('none');
        }
      } finally {
        source.close();
      }
    });
  }

  const hostId = 'arm64-busy';
  let stored = '';
  let dumpId = '';

  it('kdump-send stores the busy core at -d 31; the catalog says aarch64, level 31 applied', async () => {
    const result = await runSender(['--server', receiver.tcpUrl, '--host-id', hostId, '--dump-level', '31', '--deadline', '60', f!.vmcores.busy], 300_000);
    expect(result.code, result.stderr).toBe(ExitCode.STORED);
    expect(result.stderr).toContain('dump level 31, pages judged by the <=6.2 rules');
    expect(result.stderr.split('\n').filter((line) => /warning/.test(line))).toEqual(GUARD_NOTES.map((note) => `kdump-send: warning: ${note}`));
    const done = JSON.parse(result.stdout);
    stored = path.join(receiver.dataDir, done.path);
    dumpId = done.dumpId;
    expect(existsSync(stored)).toBe(true);
    const listed = await runReceiverCli(['list', '--json', '--data-dir', receiver.dataDir]);
    const record = JSON.parse(listed.stdout).find((r: { dumpId: string }) => r.dumpId === dumpId);
    expect(record).toMatchObject({ status: 'complete', hostId, osRelease: f!.kver, dumpLevel: { asked: 31, applied: 31, notes: GUARD_NOTES } });
    const reader = await KdumpFileReader.open(stored);
    try {
      expect(reader.header.utsname).toMatchObject({ sysname: 'Linux', machine: 'aarch64', release: f!.kver });
    } finally {
      await reader.close();
    }
  });

  it('the stored file is byte-identical to makedumpfile -l -d 31, header included', async () => {
    const reference = path.join(work, 'busy.makedumpfile.kdump');
    await makedumpfile(['-f', '-l', '-d', '31', f!.vmcores.busy, reference]);
    expect(await sha256(stored)).toBe(await sha256(reference));
    await rm(reference, { force: true });
  });

  it('drgn reads the stored dump as it reads the original', async () => {
    const [ours, theirs] = await Promise.all([drgnAnswers(stored), drgnAnswers(f!.vmcores.busy)]);
    expect(ours.split('\n')[0]).toBe(f!.kver);
    expect(ours).toContain('sysrq_handle_crash');
    expect(ours).toContain("(1, 'init')");
    expect(ours).toMatch(/^\d+ swapper\/0$/m);
    expect(ours).toBe(theirs);
  });

  it('dmesg.txt equals makedumpfile --dump-dmesg of the original; triage finds the panic line and a signature', async () => {
    await receiver.triage.idle();
    const reference = await readFile(f!.dmesg.busy, 'utf8');
    expect(reference).toContain(PANIC_LINE);
    expect(await readFile(path.join(path.dirname(stored), 'dmesg.txt'), 'utf8')).toBe(reference);
    const detail = await (await fetch(`http://127.0.0.1:${receiver.httpAddress!.port}/api/v1/dumps/${dumpId}`)).json() as any;
    expect(detail).toMatchObject({ panicLine: PANIC_LINE, triageError: null });
    expect(detail.signature).toBe(summarizeCrash(reference).signature);
    // arm64 prints return addresses: sysrq_handle_crash's noreturn call to panic() returns to the next function's first
    // byte ("sysrq_reset_seq_param_set+0x0/0xa0"), a frame of the kernel's layout, not of the crash: left out.
    expect(reference).toMatch(/\+0x0\/0x[0-9a-f]+\n/);
    expect(summarizeCrash(reference).callTrace.slice(0, 4)).toEqual(['__handle_sysrq', 'write_sysrq_trigger', 'proc_reg_write', 'vfs_write']);
  });
});

describe.skipIf(why !== '')(`arm64 (${f?.kver ?? why}): --log-only keeps a partial dump drgn reads like the original`, () => {
  it('the log and the first tier only, listed partial; drgn answers as on the original', async () => {
    const result = await runSender(['--server', receiver.tcpUrl, '--host-id', 'arm64-partial', '--log-only', '--deadline', '60', f!.vmcores.busy], 300_000);
    expect(result.code, result.stderr).toBe(ExitCode.STORED);
    const done = JSON.parse(result.stdout);
    expect(done.partial?.why).toBe('log only: the kernel log and the first tier');
    const tier = /first tier: (\d+) pages \(([\d.]+)% of those kept/.exec(result.stderr);
    expect(tier, result.stderr).not.toBeNull();
    expect(Number(tier![2])).toBeLessThan(90);
    expect(await receiver.catalog.get(done.dumpId)).toMatchObject({ status: 'partial', partialReason: 'log-only' });
    const [partial, whole] = await Promise.all([drgnAnswers(path.join(receiver.dataDir, done.path)), drgnAnswers(f!.vmcores.busy)]);
    expect(partial).toContain('sysrq_handle_crash');
    expect(partial).toBe(whole);
  });
});
