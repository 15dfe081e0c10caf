/**
 * Every kernel generation a fleet runs, judged by the tools right for it
 * (test/helpers/real-fixtures.ts JUDGES): the busy core of each generation
 * (Debian's 5.10, 6.1, 6.12 and sid's newest kernel crashed in QEMU) goes
 * through kdump-send at the default -d 31 and an in-process receiver, and
 * then:
 * - the catalog says which level was asked and applied and which page rules
 *   judged the pages;
 * - where the kept set equals the right makedumpfile's (all but 7.1+), the
 *   stored file is byte-identical to that makedumpfile's -l -d 31 file,
 *   header (utsname) included;
 * - crash answers sys, bt, ps and log on it as on the original ELF core;
 * - drgn prints the release and the crashed thread's stack as on the original;
 * - dmesg.txt equals vmcore-dmesg of the original, and the one panic they
 *   all share gives one signature on every kernel.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExitCode } from '../../sender/exit-codes.js';
import { runReceiverCli, runSender } from '../helpers/cli.js';
import { haveJudgeFor, runJudgeFor } from '../helpers/judges.js';
import { fixturesMissing, GENERATION_NAMES, generation, type FixtureGeneration, type Generation } from '../helpers/real-fixtures.js';
import { startTestReceiver, type TestReceiver } from '../helpers/receiver.js';

const RULES: Record<Generation, string> = { '5.10': '<=6.2', '6.1': '<=6.2', '6.12': '6.12', sid: '7.1' };
/** Kernels where the right makedumpfile keeps what crash needs (ours is then byte-identical to it). */
const MAKEDUMPFILE_RIGHT = new Set<Generation>(['5.10', '6.1', '6.12']);
const PANIC_LINE = 'Kernel panic - not syncing: sysrq triggered crash';
const TOOLS = ['crash', 'makedumpfile', 'drgn', 'vmcore-dmesg'] as const;

const sha256 = async (file: string) => createHash('sha256').update(await readFile(file)).digest('hex');

/** crash's answers to sys, bt, ps and log, without the lines that name the file or its format. */
async function crashAnswers(g: FixtureGeneration, dump: string): Promise<string> {
  const result = await runJudgeFor(g, 'crash', ['-s', g.vmlinux!, dump], { input: 'sys\nbt\nps\nlog\nquit\n', timeoutMs: 300_000 });
  expect(result.code, result.stderr + result.stdout.slice(0, 2000)).toBe(0);
  return result.stdout.split('\n').filter((line) => !/^\s*DUMPFILE:/.test(line)).join('\n');
}

/** drgn's view: the release and the crashed thread's stack. */
async function drgnAnswers(g: FixtureGeneration, dump: string): Promise<string> {
  const script = 'print(prog["init_uts_ns"].name.release.string_().decode()); print(prog.crashed_thread().stack_trace())';
  const result = await runJudgeFor(g, 'drgn', ['-q', '-c', dump, '-s', g.vmlinux!, '-e', script], { timeoutMs: 300_000 });
  expect(result.code, result.stderr).toBe(0);
  return result.stdout;
}

let receiver: TestReceiver;
let work: string;
const signatures = new Map<Generation, string>();
const ready = GENERATION_NAMES.filter((name) => fixturesMissing(name) === '' && TOOLS.every((t) => haveJudgeFor(generation(name)!, t)));

