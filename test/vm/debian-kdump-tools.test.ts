/**
 * The project as an operator meets it: a stock Debian 12 host (debootstrap,
 * linux-image, kdump-tools; test/vm/debian-host/make-rootfs.sh) with the
 * kdump-netdump-sender package installed and configured the way the README
 * says (test/vm/debian-host/prepare-host.sh), booted in QEMU with the
 * crashkernel= kdump-tools asks for. kdump-tools loads the capture kernel
 * itself; the test only says when to crash (through netdump-test-gate, the
 * one thing in the image no host has). One QEMU run, three boots:
 *   boot 1: crash with the receiver up -> kdump-tools' capture boot runs our
 *           kdump-send.service, the receiver stores the dump, the host reboots;
 *   boot 2: /var/crash is still empty (kdump-tools' own save did not run);
 *           the receiver goes down, crash again -> kdump-send gives up at its
 *           DEADLINE and kdump-tools saves the dump locally, as before;
 *   boot 3: /var/crash holds that dump; power off.
 * ~6-8 minutes under TCG; every wait is bounded.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DumpRecord, TriageRecord } from '../../receiver/catalog/catalog.js';
import { ROOT, run } from '../helpers/cli.js';
import { freePort } from '../helpers/ports.js';
import { KVER, VMLINUX } from '../helpers/real-fixtures.js';
import { startTestReceiver, type TestReceiver } from '../helpers/receiver.js';
import { PACKAGES, packagesMissing } from '../helpers/packages.js';

const MAKE_ROOTFS = path.join(ROOT, 'test/vm/debian-host/make-rootfs.sh');
const PREPARE = path.join(ROOT, 'test/vm/debian-host/prepare-host.sh');
const HOST_ID = 'bookworm-kdump';
/** The README's DEADLINE example: how long the capture kernel tries the receivers before kdump-tools saves locally. */
const DEADLINE_S = 30;
const QEMU_LIMIT_S = 1_200;

const missing = [
  ...packagesMissing(),
  ...(process.getuid?.() === 0 ? [] : ['root (chroot and mount build the host image)']),
  ...(existsSync('/usr/bin/qemu-system-x86_64') ? [] : ['qemu-system-x86_64']),
  ...(KVER !== '' && existsSync(VMLINUX) ? [] : ['the 6.1 fixtures\' debug vmlinux (test/fixtures/ensure-fixtures.sh)']),
];

/** What the guest's gate said each time it asked, with the test's answer. */
interface GateVisit {
  boot: string;
  loaded: string;
  /** `kdump-config show` said "current state: ready to kdump". */
  ready: string;
  crashSize: number;
  /** kdump-tools' dump directories in /var/crash (named YYYYMMDDhhmm; kdump_lock and kexec_cmd are its own files). */
  crashDirs: string[];
  answer: string;
}

