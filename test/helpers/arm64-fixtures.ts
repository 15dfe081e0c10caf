/**
 * The arm64 real-vmcore fixtures of test/fixtures/ensure-arm64.sh: Debian
 * 12's arm64 kernel crashed under qemu-system-aarch64, its debug vmlinux, the
 * reference logs, and Debian's arm64 makedumpfile, which runs here under
 * qemu-user through a wrapper script (the host's x86-64 makedumpfile cannot
 * read an arm64 core).
 *
 *   CACHE_ROOT/current/arm64 -> fixtures/arm64-KVER-vN/
 *       KVER, busy.vmcore, idle.vmcore, *.vmcore-dmesg.txt, vmlinux-KVER
 *   CACHE_ROOT/arm64/judge-vM/makedumpfile   the judge
 */
import { existsSync, readdirSync, readFileSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { CACHE_ROOT } from './real-fixtures.js';

export interface Arm64Fixtures {
  dir: string;
  kver: string;
  vmlinux: string;
  vmcores: { busy: string; idle: string };
  /** `makedumpfile --dump-dmesg` of each vmcore, by Debian's arm64 makedumpfile. */
  dmesg: { busy: string; idle: string };
  /** The wrapper that runs Debian's arm64 makedumpfile under qemu-aarch64-static. */
  makedumpfile: string;
}

const MAKE = 'make them with `bash test/fixtures/ensure-arm64.sh` (npm test runs it)';

function currentDir(): string | undefined {
  try {
    return realpathSync(path.join(CACHE_ROOT, 'current', 'arm64'));
  } catch {
    return undefined;
  }
}

/** The newest judge sysroot's makedumpfile wrapper, if one was made. */
function judgeWrapper(): string | undefined {
  const root = path.join(CACHE_ROOT, 'arm64');
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root).filter((name) => /^judge-v\d+$/.test(name))
    .sort((a, b) => Number(b.slice(7)) - Number(a.slice(7)));
  return versions.map((v) => path.join(root, v, 'makedumpfile')).find((file) => existsSync(file));
}

/** The fixtures, or why they are not here (a skip reason that says how to make them). */
export function arm64Fixtures(): Arm64Fixtures | string {
  const dir = currentDir();
  if (!dir) return `no arm64 fixtures in ${path.join(CACHE_ROOT, 'current', 'arm64')}: ${MAKE}`;
  const kverFile = path.join(dir, 'KVER');
  const kver = existsSync(kverFile) ? readFileSync(kverFile, 'utf8').trim() : '';
  const fixtures: Arm64Fixtures = {
    dir,
    kver,
    vmlinux: path.join(dir, `vmlinux-${kver}`),
    vmcores: { busy: path.join(dir, 'busy.vmcore'), idle: path.join(dir, 'idle.vmcore') },
    dmesg: { busy: path.join(dir, 'busy.vmcore-dmesg.txt'), idle: path.join(dir, 'idle.vmcore-dmesg.txt') },
    makedumpfile: judgeWrapper() ?? '',
  };
  const missing = [
    !kver && 'KVER',
    ...Object.values(fixtures.vmcores).filter((f) => !existsSync(f)).map((f) => path.basename(f)),
    ...Object.values(fixtures.dmesg).filter((f) => !existsSync(f)).map((f) => path.basename(f)),
    kver && !existsSync(fixtures.vmlinux) && path.basename(fixtures.vmlinux),
    !fixtures.makedumpfile && 'the arm64 makedumpfile (arm64/judge-vN/makedumpfile)',
  ].filter(Boolean);
  return missing.length ? `the arm64 fixtures in ${dir} lack ${missing.join(', ')}: ${MAKE}` : fixtures;
}
