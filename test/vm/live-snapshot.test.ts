/**
 * kdump-send --live where it lives: Debian's kernel booted in QEMU keeps
 * running a known workload while the sender reads it from /proc/kcore and a
 * closed receiver on this machine's loopback stores the snapshot
 * (test/vm/live-snapshot.sh). Then: the guest ran on (the workload finished
 * after the snapshot), the catalog files the dump as live with its reason, and
 * crash opens it as it would a crash dump: the workload in `ps`, the kernel
 * log as it was just before the snapshot in `log`, a backtrace of the
 * workload's task in `bt`. One bounded run (TIMEOUT), ~1 minute here.
 *
 * Once per kernel generation of the fixtures (5.10, 6.1, 6.12, sid's newest:
 * their images and modules, test/fixtures/ensure-fixtures.sh), each judged by
 * the crash right for it (test/helpers/real-fixtures.ts JUDGES), but for 6.1's
 * `ps` and `bt`: the host's crash 8.0.2 reads its log but does not enumerate
 * its tasks, not on crash dumps either (test/fixtures/README.md), so trixie's
 * crash 8.0.6 lists the tasks and walks the workload's stack there.
 */
import { existsSync, readFileSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, run, type RunResult } from '../helpers/cli.js';
import { haveJudge, haveJudgeFor, runJudge, runJudgeFor } from '../helpers/judges.js';
import { GENERATIONS, type FixtureGeneration } from '../helpers/real-fixtures.js';
import { startTestReceiver, type TestReceiver } from '../helpers/receiver.js';

const SCRIPT = path.join(ROOT, 'test/vm/live-snapshot.sh');
const haveQemu = existsSync('/usr/bin/qemu-system-x86_64');
/** The crash that lists a generation's tasks and walks their stacks (see above). */
const tasksJudge = (gen: FixtureGeneration) => (gen.generation === '6.1' ? { suite: 'trixie' as const } : undefined);
/** Generations whose kernel image, modules and debug vmlinux the fixtures hold. */
const BOOTABLE = GENERATIONS.filter((g) => g.vmlinuz && g.modulesRoot && g.vmlinux && existsSync(g.vmlinuz));

