/**
 * Dump levels against the oracle: for levels 1, 2, 4, 8, 16 and 31 the set
 * of pfns we keep must be the set makedumpfile 1.7.2 keeps (its bitmap 2),
 * on the idle and the busy real vmcores.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KdumpFileReader } from '../../shared/kdump/reader.js';
import { computeExclusion } from '../../sender/dump-level/exclusion.js';
import { VmcoreSource } from '../../sender/vmcore-source.js';
import { ROOT, run } from '../helpers/cli.js';

const CACHE = (await import('../helpers/real-fixtures.js')).FIXTURE_CACHE;
const FIXTURES = ['idle', 'busy'];
const LEVELS = [1, 2, 4, 8, 16, 31];
const have = FIXTURES.every((f) => existsSync(path.join(CACHE, `${f}.vmcore`))) && existsSync('/usr/bin/makedumpfile');

/** The first pfn where two sorted pfn lists differ, for a readable failure. */
function firstDifference(ours: number[], theirs: number[]): string {
  for (let i = 0; i < Math.max(ours.length, theirs.length); i++) {
    if (ours[i] !== theirs[i]) return `at index ${i}: ours ${ours[i]?.toString(16)}, makedumpfile ${theirs[i]?.toString(16)}`;
  }
  return 'none';
}

describe.runIf(have)('dump levels equal makedumpfile\'s (need the real fixtures and makedumpfile: `npm test` provides them)', () => {
  let work: string;
  beforeAll(async () => {
    work = await mkdtemp(path.join(tmpdir(), 'netdump-levels-'));
  });
  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
  });

  for (const fixture of FIXTURES) {
    it(`${fixture}.vmcore at -d ${LEVELS.join(', ')}`, async () => {
      const vmcore = path.join(CACHE, `${fixture}.vmcore`);
      const source = VmcoreSource.open(vmcore);
      try {
        const kept: number[] = [];
        for (const level of LEVELS) {
          const out = path.join(work, `${fixture}-d${level}.kdump`);
          const made = await run('makedumpfile', ['-f', '-l', '-d', String(level), vmcore, out], { timeoutMs: 120_000 });
          expect(made.code, made.stderr + made.stdout).toBe(0);
          const reader = await KdumpFileReader.open(out);
          const theirs = reader.pfnsIn(reader.dumpableBitmap);
          await reader.close();
          await rm(out);
          const exclusion = computeExclusion(source, level);
          expect(exclusion.level, exclusion.warnings.join('; ')).toBe(level);
          const ours = exclusion.dumpable.flatMap((r) => Array.from({ length: r.pageCount }, (_, i) => r.startPfn + i));
          expect(ours.length, `-d ${level}: ${firstDifference(ours, theirs)}`).toBe(theirs.length);
          expect(firstDifference(ours, theirs), `-d ${level}`).toBe('none');
          kept.push(ours.length);
        }
        // The levels do bite: -d 31 keeps far fewer pages than -d 1.
        expect(kept[LEVELS.indexOf(31)]).toBeLessThan(kept[0] / 2);
      } finally {
        source.close();
      }
    });
  }
});
