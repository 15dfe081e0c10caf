/**
 * Native kernel-log extraction on the real vmcores (Debian 6.1 crashed in
 * QEMU, test/fixtures/ensure-fixtures.sh): byte for byte what Debian's
 * vmcore-dmesg prints, from the original ELF core and from kdump-compressed
 * copies that makedumpfile writes at -d 1 (zero pages stored) and -d 31
 * (zero, cache, user and free pages left out); and the crash summary of both.
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseVmcoreinfo } from '../../shared/elf/vmcoreinfo.js';
import { extractKernelLog, extractKernelLogFromElfCore, extractKernelLogFromKdumpFile } from '../../shared/dmesg/extract.js';
import { openElfCoreDump } from '../../shared/dmesg/elf-core-pages.js';
import { TranslatedKernelMemory } from '../../shared/dmesg/kernel-memory.js';
import { summarizeCrash } from '../../receiver/triage/crash-summary.js';
import { ROOT, run } from '../helpers/cli.js';
import { VMCORE_DMESG, runVmcoreDmesg } from '../helpers/vmcore-dmesg.js';

const CACHE = (await import('../helpers/real-fixtures.js')).FIXTURE_CACHE;
const FIXTURES = ['idle', 'busy'];
const core = (name: string) => path.join(CACHE, `${name}.vmcore`);
const cachedReference = (name: string) => `${core(name)}-dmesg.txt`;
const haveCores = FIXTURES.every((name) => existsSync(core(name)));
/** The live tool is the judge; the fixture script's cached output stands in where kexec-tools is not installed. */
const haveReference = VMCORE_DMESG !== undefined || FIXTURES.every((name) => existsSync(cachedReference(name)));
const haveMakedumpfile = ['/usr/bin/makedumpfile', '/usr/sbin/makedumpfile', '/sbin/makedumpfile'].some((p) => existsSync(p));
const LEVELS = [1, 31];

describe.runIf(haveCores && haveReference)(
  'kernel log of the real vmcores (needs test/fixtures/cache/{idle,busy}.vmcore and vmcore-dmesg or its cached output: `bash test/fixtures/ensure-fixtures.sh`, or `npm test`)',
  () => {
    const reference = new Map<string, Buffer>();
    beforeAll(async () => {
      for (const name of FIXTURES) reference.set(name, VMCORE_DMESG ? await runVmcoreDmesg(core(name)) : readFileSync(cachedReference(name)));
    });

    for (const name of FIXTURES) {
      it(`${name}.vmcore: the ELF core's log is vmcore-dmesg's, byte for byte`, async () => {
        const log = await extractKernelLogFromElfCore(core(name));
        expect(log.length).toBeGreaterThan(20_000);
        expect(log.toString('latin1')).toBe(reference.get(name)!.toString('latin1'));
        expect(log.equals(reference.get(name)!)).toBe(true);
      });

      it(`${name}.vmcore: the same through the page-table walk, as a log in the direct map would be read`, async () => {
        const dump = await openElfCoreDump(core(name));
        try {
          // A one-page "kernel image": every address but the first page's goes through init_top_pgt.
          const info = parseVmcoreinfo(`${dump.vmcoreinfo.raw.replace(/\0+$/, '').replace(/\n?$/, '\n')}NUMBER(KERNEL_IMAGE_SIZE)=4096\n`);
          const memory = new TranslatedKernelMemory(dump.pages, { ...dump, vmcoreinfo: info });
          const prb = info.symbols.get('prb')!;
          const viaImage = new TranslatedKernelMemory(dump.pages, dump);
          expect(await memory.physicalAddress(prb, 'prb')).toBe(await viaImage.physicalAddress(prb, 'prb'));
          // *prb is the static ring on these small machines (research doc section 1.2).
          expect((await memory.read(prb, 8, 'prb')).readBigUInt64LE(0)).toBe(info.symbols.get('printk_rb_static'));
          expect((await extractKernelLog(memory, info)).equals(reference.get(name)!)).toBe(true);
        } finally {
          await dump.close();
        }
      });

      it(`${name}.vmcore: a sysrq panic, with the same signature as the other fixture`, async () => {
        const summary = summarizeCrash((await extractKernelLogFromElfCore(core(name))).toString('latin1'));
        expect(summary).toMatchObject({
          kind: 'panic',
          panicLine: 'Kernel panic - not syncing: sysrq triggered crash',
          bugLine: null,
          ripSymbol: null,
          reason: 'Kernel panic - not syncing: sysrq triggered crash',
        });
        expect(summary.callTrace.slice(0, 5)).toEqual(['sysrq_handle_crash', '__handle_sysrq', 'write_sysrq_trigger', 'proc_reg_write', 'vfs_write']);
        const other = FIXTURES.find((n) => n !== name)!;
        expect(summarizeCrash(reference.get(other)!.toString('latin1')).signature).toBe(summary.signature);
      });
    }

    describe.runIf(haveMakedumpfile)('from kdump-compressed copies (makedumpfile -l -d 1 and -d 31)', () => {
      let work: string;
      beforeAll(async () => {
        work = await mkdtemp(path.join(tmpdir(), 'netdump-dmesg-real-'));
      });
      afterAll(async () => {
        if (work) await rm(work, { recursive: true, force: true });
      });

      for (const name of FIXTURES) {
        for (const level of LEVELS) {
          it(`${name}.vmcore at -d ${level}: the stored file's log is vmcore-dmesg's of the original`, async () => {
            const stored = path.join(work, `${name}-d${level}.kdump`);
            const made = await run('makedumpfile', ['-f', '-l', '-d', String(level), core(name), stored], { timeoutMs: 240_000 });
            expect(made.code, made.stderr + made.stdout).toBe(0);
            try {
              expect((await extractKernelLogFromKdumpFile(stored)).equals(reference.get(name)!)).toBe(true);
            } finally {
              await rm(stored, { force: true });
            }
          });
        }
      }
    });
  },
);