function facts(stdout: string): Record<string, string> {
  return Object.fromEntries(stdout.split('\n').filter((l) => /^[A-Z_]+=/.test(l)).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, ms: number): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

describe.skipIf(missing.length > 0)(`a stock Debian 12 host with kdump-tools and the sender package, crashed in QEMU${missing.length ? ` (needs ${missing.join(', ')}: npm test provides them)` : ''}`, () => {
  const work = mkdtempSync(path.join(tmpdir(), 'netdump-debian-host-'));
  const dataDir = path.join(work, 'receiver');
  let receiver: TestReceiver | undefined;
  let image: Record<string, string> = {};
  const visits: GateVisit[] = [];
  let console_ = '';
  let qemuExit: number | null = null;
  let stored: { record: DumpRecord; triage: TriageRecord } | undefined;
  let imageJson: { packages: Record<string, string> };

  beforeAll(async () => {
    await mkdir(dataDir);
    receiver = await startTestReceiver({ open: false, dataDir });
    const tokenFile = path.join(work, 'token');
    await writeFile(tokenFile, `${await receiver.catalog.hostTokens.add(HOST_ID)}\n`, { mode: 0o600 });

    const made = await run('bash', [MAKE_ROOTFS, KVER], { timeoutMs: 600_000 });
    expect(made.code, made.stderr).toBe(0);
    const rootfs = made.stdout.trim().split('\n').pop()!;
    imageJson = JSON.parse(readFileSync(path.join(rootfs, 'kdump-netdump-image.json'), 'utf8'));
    const prepared = await run('bash', [PREPARE, path.join(work, 'vm')], {
      timeoutMs: 300_000,
      env: {
        ...process.env, ROOTFS: rootfs, SENDER_DEB: PACKAGES.senderDeb, TOKEN_FILE: tokenFile,
        SERVERS: 'tcp://10.0.2.100:7341', DEADLINE: String(DEADLINE_S), GATE: '10.0.2.101:80',
      },
    });
    expect(prepared.code, prepared.stderr).toBe(0);
    image = facts(prepared.stdout);

    // The gate: boot 1 crashes with the receiver up; boot 2 reports /var/crash, the receiver
    // goes down, it crashes again; boot 3 reports /var/crash and powers off.
    const boots: string[] = [];
    const gate = http.createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://gate');
      const boot = url.searchParams.get('boot') ?? '';
      if (!boots.includes(boot)) boots.push(boot);
      const n = boots.indexOf(boot) + 1;
      const answer = async (): Promise<string> => {
        if (n === 1) return 'crash';
        if (n === 2 && receiver) {
          stored = await waitFor('the first dump, stored and triaged', async () => {
            const [record] = await receiver!.catalog.list({ hostId: HOST_ID });
            const found = record && (await receiver!.catalog.getWithTriage(record.dumpId));
            return found && found.triage.triagedAt !== null ? found : undefined;
          }, 60_000).catch(() => undefined);
          await receiver.stop();
          receiver = undefined;
          return 'crash';
        }
        return n === 2 ? 'crash' : 'poweroff';
      };
      void answer().then((a) => {
        // A guest whose request failed asks again: each boot counts once.
        if (!visits.some((v) => v.boot === boot)) visits.push({
          boot, loaded: url.searchParams.get('loaded') ?? '', ready: url.searchParams.get('ready') ?? '', crashSize: Number(url.searchParams.get('crash_size')),
          crashDirs: (url.searchParams.get('crash_dirs') ?? '').split(',').filter((d) => /^\d{12}$/.test(d)), answer: a,
        });
        res.end(a);
      });
    });
    const gatePort = await freePort();
    await new Promise<void>((resolve) => gate.listen(gatePort, '127.0.0.1', resolve));

    const receiverPort = receiver.tcpAddress!.port;
    const qemu = spawn('timeout', ['--kill-after=10', String(QEMU_LIMIT_S), 'qemu-system-x86_64',
      '-accel', 'tcg', '-m', '1024', '-smp', '1', '-display', 'none', '-monitor', 'none', '-serial', 'stdio',
      '-drive', `file=${image.IMAGE},format=raw,if=virtio`,
      // restrict=on: the guest reaches nothing but the receiver and the gate.
      '-nic', `user,model=virtio-net-pci,restrict=on,guestfwd=tcp:10.0.2.100:7341-cmd:nc -N 127.0.0.1 ${receiverPort},guestfwd=tcp:10.0.2.101:80-cmd:nc -N 127.0.0.1 ${gatePort}`,
      '-kernel', image.KERNEL, '-initrd', image.INITRD, '-append', image.CMDLINE], { stdio: ['ignore', 'pipe', 'pipe'] });
    qemu.stdout.on('data', (d: Buffer) => { console_ += d.toString('latin1'); });
    qemu.stderr.on('data', (d: Buffer) => { console_ += d.toString('latin1'); });
    qemuExit = await new Promise<number | null>((resolve) => qemu.on('exit', (code) => resolve(code)));
    await new Promise((resolve) => gate.close(resolve));
    await writeFile(path.join(work, 'console.log'), console_);
  }, (QEMU_LIMIT_S + 900) * 1000);

  afterAll(async () => {
    await receiver?.stop();
    await rm(work, { recursive: true, force: true });
  });

  const tail = () => console_.replace(/\r/g, '').split('\n').slice(-60).join('\n');

  it('boots three times and powers off by itself, within the time limit', () => {
    expect(visits.map((v) => v.answer), tail()).toEqual(['crash', 'crash', 'poweroff']);
    expect(new Set(visits.map((v) => v.boot)).size).toBe(3);
    expect(qemuExit, tail()).toBe(0);
  });

  it('kdump-tools loads the capture kernel into the reservation its own grub.d snippet asks for', () => {
    // kdump-tools' /etc/default/grub.d/kdump-tools.cfg: crashkernel=384M-:128M, so 128 MiB on this 1 GiB host.
    expect(image.CMDLINE).toMatch(/crashkernel=384M-:128M/);
    for (const visit of visits) {
      expect(visit.loaded).toBe('1');
      expect(visit.ready).toBe('1');
      expect(visit.crashSize).toBe(128 * 1024 * 1024);
    }
    expect(imageJson.packages['kdump-tools']).toMatch(/^1:1\.8/);
  });

  it('first crash: kdump-send in kdump-tools\' capture boot has the receiver store and triage the dump, and kdump-tools\' local save does not run', () => {
    expect(stored, tail()).toBeDefined();
    expect(stored!.record).toMatchObject({ status: 'complete', hostId: HOST_ID, osRelease: KVER });
    expect(stored!.record.dumpLevel.applied).toBe(31);
    expect(stored!.triage.reason).toMatch(/sysrq triggered crash/);
    expect(console_).toMatch(/kdump-send: stored by tcp:\/\/10\.0\.2\.100:7341/);
    // Boot 2 saw /var/crash as kdump-tools left it: nothing saved by the first crash.
    expect(visits[1]?.crashDirs).toEqual([]);
    const rss = /kdump-send: stored by .*peak RSS ([0-9.]+) MB/.exec(console_);
    console.log(`debian host: sender peak RSS ${rss?.[1]} MB in the 128M reservation; ${console_.match(/kdump-send: memory: .*/)?.[0] ?? ''}`);
  });

  it('the stored dump opens in crash with the kernel\'s debug vmlinux: sys, bt and log read it', async () => {
    expect(stored).toBeDefined();
    const file = path.join(dataDir, stored!.record.path);
    const crash = await run('crash', ['-s', VMLINUX, file], { input: 'sys\nbt\nlog\nquit\n', timeoutMs: 240_000 });
    expect(crash.stdout).toMatch(new RegExp(`RELEASE: ${KVER.replace(/[.+]/g, '\\$&')}`));
    expect(crash.stdout).toMatch(/PANIC: "sysrq: Trigger a crash"|PANIC: "Kernel panic - not syncing: sysrq triggered crash"/);
    expect(crash.stdout).toMatch(/sysrq_handle_crash/);
    expect(crash.stdout).toMatch(/sysrq: Trigger a crash/);
    expect(crash.stdout + crash.stderr).not.toMatch(/page excluded|read error|seek error|invalid kernel virtual address/);
  });

  it(`second crash, receiver down: kdump-send gives up after DEADLINE=${DEADLINE_S} s and kdump-tools saves the dump to /var/crash as before`, async () => {
    expect(console_).toMatch(/kdump-send: error UNAVAILABLE/);
    expect(console_).toMatch(/kdump-tools: saved vmcore in \/var\/crash\/\d{12}/);
    const dirs = visits[2]?.crashDirs ?? [];
    expect(dirs, tail()).toHaveLength(1);
    // The image after power-off holds what kdump-tools wrote there.
    const listed = await run('debugfs', ['-R', `ls -l /var/crash/${dirs[0]}`, image.IMAGE]);
    expect(listed.stdout).toMatch(/ dump\.\d{12}\s*$/m);
    expect(listed.stdout).toMatch(/ dmesg\.\d{12}\s*$/m);
  });
});