beforeAll(async () => {
  if (ready.length === 0) return;
  receiver = await startTestReceiver({ checkpointChunks: 256 });
  work = await mkdtemp(path.join(tmpdir(), 'netdump-generations-'));
});
afterAll(async () => {
  await receiver?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

for (const name of GENERATION_NAMES) {
  const g = generation(name);
  const missingJudges = g ? TOOLS.filter((t) => !haveJudgeFor(g, t)) : [];
  const why = fixturesMissing(name) || (missingJudges.length ? `no ${missingJudges.join(', ')} right for ${name}: \`bash test/fixtures/ensure-fixtures.sh\` makes the judge chroots` : '');

  describe.skipIf(why !== '')(`${name} (${g?.kver ?? why}) at -d 31, judged by the tools right for it`, () => {
    const hostId = `gen-${name.replace(/\./g, '-')}`;
    const original = g?.vmcores.busy ?? '';
    let stored = '';
    let dumpId = '';

    it('kdump-send stores it; the sender and the catalog say which page rules judged it', async () => {
      const result = await runSender(['--server', receiver.tcpUrl, '--host-id', hostId, '--dump-level', '31', '--deadline', '60', original], 300_000);
      expect(result.code, result.stderr).toBe(ExitCode.STORED);
      expect(result.stderr).toContain(`dump level 31, pages judged by the ${RULES[name]} rules`);
      expect(result.stderr).not.toMatch(/warning/);
      const done = JSON.parse(result.stdout);
      stored = path.join(receiver.dataDir, done.path);
      dumpId = done.dumpId;
      expect(existsSync(stored)).toBe(true);
      const listed = await runReceiverCli(['list', '--json', '--data-dir', receiver.dataDir]);
      const record = JSON.parse(listed.stdout).find((r: { dumpId: string }) => r.dumpId === dumpId);
      expect(record).toMatchObject({ status: 'complete', hostId, osRelease: g!.kver, dumpLevel: { asked: 31, applied: 31, rules: RULES[name], notes: [] } });
    });

    if (MAKEDUMPFILE_RIGHT.has(name)) {
      it(`is byte-identical to makedumpfile -l -d 31 (${g?.judges.makedumpfile.suite}), header included`, async () => {
        const reference = path.join(work, `${hostId}.makedumpfile.kdump`);
        const made = await runJudgeFor(g!, 'makedumpfile', ['-f', '-l', '-d', '31', original, reference], { timeoutMs: 300_000 });
        expect(made.code, made.stderr + made.stdout).toBe(0);
        expect(await sha256(stored)).toBe(await sha256(reference));
        await rm(reference, { force: true });
      });
    } else {
      it('makedumpfile 1.7.8 leaves out compound tail pages crash needs on 7.1+: crash cannot open its -d 31 dump, which is why ours is larger', async () => {
        const reference = path.join(work, `${hostId}.makedumpfile.kdump`);
        const made = await runJudgeFor(g!, 'makedumpfile', ['-f', '-l', '-d', '31', original, reference], { timeoutMs: 300_000 });
        expect(made.code, made.stderr + made.stdout).toBe(0);
        const theirs = await runJudgeFor(g!, 'crash', ['-s', g!.vmlinux!, reference], { input: 'sys\nps\nquit\n', timeoutMs: 300_000 });
        expect(theirs.code).not.toBe(0);
        expect(theirs.stdout).not.toContain(`RELEASE: ${g!.kver}`);
        await rm(reference, { force: true });
      });
    }

    it('crash answers sys, bt, ps and log as on the original', async () => {
      const [ours, theirs] = await Promise.all([crashAnswers(g!, stored), crashAnswers(g!, original)]);
      expect(ours).toContain(`RELEASE: ${g!.kver}`);
      expect(ours).toContain('PANIC: "Kernel panic - not syncing: sysrq triggered crash');
      expect(ours).toMatch(/\bPID\b.*\bCOMM\b/);
      expect(ours).toBe(theirs);
    });

    it('drgn prints the release and the crashed thread\'s stack as on the original', async () => {
      const [ours, theirs] = await Promise.all([drgnAnswers(g!, stored), drgnAnswers(g!, original)]);
      expect(ours.split('\n')[0]).toBe(g!.kver);
      expect(ours).toContain('sysrq_handle_crash');
      expect(ours).toBe(theirs);
    });

    it('dmesg.txt equals vmcore-dmesg of the original; triage finds the panic', async () => {
      await receiver.triage.idle();
      const reference = await readFile(g!.dmesg.busy!, 'utf8');
      expect(await readFile(path.join(path.dirname(stored), 'dmesg.txt'), 'utf8')).toBe(reference);
      const detail = await (await fetch(`http://127.0.0.1:${receiver.httpAddress!.port}/api/v1/dumps/${dumpId}`)).json() as any;
      expect(detail).toMatchObject({ panicLine: PANIC_LINE, triageError: null });
      expect(detail.signature).toMatch(/^[0-9a-f]{16}$/);
      signatures.set(name, detail.signature);
    });
  });
}

describe.skipIf(ready.length < 2)(`one panic, one signature on every kernel (needs two generations' fixtures; ${ready.length} here)`, () => {
  it('the sysrq crash of every generation has the same signature', () => {
    expect(signatures.size).toBe(ready.length);
    expect(new Set(signatures.values()).size).toBe(1);
  });
});
