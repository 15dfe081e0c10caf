/**
 * The `crash …` command the API, the web UI's Copy button and `kdump-receiver
 * show` hand an operator: its parts come from the dump (OSRELEASE from the
 * sender's VMCOREINFO, the path from host id and crash time), so a shell that
 * runs it must see exactly three words and run nothing of the sender's.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import type { DumpRecord } from '../../receiver/catalog/catalog.js';
import { crashCommand, shellArgument } from '../../receiver/api/dump-view.js';

const work = mkdtempSync(path.join(tmpdir(), 'netdump-crash-cmd-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const marker = path.join(work, 'ran');

/** The words a POSIX shell makes of COMMAND, with `crash` swapped for printf so nothing is opened. */
async function wordsOf(command: string): Promise<string[]> {
  expect(command.startsWith('crash ')).toBe(true);
  const { stdout } = await promisify(execFile)('/bin/sh', ['-c', `printf '%s\\0' ${command.slice('crash '.length)}`]);
  return stdout.split('\0').slice(0, -1);
}

const record = (osRelease: string | null, status: DumpRecord['status'] = 'complete') => ({ osRelease, status }) as DumpRecord;

describe('crashCommand', () => {
  it('names a real release and a plain path as they are', () => {
    expect(crashCommand(record('6.1.0-57-amd64'), '/var/lib/kdump-receiver/web-1/2026-12-02-01:40:37/vmcore'))
      .toBe('crash /usr/lib/debug/boot/vmlinux-6.1.0-57-amd64 /var/lib/kdump-receiver/web-1/2026-12-02-01:40:37/vmcore');
    expect(crashCommand(record('7.2.13+deb14-amd64'), '/d/vmcore')).toBe('crash /usr/lib/debug/boot/vmlinux-7.2.13+deb14-amd64 /d/vmcore');
  });

  it('is null for a dump that is not complete', () => {
    expect(crashCommand(record('6.1.0-57-amd64', 'receiving'), '/d/vmcore')).toBeNull();
  });

  for (const hostile of [`6.1.0; touch ${marker}`, `$(touch ${marker})`, `\`touch ${marker}\``, `6.1.0\ntouch ${marker}`, '../../../../etc/passwd', 'x'.repeat(65), '']) {
    it(`puts RELEASE in place of the OSRELEASE ${JSON.stringify(hostile.slice(0, 40))}, and a shell runs none of it`, async () => {
      const command = crashCommand(record(hostile), '/d/vmcore')!;
      expect(await wordsOf(command)).toEqual(['/usr/lib/debug/boot/vmlinux-RELEASE', '/d/vmcore']);
      expect(existsSync(marker)).toBe(false);
    });
  }

  it('quotes a path with spaces, quotes and substitutions so the shell sees it whole and runs nothing', async () => {
    const file = `/data/it's a $(touch ${marker}) \`x\` "dump"/vmcore`;
    const command = crashCommand(record('6.1.0-57-amd64'), file)!;
    expect(await wordsOf(command)).toEqual(['/usr/lib/debug/boot/vmlinux-6.1.0-57-amd64', file]);
    expect(existsSync(marker)).toBe(false);
  });

  it('shellArgument leaves what a shell reads literally, and quotes the rest', async () => {
    expect(shellArgument('/a/b-c_d.e:f@g%h+i,j=k')).toBe('/a/b-c_d.e:f@g%h+i,j=k');
    for (const text of ['a b', "it's", '*', '~root', '$HOME', 'a;b', '']) {
      expect(await wordsOf(`crash ${shellArgument(text)}`)).toEqual([text]);
    }
  });
});
