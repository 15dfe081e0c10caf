/**
 * The real-vmcore fixtures (test/fixtures/ensure-fixtures.sh: Debian's kernels
 * crashed in QEMU, cached outside the clone) and how the real tools' outputs
 * are compared.
 *
 * Two views of the cache:
 * - FIXTURE_CACHE / KVER / VMLINUX: the 6.1 set (the host's Debian 12
 *   kernel), with the file names the tests have always used
 *   (idle.vmcore, busy.vmcore, their -dmesg.txt, vmlinux-KVER, KVER);
 * - generations() / GENERATIONS / generation(): every kernel generation
 *   (5.10, 6.1, 6.12, sid) from CACHE_ROOT/manifest.json, each with the
 *   judges (crash, makedumpfile, drgn, vmcore-dmesg) right for it (JUDGES;
 *   test/helpers/judges.ts runs them).
 */
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'vitest';
import { run } from './cli.js';

/** Root of the fixture cache: ${KDUMP_NETDUMP_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kdump-netdump}, as in ensure-fixtures.sh. */
export const CACHE_ROOT = process.env.KDUMP_NETDUMP_CACHE || path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'kdump-netdump');
/** What ensure-fixtures.sh made (FixtureManifest). */
export const MANIFEST_PATH = path.join(CACHE_ROOT, 'manifest.json');

/** CACHE_ROOT/current/GEN is a symlink to GEN's newest complete fixture directory. */
const currentDir = (generation: Generation) => {
  const link = path.join(CACHE_ROOT, 'current', generation);
  try {
    return realpathSync(link);
  } catch {
    return link;
  }
};

/** The 6.1 fixture directory: idle.vmcore, busy.vmcore, *.vmcore-dmesg.txt, KVER, vmlinux-KVER (absent before the fixtures are made). */
export const FIXTURE_CACHE = currentDir('6.1');
const KVER_FILE = path.join(FIXTURE_CACHE, 'KVER');
/** The crashed 6.1 kernel's release, '' before the fixtures are made. */
export const KVER = existsSync(KVER_FILE) ? readFileSync(KVER_FILE, 'utf8').trim() : '';
/** The 6.1 kernel's debug vmlinux (a symlink into CACHE_ROOT/kernels/KVER/). */
export const VMLINUX = path.join(FIXTURE_CACHE, `vmlinux-${KVER}`);

/** Whether a tool is installed where Debian puts it. */
export const onPath = (tool: string) => ['/usr/bin', '/usr/sbin', '/bin', '/sbin'].some((dir) => existsSync(path.join(dir, tool)));

// ---------------------------------------------------------------- judges

/** The kernel generations ensure-fixtures.sh makes. */
export type Generation = '5.10' | '6.1' | '6.12' | 'sid';
export const GENERATION_NAMES: readonly Generation[] = ['5.10', '6.1', '6.12', 'sid'];
/** Where a judge tool comes from: the host (Debian 12) or a chroot of scripts/judge-chroots.sh. */
export type JudgeSuite = 'host' | 'trixie' | 'sid';
export type JudgeTool = 'crash' | 'makedumpfile' | 'drgn' | 'vmcore-dmesg';
export interface JudgeChoice {
  suite: JudgeSuite;
  /** Options this tool needs for this kernel, before the caller's own. */
  args?: readonly string[];
  /** What is known wrong or odd with this tool on this kernel. */
  caveat?: string;
}
export type Judges = Readonly<Record<JudgeTool, JudgeChoice>>;

/**
 * Which tool build reads which kernel (the team's notes, checked on the
 * fixtures; test/fixtures/README.md). Host: Debian 12's crash 8.0.2,
 * makedumpfile 1.7.2, kexec-tools 2.0.25; trixie: crash 8.0.6,
 * makedumpfile 1.7.6, drgn 0.0.31; sid: crash 9.x, makedumpfile 1.7.8,
 * drgn 0.3.x.
 */