function parseResult(stdout: string): Record<string, string> {
  return Object.fromEntries(stdout.split('\n').filter((l) => /^[A-Z_]+=/.test(l)).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
}

/**
 * A kernel log line's text, whoever printed it: busybox dmesg gives every line
 * of a record its own "[    1.234567] " prefix, crash's `log` indents a
 * record's continuation lines under its text instead. Both: what follows the
 * timestamp, without the surrounding blanks.
 */
const logText = (line: string): string => line.replace(/^\[\s*\d+\.\d+\] /, '').trim();

/** The log lines from crash's output of `log`: from "Linux version" to the last timestamped line (or its continuations). */
function crashLog(stdout: string): string[] {
  const lines = stdout.split('\n');
  const first = lines.findIndex((l) => /^\[\s*\d+\.\d+\] Linux version /.test(l));
  if (first < 0) return [];
  let last = first;
  for (let i = first; i < lines.length; i++) if (/^\[\s*\d+\.\d+\] /.test(lines[i])) last = i;
  // Continuation lines of the last record are indented under its text.
  while (last + 1 < lines.length && /^\s{4,}\S/.test(lines[last + 1])) last++;
  return lines.slice(first, last + 1);
}

describe.runIf(haveQemu && BOOTABLE.length > 0)('kdump-send --live on a running kernel (needs QEMU, the fixtures\' kernels and the judge chroots\' crash: `npm test` makes them)', () => {
  let work: string;
  const receivers: TestReceiver[] = [];

  beforeAll(async () => {
    work = await mkdtemp(path.join(tmpdir(), 'netdump-vm-live-'));
  });
  afterAll(async () => {
    for (const r of receivers) await r.stop();
    await rm(work, { recursive: true, force: true });
  });

  for (const gen of BOOTABLE) {
    const KVER = gen.kver;
    const VMLINUX = gen.vmlinux!;
    const tasksSuite = tasksJudge(gen)?.suite;
    const judged = haveJudgeFor(gen, 'crash') && (!tasksSuite || haveJudge(tasksSuite, 'crash'));
    it.runIf(judged)(`${gen.generation} (${KVER}): snapshots the running guest from /proc/kcore while its workload runs on; crash opens the snapshot with that workload and the kernel log of the moment`, async () => {
      const receiver = await startTestReceiver({ open: false });
      receivers.push(receiver);
      const hostId = `vm-live-${gen.generation.replace('.', '-')}`;
      const reason = 'vm test: live snapshot';
      const tokenFile = path.join(work, 'token');
      await writeFile(tokenFile, `${(await receiver.catalog.hostTokens.add(hostId))}\n`);
      const dmesgOut = path.join(work, 'guest.dmesg');
      // LIVE_SNAPSHOT_KEEP=DIR keeps the guest console, its dmesg, the script's facts and the stored snapshot there, for a look by hand.
      const keep = process.env.LIVE_SNAPSHOT_KEEP;
      if (keep) await mkdir(keep, { recursive: true });
      const result = await run('bash', [SCRIPT], {
        timeoutMs: 300_000,
        env: {
          ...process.env, RECEIVER_PORT: String(receiver.tcpAddress!.port), TOKEN_FILE: tokenFile, HOST_ID: hostId, REASON: reason, DMESG_OUT: dmesgOut, TIMEOUT: '280',
          KVER, VMLINUZ: gen.vmlinuz!, MODULES_ROOT: gen.modulesRoot!,
          ...(keep ? { CONSOLE_LOG: path.join(keep, 'console.log') } : {}),
        },
      });
      const facts = parseResult(result.stdout);
      const said = `${result.stdout}\n${result.stderr.slice(-4000)}`;
      expect(facts.KDUMP_SEND_EXIT, said).toBe('0');
      // The snapshot stopped nothing: the workload was still there when the sender returned, and finished after it.
      expect(facts.WORKLOAD_ALIVE_AFTER_SEND, said).toBe('1');
      expect(facts.WORKLOAD_DONE, said).toBe('1');
      expect(facts.GUEST_POWERED_OFF, said).toBe('1');
      expect(facts.OOM_KILL, said).toBe('0');
      expect(Number(facts.SENDER_PEAK_RSS_MB), said).toBeLessThan(80);
      const pid = facts.WORKLOAD_PID;
      expect(pid, said).toMatch(/^\d+$/);
      console.log(`vm live run (${KVER}): ${facts.SECONDS} s, sender peak RSS ${facts.SENDER_PEAK_RSS_MB} MB, workload pid ${pid} ran ${facts.WORKLOAD_TICKS} s, ${facts.DMESG_LINES} dmesg lines`);

      // The catalog: a complete dump of this kernel, filed as live with the reason given.
      const [record] = await receiver.catalog.list({ hostId });
      expect(record, 'no catalog row for the host').toBeDefined();
      expect(record).toMatchObject({ status: 'complete', osRelease: KVER });
      expect(record.kind).toBe('live');
      expect(record.liveReason).toBe(reason);

      const file = path.join(receiver.dataDir, record.path);
      if (keep) {
        await copyFile(file, path.join(keep, 'live.kdump'));
        await copyFile(dmesgOut, path.join(keep, 'guest.dmesg'));
        await writeFile(path.join(keep, 'facts.txt'), result.stdout);
      }
      const explain = (what: string, r: RunResult) =>
        `${what}: exit ${r.code}\n---- stdout ----\n${r.stdout.slice(-20_000)}\n---- stderr ----\n${r.stderr.slice(-4000)}`;

      // log, in the crash right for the kernel: the line written just before the snapshot, and every line of the log as dmesg
      // printed it then, in order (lines the kernel printed during the snapshot may follow).
      const crash = await runJudgeFor(gen, 'crash', ['-s', VMLINUX, file], { input: 'log\nquit\n', timeoutMs: 240_000 });
      const crashSaid = explain(`crash (${gen.judges.crash.suite})`, crash);
      expect(crash.code, crashSaid).toBe(0);
      const log = crashLog(crash.stdout);
      expect(log.length, crashSaid).toBeGreaterThan(0);
      expect(log.join('\n'), crashSaid).toMatch(new RegExp(`^\\[\\s*\\d+\\.\\d+\\] live-snapshot-test: before ${facts.KMSG_TOKEN}$`, 'm'));
      const before = (await readFile(dmesgOut, 'utf8')).split('\n').map(logText).filter((t) => t !== '');
      expect(before.length, said).toBeGreaterThan(50);
      expect(before).toContain(`live-snapshot-test: before ${facts.KMSG_TOKEN}`);
      const after = log.map(logText).filter((t) => t !== '');
      const missing: string[] = [];
      let at = 0;
      for (const text of before) {
        const found = after.indexOf(text, at);
        if (found < 0) missing.push(text);
        else at = found + 1;
      }
      expect(missing, `${missing.length} of ${before.length} dmesg lines from before the snapshot not found in order in crash's log:\n${missing.slice(0, 20).join('\n')}\n${crashSaid}`).toEqual([]);

      // ps and bt: on 6.1 in trixie's crash 8.0.6, as the host's 8.0.2 does not enumerate its tasks (only the
      // idle and active ones; test/fixtures/README.md), on crash dumps as well.
      const input = { input: `ps\nbt ${pid}\nquit\n`, timeoutMs: 240_000 };
      const tasks = tasksSuite ? await runJudge(tasksSuite, 'crash', ['-s', VMLINUX, file], input) : await runJudgeFor(gen, 'crash', ['-s', VMLINUX, file], input);
      const tasksSaid = explain(`crash (${tasksSuite ?? gen.judges.crash.suite})`, tasks);
      expect(tasks.code, tasksSaid).toBe(0);
      expect(`${tasks.stdout}\n${tasks.stderr}`, tasksSaid).not.toMatch(/^bt: |bt: invalid/m);
      // ps: the workload's task, by the pid the guest printed.
      expect(tasks.stdout, tasksSaid).toMatch(new RegExp(`^[> ]*${pid}\\s+\\d+\\s+\\d+\\s+[0-9a-f]+\\s+[A-Z]{2}\\s.*\\slive-workload\\s*$`, 'm'));
      // bt: a backtrace of that task.
      const at0 = tasks.stdout.search(new RegExp(`^PID: ${pid}\\s+TASK: `, 'm'));
      expect(at0, tasksSaid).toBeGreaterThanOrEqual(0);
      const bt = tasks.stdout.slice(at0);
      expect(bt, tasksSaid).toMatch(new RegExp(`^PID: ${pid}\\s+TASK: [0-9a-f]+\\s+CPU: \\d+\\s+COMMAND: "live-workload"`, 'm'));
      expect(bt, tasksSaid).toMatch(/^\s*#0 \[[0-9a-f]+\] \S+/m);
    }, 420_000);
  }
});
