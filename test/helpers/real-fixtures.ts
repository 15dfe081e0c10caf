/**
 * The real-vmcore fixtures (test/fixtures/ensure-fixtures.sh: Debian's kernel
 * crashed in QEMU) and how the real tools' outputs are compared.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'vitest';
import { ROOT, run } from './cli.js';

export const FIXTURE_CACHE = path.join(ROOT, 'test/fixtures/cache');
const KVER_FILE = path.join(FIXTURE_CACHE, 'KVER');
/** The crashed kernel's release, '' before the fixtures are made. */
export const KVER = existsSync(KVER_FILE) ? readFileSync(KVER_FILE, 'utf8').trim() : '';
export const VMLINUX = path.join(FIXTURE_CACHE, `vmlinux-${KVER}`);

/** Whether a tool is installed where Debian puts it. */
export const onPath = (tool: string) => ['/usr/bin', '/usr/sbin', '/bin', '/sbin'].some((dir) => existsSync(path.join(dir, tool)));

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