export const JUDGES: Readonly<Record<Generation, Judges>> = {
  '5.10': {
    crash: { suite: 'host' },
    makedumpfile: { suite: 'host' },
    drgn: { suite: 'trixie' },
    'vmcore-dmesg': { suite: 'host' },
  },
  '6.1': {
    crash: { suite: 'host' },
    makedumpfile: { suite: 'host', caveat: 'makedumpfile 1.7.2 prints "The kernel version is not supported." for 6.1 but exits 0; its output is right' },
    drgn: { suite: 'trixie' },
    'vmcore-dmesg': { suite: 'host' },
  },
  '6.12': {
    crash: { suite: 'trixie' },
    makedumpfile: { suite: 'sid' },
    drgn: { suite: 'trixie' },
    'vmcore-dmesg': { suite: 'host' },
  },
  sid: {
    crash: { suite: 'sid', args: ['--no_modules'], caveat: 'crash 9.0.2 stops in module_init (invalid structure member offset: module_num_gpl_syms) on 7.2 unless given --no_modules' },
    makedumpfile: { suite: 'sid', caveat: 'makedumpfile 1.7.8 drops compound tail pages on 7.1+ (known wrong there): not a reference for the kept page set' },
    drgn: { suite: 'sid' },
    'vmcore-dmesg': { suite: 'host' },
  },
};

// -------------------------------------------------------------- manifest

/** One generation's fixtures; every path is absolute and exists (absent ones are undefined). */
export interface FixtureGeneration {
  generation: Generation;
  /** Debian suite the kernel comes from: bullseye, bookworm, bookworm-security, sid. */
  suite: string;
  /** Kernel release, e.g. '6.12.117+deb12-amd64'. */
  kver: string;
  /** Debian version of the kernel packages, e.g. '6.12.117-1~deb12u1'. */
  packageVersion: string;
  /** make-vmcore.sh recipe version the vmcores were made with. */
  recipe: number;
  /** CACHE_ROOT/fixtures/KVER-vN: KVER, busy.vmcore, (idle.vmcore), *-dmesg.txt, vmlinux-KVER. */
  dir: string;
  /** Debug vmlinux (CACHE_ROOT/kernels/KVER/vmlinux). */
  vmlinux?: string;
  /** Kernel image the guest booted. */
  vmlinuz?: string;
  /** Holds lib/modules/KVER ('/' for the host's kernel). */
  modulesRoot?: string;
  /** GNU build ID of vmlinux, checked against each vmcore. */
  buildId?: string;
  packages: { image: string; dbg: string };
  /** ELF vmcores: busy (1024 MiB, 2 CPUs, the rich workload) on every generation, idle (512 MiB, 1 CPU) on 6.1 only. */
  vmcores: { busy?: string; idle?: string };
  /** `vmcore-dmesg` of each vmcore (reference output). */
  dmesg: { busy?: string; idle?: string };
  /** The tools right for this kernel (JUDGES[generation]). */
  judges: Judges;
}

export interface ChrootVersions {
  suite: string;
  recipe: number;
  crash: string;
  makedumpfile: string;
  drgn: string;
  'kexec-tools': string;
  'vmcore-dmesg': string;
  made: string;
}

export interface FixtureManifest {
  version: 1;
  root: string;
  recipe: number;
  generations: FixtureGeneration[];
  /** The judge chroots made (scripts/judge-chroots.sh), with the tool versions found in each. */
  chroots: Partial<Record<'trixie' | 'sid', { dir: string; versions: ChrootVersions }>>;
}

const present = (file: unknown): string | undefined => (typeof file === 'string' && file !== '' && existsSync(file) ? file : undefined);

/** manifest.json as it is now, paths that do not exist dropped; undefined before ensure-fixtures.sh ran. */
export function readManifest(): FixtureManifest | undefined {
  let raw: any;
  try {
    raw = JSON.parse(readFileSync(MANIFEST_PATH, 'utf8'));
  } catch {
    return undefined;
  }
  if (raw?.version !== 1 || !Array.isArray(raw.generations)) return undefined;
  const generations: FixtureGeneration[] = [];
  for (const g of raw.generations) {
    if (!GENERATION_NAMES.includes(g?.generation)) continue;
    const generation = g.generation as Generation;
    generations.push({
      generation,
      suite: String(g.suite ?? ''),
      kver: String(g.kver ?? ''),
      packageVersion: String(g.packageVersion ?? ''),
      recipe: Number(g.recipe),
      dir: String(g.dir ?? ''),
      vmlinux: present(g.vmlinux),
      vmlinuz: present(g.vmlinuz),
      modulesRoot: present(g.modulesRoot),
      buildId: typeof g.buildId === 'string' ? g.buildId : undefined,
      packages: { image: String(g.packages?.image ?? ''), dbg: String(g.packages?.dbg ?? '') },
      vmcores: { busy: present(g.vmcores?.busy), idle: present(g.vmcores?.idle) },
      dmesg: { busy: present(g.dmesg?.busy), idle: present(g.dmesg?.idle) },
      judges: JUDGES[generation],
    });
  }
  const chroots: FixtureManifest['chroots'] = {};
  for (const suite of ['trixie', 'sid'] as const) {
    const c = raw.chroots?.[suite];
    if (c && present(c.dir)) chroots[suite] = { dir: c.dir, versions: c.versions };
  }
  return { version: 1, root: String(raw.root ?? CACHE_ROOT), recipe: Number(raw.recipe), generations, chroots };
}

