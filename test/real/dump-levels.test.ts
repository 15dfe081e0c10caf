/**
 * Dump levels against the oracle, on every kernel generation of the
 * fixtures (test/fixtures/ensure-fixtures.sh): for levels 1, 2, 4, 8, 16 and
 * 31 the set of pfns we keep must be the set the makedumpfile right for that
 * kernel keeps (its bitmap 2): the host's 1.7.2 for 5.10 and 6.1, sid's
 * 1.7.8 for 6.12. On 7.1+ makedumpfile 1.7.8 reads no compound_head (the
 * field was renamed compound_info) and drops compound tail pages crash
 * needs; there our set must contain its set, and every pfn we keep beyond it
 * must be a compound tail page.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KdumpFileReader } from '../../shared/kdump/reader.js';
import { computeExclusion } from '../../sender/dump-level/exclusion.js';
import { generationOf } from '../../sender/dump-level/generations.js';
import { VmcoreSource } from '../../sender/vmcore-source.js';
import { haveJudgeFor, runJudgeFor } from '../helpers/judges.js';
import { firstPfnDifference, fixturesMissing, generation, keptPfns, type Generation } from '../helpers/real-fixtures.js';

const LEVELS = [1, 2, 4, 8, 16, 31];
/** The rule generation (sender/dump-level/generations.ts) each kernel's VMCOREINFO must select. */
const RULES: Record<Generation, string> = { '5.10': '<=6.2', '6.1': '<=6.2', '6.12': '6.12', sid: '7.1' };

let work: string;
beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'netdump-levels-'));
});
afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

/** makedumpfile's kept pfns (bitmap 2) at `level`, from the build right for the generation. */
async function makedumpfileKeeps(name: Generation, vmcore: string, level: number, tag: string): Promise<number[]> {
  const out = path.join(work, `${tag}-d${level}.kdump`);
  const made = await runJudgeFor(name, 'makedumpfile', ['-f', '-l', '-d', String(level), vmcore, out], { timeoutMs: 240_000 });
  expect(made.code, made.stderr + made.stdout).toBe(0);
  const reader = await KdumpFileReader.open(out);
  try {
    return reader.pfnsIn(reader.dumpableBitmap);
  } finally {
    await reader.close();
    await rm(out);
  }
}

const EQUAL: { name: Generation; fixtures: ('idle' | 'busy')[] }[] = [
  { name: '5.10', fixtures: ['busy'] },
  { name: '6.1', fixtures: ['idle', 'busy'] },
  { name: '6.12', fixtures: ['busy'] },
];

for (const { name, fixtures } of EQUAL) {
  const g = generation(name);
  const why = fixturesMissing(name) || (g && !haveJudgeFor(g, 'makedumpfile') ? `the makedumpfile right for ${name} (${g.judges.makedumpfile.suite}) is not installed: \`bash test/fixtures/ensure-fixtures.sh\`` : '');
  describe.skipIf(why !== '')(`${name} (${g?.kver ?? why}): dump levels equal makedumpfile ${name === '6.12' ? '1.7.8' : '1.7.2'}'s`, () => {
    for (const fixture of fixtures) {
      it(`${fixture}.vmcore at -d ${LEVELS.join(', ')}`, async () => {
        const vmcore = g!.vmcores[fixture]!;
        const source = VmcoreSource.open(vmcore);
        try {
          expect(generationOf(source.core.vmcoreinfo).id).toBe(RULES[name]);
          const kept: number[] = [];
          for (const level of LEVELS) {
            const theirs = await makedumpfileKeeps(name, vmcore, level, `${name}-${fixture}`);
            const exclusion = computeExclusion(source, level);
            expect(exclusion.level, exclusion.warnings.join('; ')).toBe(level);
            expect(exclusion.generation).toBe(RULES[name]);
            // On every real kernel the guard agrees with the rules: nothing to say.
            expect(exclusion.warnings).toEqual([]);
            const ours = keptPfns(exclusion);
            expect(ours.length, `-d ${level}: ${firstPfnDifference(ours, theirs)}`).toBe(theirs.length);
            expect(firstPfnDifference(ours, theirs), `-d ${level}`).toBe('none');
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
}

{
  const g = generation('sid');
  const why = fixturesMissing('sid') || (g && !haveJudgeFor(g, 'makedumpfile') ? 'sid\'s makedumpfile is not installed: `bash test/fixtures/ensure-fixtures.sh`' : '');
  describe.skipIf(why !== '')(`sid (${g?.kver ?? why}): on 7.1+ we keep what makedumpfile 1.7.8 keeps, and the compound tail pages it drops`, () => {
    it('busy.vmcore at -d 31', async () => {
      const source = VmcoreSource.open(g!.vmcores.busy!);
      try {
        const info = source.core.vmcoreinfo;
        // The premise: 7.1 renamed the field; 1.7.8 looks only for the old name.
        expect(info.offsets.has('page.compound_head')).toBe(false);
        const compoundInfoAt = info.offsets.get('page.compound_info');
        expect(compoundInfoAt).toBeDefined();
        expect(generationOf(info).id).toBe('7.1');
        const theirs = await makedumpfileKeeps('sid', g!.vmcores.busy!, 31, 'sid-busy');
        const exclusion = computeExclusion(source, 31);
        expect(exclusion.level).toBe(31);
        expect(exclusion.warnings).toEqual([]);
        const ours = new Set(keptPfns(exclusion));
        const missing = theirs.filter((pfn) => !ours.has(pfn));
        expect(missing, 'pages makedumpfile keeps and we leave out').toEqual([]);
        const theirSet = new Set(theirs);
        const extra = [...ours].filter((pfn) => !theirSet.has(pfn));
        expect(extra.length).toBeGreaterThan(0);
        // Each extra page is a compound tail page: its struct page says so in compound_info bit 0.
        const memMapOf = await import('../../shared/elf/mem-map.js');
        const { X86_64Translator } = await import('../../shared/elf/x86-64-translate.js');
        const memory = { read: (phys: bigint, length: number) => source.readPhysical(Number(phys), length) };
        const translator = X86_64Translator.fromVmcoreinfo(info, source.core.physBase, memory);
        const sections = memMapOf.locateMemMap(info, translator, memory, source.core.pageMap.maxPfn, source.core.pageSize);
        const size = info.sizes.get('page')!;
        const notTails = extra.filter((pfn) => {
          const section = sections.find((s) => pfn >= s.startPfn && pfn < s.endPfn)!;
          const phys = translator.vtop(section.memMap + BigInt((pfn - section.startPfn) * size))!;
          return (memory.read(phys, size).readBigUInt64LE(compoundInfoAt!) & 1n) === 0n;
        });
        expect(notTails, 'extra pages that are not compound tails').toEqual([]);
      } finally {
        source.close();
      }
    });
  });
}
