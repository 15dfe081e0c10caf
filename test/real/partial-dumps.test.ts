/**
 * A partial dump is readable: the busy core of each kernel generation, sent
 * with `kdump-send --log-only` (the kernel log and the first tier, nothing
 * else), is kept partial, and crash, the one right for that kernel, answers
 * sys, bt, ps and log on it exactly as on the original ELF core, but for
 * its warning that the file is incomplete. And a dump whose connection is
 * killed for good after its first tier is kept partial by the stalled-upload
 * sweep, and reads the same. So a dump cut off after its first tier (a crash
 * storm, a host that rebooted, an operator in a hurry) still gives the
 * panic, the crashed task's stack, the task list and the log.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import { ExitCode } from '../../sender/exit-codes.js';
import { keepStalledUploads } from '../../receiver/ingest/stalled-uploads.js';
import { startCuttingProxy } from '../helpers/cutting-proxy.js';
import { runSender } from '../helpers/cli.js';
import { haveJudgeFor, runJudgeFor } from '../helpers/judges.js';
import { fixturesMissing, GENERATION_NAMES, generation, type FixtureGeneration } from '../helpers/real-fixtures.js';
import { startTestReceiver, type TestReceiver } from '../helpers/receiver.js';

/** The lines crash adds for an incomplete file (and the file's name): everything else must match. */
const INCOMPLETE_WARNING = [
  /^\s*DUMPFILE:/,
  /^WARNING: .*vmcore:$/,
  /This dumpfile is incomplete\.\s+This may cause the crash session/,
  /to fail entirely, may cause commands to fail, or may result in/,
  /unpredictable runtime behavior\./,
  /NOTE: This dumpfile may be analyzed with the --zero_excluded command/,
  /line option, in which case any read requests from missing pages/,
  /will return zero-filled memory\./,
];

async function crashAnswers(g: FixtureGeneration, dump: string): Promise<string> {
  const result = await runJudgeFor(g, 'crash', ['-s', g.vmlinux!, dump], { input: 'sys\nbt\nps\nlog\nquit\n', timeoutMs: 300_000 });
  expect(result.code, result.stderr + result.stdout.slice(0, 2000)).toBe(0);
  return result.stdout.split('\n').filter((line) => line.trim() !== '' && !INCOMPLETE_WARNING.some((re) => re.test(line))).join('\n');
}

async function until(what: string, condition: () => Promise<boolean>, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

let receiver: TestReceiver;
const ready = GENERATION_NAMES.filter((name) => fixturesMissing(name) === '' && haveJudgeFor(generation(name)!, 'crash'));

beforeAll(async () => {
  // Checkpoints often: the sweep keeps what the last one made durable.
  if (ready.length > 0) receiver = await startTestReceiver({ checkpointChunks: 2 });
});
afterAll(async () => {
  await receiver?.stop();
});

for (const name of GENERATION_NAMES) {
  const g = generation(name);
  const why = fixturesMissing(name) || (g && !haveJudgeFor(g, 'crash') ? `no crash right for ${name}: \`bash test/fixtures/ensure-fixtures.sh\` makes the judge chroots` : '');

  describe.skipIf(why !== '')(`${name} (${why || g!.kver}): --log-only keeps a partial dump crash reads like the original`, () => {
    const original = g?.vmcores.busy ?? '';
    let whole: Promise<string> | undefined;
    /** crash's answers on the original, asked once. */
    const wholeAnswers = () => (whole ??= crashAnswers(g!, original));

    it('--log-only stores the log and the first tier only, listed partial; crash answers sys, bt, ps and log as on the original', async () => {
      const hostId = `partial-${name.replace(/\./g, '-')}`;
      const result = await runSender(['--server', receiver.tcpUrl, '--host-id', hostId, '--log-only', '--deadline', '60', original], 300_000);
      expect(result.code, result.stderr).toBe(ExitCode.STORED);
      const done = JSON.parse(result.stdout);
      expect(done.partial?.why).toBe('log only: the kernel log and the first tier');
      const tier = /first tier: (\d+) pages \(([\d.]+)% of those kept/.exec(result.stderr);
      expect(tier, result.stderr).not.toBeNull();
      // Far from the whole dump (the point of a partial one), yet enough for crash.
      expect(Number(tier![2])).toBeLessThan(90);
      const record = (await receiver.catalog.get(done.dumpId))!;
      expect(record).toMatchObject({ status: 'partial', partialReason: 'log-only' });
      const file = path.join(receiver.dataDir, done.path);
      expect(existsSync(file)).toBe(true);

      const [partial, answers] = await Promise.all([crashAnswers(g!, file), wholeAnswers()]);
      expect(partial).toContain('Kernel panic - not syncing: sysrq triggered crash');
      expect(partial).toBe(answers);
    }, 900_000);

    it('a connection killed for good after the first tier: the sweep keeps it partial (abandoned), and crash reads it the same', async () => {
      const hostId = `cut-${name.replace(/\./g, '-')}`;
      // At -d 1 the rest of the dump takes seconds to send after the first tier: time to see the tier
      // durable in the catalog and kill the link for good (the receiver is never reachable again).
      const proxy = await startCuttingProxy({ targetPort: receiver.tcpAddress!.port, cutAfterBytes: 0, cuts: 0 });
      const sent = runSender(['--server', `tcp://127.0.0.1:${proxy.port}`, '--host-id', hostId, '--dump-level', '1', '--deadline', '5', '--connect-timeout', '1', original], 300_000);
      await until('the first tier durable', async () => {
        const [row] = await receiver.catalog.list({ hostId });
        return row !== undefined && row.firstTierChunks !== null && row.nextSeq > row.firstTierChunks;
      });
      await proxy.close();
      const result = await sent;
      expect(result.code, result.stderr).not.toBe(ExitCode.STORED);
      const [record] = await receiver.catalog.list({ hostId });
      await until('the upload let go', async () => !receiver.registry.isAttached(record.dumpId));
      expect(record.status).toBe('receiving');
      expect(record.firstTierChunks).toBeGreaterThan(0);
      expect(record.nextSeq).toBeGreaterThanOrEqual(record.firstTierChunks!);
      const kept = await keepStalledUploads({ catalog: receiver.catalog, storage: receiver.storage, registry: receiver.registry, logger: pino({ level: 'silent' }), afterMs: 0 });
      expect(kept).toEqual([record.dumpId]);
      const after = (await receiver.catalog.get(record.dumpId))!;
      expect(after).toMatchObject({ status: 'partial', partialReason: 'abandoned' });
      expect(after.pagesStored + after.pagesZero).toBeLessThan(after.pagesTotal);
      const [partial, answers] = await Promise.all([crashAnswers(g!, path.join(receiver.dataDir, after.path)), wholeAnswers()]);
      expect(partial).toBe(answers);
    }, 900_000);
  });
}