/** The manifest read when this module was loaded. */
export const MANIFEST: FixtureManifest | undefined = readManifest();

/** The generations whose fixtures are complete (busy vmcore, its dmesg reference and the vmlinux exist), oldest kernel first. */
export function generations(manifest: FixtureManifest | undefined = MANIFEST): FixtureGeneration[] {
  return (manifest?.generations ?? []).filter((g) => g.vmcores.busy && g.dmesg.busy && g.vmlinux);
}

/** generations() when this module was loaded; empty before the fixtures are made. */
export const GENERATIONS: readonly FixtureGeneration[] = generations();

/** One generation's complete fixtures, or undefined. */
export function generation(name: Generation): FixtureGeneration | undefined {
  return GENERATIONS.find((g) => g.generation === name);
}

/** Why a generation's fixtures cannot be used ('' when they can): for describe.runIf / skip messages. */
export function fixturesMissing(name: Generation): string {
  if (generation(name)) return '';
  const made = `make them with \`FIXTURES=${name} bash test/fixtures/ensure-fixtures.sh\` (or \`npm test\`)`;
  if (!MANIFEST) return `no fixture manifest at ${MANIFEST_PATH}: ${made}`;
  const g = MANIFEST.generations.find((x) => x.generation === name);
  if (!g) return `no ${name} fixtures in ${MANIFEST_PATH}: ${made}`;
  const missing = [!g.vmcores.busy && 'busy.vmcore', !g.dmesg.busy && 'busy.vmcore-dmesg.txt', !g.vmlinux && 'vmlinux'].filter(Boolean);
  return `${name} (${g.kver}) lacks ${missing.join(', ')} in ${g.dir}: ${made}`;
}

// ------------------------------------------------------------ comparison

/** The pfns a dump-level exclusion keeps, one by one in order (for comparison with makedumpfile's bitmap). */
export const keptPfns = (exclusion: { dumpable: readonly { startPfn: number; pageCount: number }[] }): number[] =>
  exclusion.dumpable.flatMap((r) => Array.from({ length: r.pageCount }, (_, i) => r.startPfn + i));

/** The first place two sorted pfn lists differ, for a readable failure; 'none' when they are equal. */
export function firstPfnDifference(ours: readonly number[], theirs: readonly number[]): string {
  for (let i = 0; i < Math.max(ours.length, theirs.length); i++) {
    if (ours[i] !== theirs[i]) return `at index ${i}: ours ${ours[i]?.toString(16)}, makedumpfile ${theirs[i]?.toString(16)}`;
  }
  return 'none';
}

/**
 * makedumpfile and crash indent the continuation lines of a multi-line
 * record under the text; vmcore-dmesg does not. Undo the indentation so the
 * three tools' logs compare line for line.
 */
export function unindentContinuations(log: string): string {
  let indent = 0;
  return log.split('\n').map((line) => {
    const stamp = /^\[ *\d+\.\d+\] /.exec(line);
    if (stamp) {
      indent = stamp[0].length;
      return line;
    }
    return indent > 0 && /^ *$/.test(line.slice(0, indent)) ? line.slice(indent) : line;
  }).join('\n');
}

/** crash's answers to bt, sys and log on a dump, without the DUMPFILE line: it names the file (and says PARTIAL DUMP for any dump level > 0). */
export async function crashSession(vmcore: string): Promise<string> {
  const result = await run('crash', ['-s', VMLINUX, vmcore], { input: 'bt\nsys\nlog\nquit\n', timeoutMs: 240_000 });
  expect(result.code, result.stderr).toBe(0);
  return result.stdout.split('\n').filter((line) => !/^\s*DUMPFILE:/.test(line)).join('\n');
}
