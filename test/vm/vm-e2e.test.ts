/**
 * The sender where it lives: a real panic of Debian's kernel in QEMU, the
 * capture kernel bringing the network up and running kdump-send from its
 * initramfs, a receiver on this machine's loopback storing the dump. Then the
 * same with the receiver down at first and coming up while the sender retries.
 * Each run is bounded (test/vm/crash-and-send.sh TIMEOUT) and ~1 minute here.
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, run } from '../helpers/cli.js';
import { startTestReceiver, type TestReceiver } from '../helpers/receiver.js';
import { freePort } from '../helpers/ports.js';

const CACHE = (await import('../helpers/real-fixtures.js')).FIXTURE_CACHE;
const KVER = existsSync(path.join(CACHE, 'KVER')) ? readFileSync(path.join(CACHE, 'KVER'), 'utf8').trim() : '';
const VMLINUX = path.join(CACHE, `vmlinux-${KVER}`);
const SCRIPT = path.join(ROOT, 'test/vm/crash-and-send.sh');
const haveVm = KVER !== '' && existsSync(`/boot/vmlinuz-${KVER}`) && existsSync('/usr/bin/qemu-system-x86_64') && existsSync(VMLINUX);

function parseResult(stdout: string): Record<string, string> {
  return Object.fromEntries(stdout.split('\n').filter((l) => /^[A-Z_]+=/.test(l)).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
}

describe.runIf(haveVm)('kdump-send in a real capture kernel (needs QEMU, Debian\'s kernel and the fixtures\' vmlinux: `npm test` installs them)', () => {
  let work: string;
  let tokenFile: string;
  const receivers: TestReceiver[] = [];

  beforeAll(async () => {
    work = await mkdtemp(path.join(tmpdir(), 'netdump-vm-'));
    tokenFile = path.join(work, 'token');
  });
  afterAll(async () => {
    for (const r of receivers) await r.stop();
    await rm(work, { recursive: true, force: true });
  });

  async function checkStoredDump(receiver: TestReceiver, hostId: string): Promise<void> {
    const [record] = await receiver.catalog.list({ hostId });
    expect(record).toMatchObject({ status: 'complete', osRelease: KVER });
    const file = path.join(receiver.dataDir, record.path);
    const release = await run('crash', ['--osrelease', file]);
    expect(release.stdout.trim()).toBe(KVER);
    const dmesg = path.join(work, `${hostId}.dmesg`);
    const dumped = await run('makedumpfile', ['--dump-dmesg', file, dmesg]);
    expect(dumped.code, dumped.stdout + dumped.stderr).toBe(0);
    const log = await readFile(dmesg, 'utf8');
    expect(log).toContain('sysrq: Trigger a crash');
    expect(log).toMatch(/Kernel panic - not syncing: sysrq triggered crash/);
    const crash = await run('crash', ['-s', VMLINUX, file], { input: 'bt\nquit\n', timeoutMs: 240_000 });
    expect(crash.stdout).toMatch(/sysrq_handle_crash/);
  }

  it('panics, and the capture kernel streams the dump to the receiver within crashkernel=192M (RHEL\'s and Debian 13\'s default), then powers off', async () => {
    const receiver = await startTestReceiver({ open: false });
    receivers.push(receiver);
    await writeFile(tokenFile, `${(await receiver.catalog.hostTokens.add('vm-1'))}\n`);
    const result = await run('bash', [SCRIPT], {
      timeoutMs: 300_000,
      // The squashfs layout needs 160M here (bench/crashkernel-min.mjs); 192M is what the distros reserve.
      env: { ...process.env, RECEIVER_PORT: String(receiver.tcpAddress!.port), TOKEN_FILE: tokenFile, HOST_ID: 'vm-1', CRASHKERNEL: '192M' },
    });
    const facts = parseResult(result.stdout);
    expect(facts.KDUMP_SEND_EXIT, result.stderr.slice(-3000)).toBe('0');
    expect(facts.GUEST_POWERED_OFF).toBe('1');
    expect(Number(facts.SENDER_PEAK_RSS_MB)).toBeLessThan(80);
    expect(facts.INITRAMFS_FAILED).toBe('0');
    expect(facts.OOM_KILL).toBe('0');
    console.log(`vm run: ${facts.SECONDS} s, sender peak RSS ${facts.SENDER_PEAK_RSS_MB} MB, capture kernel memory ${facts.CAPTURE_MEMORY_KB} KB, initramfs ${facts.INITRAMFS_BYTES} bytes`);
    await checkStoredDump(receiver, 'vm-1');
  });

  // The capture initramfs as the distros build it, with the project's hooks really run.
  for (const { builder, crashkernel, what } of [
    // Both need 192M (bench/crashkernel-min.mjs: 176M fails while unpacking); 16 MiB above that here.
    { builder: 'initramfs-tools', crashkernel: '208M', what: 'Debian\'s mkinitramfs with deploy/debian/initramfs-hook, booted with boot=kdump-send,' },
    { builder: 'dracut', crashkernel: '208M', what: 'a host-only systemd dracut initrd with the squash module and deploy/dracut/99kdump-send' },
  ]) {
    const haveBuilder = existsSync(builder === 'dracut' ? '/usr/bin/dracut' : '/usr/sbin/mkinitramfs');
    it.runIf(haveBuilder)(`${what} stores the dump at crashkernel=${crashkernel} (needs ${builder}: scripts/install-test-deps.sh)`, async () => {
      const receiver = await startTestReceiver({ open: false });
      receivers.push(receiver);
      const hostId = `vm-${builder}`;
      const token = path.join(work, `${hostId}.token`);
      await writeFile(token, `${(await receiver.catalog.hostTokens.add(hostId))}\n`);
      const result = await run('bash', [SCRIPT], {
        timeoutMs: 400_000,
        env: { ...process.env, RECEIVER_PORT: String(receiver.tcpAddress!.port), TOKEN_FILE: token, HOST_ID: hostId, BUILDER: builder, CRASHKERNEL: crashkernel, TIMEOUT: '360' },
      });
      const facts = parseResult(result.stdout);
      expect(facts.KDUMP_SEND_EXIT, result.stderr.slice(-3000)).toBe('0');
      expect(facts.INITRAMFS_FAILED).toBe('0');
      expect(Number(facts.SENDER_PEAK_RSS_MB)).toBeLessThan(80);
      console.log(`vm run (${builder}): ${facts.SECONDS} s, initramfs ${facts.INITRAMFS_BYTES} bytes, capture MemTotal ${facts.CAPTURE_MEMORY_KB} KB`);
      await checkStoredDump(receiver, hostId);
    }, 420_000);
  }

  it('with the receiver down at first, the capture kernel keeps trying and stores the dump once it is up', async () => {
    const port = await freePort();
    // "Down": every connection reaching the port is dropped at once. Counting them tells
    // when the capture kernel has really tried and failed, however slow the guest is.
    let refused = 0;
    const down = net.createServer((socket) => {
      refused++;
      socket.destroy();
    });
    await new Promise<void>((resolve) => down.listen(port, '127.0.0.1', resolve));
    const sending = run('bash', [SCRIPT], {
      timeoutMs: 300_000,
      env: { ...process.env, RECEIVER_PORT: String(port), HOST_ID: 'vm-2', SEND_ARGS: '--deadline 240 --connect-timeout 5' },
    });
    const deadline = Date.now() + 200_000;
    while (refused < 2 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 200));
    expect(refused).toBeGreaterThanOrEqual(2);
    await new Promise((resolve) => down.close(resolve));
    const receiver = await startTestReceiver({ tcp: `127.0.0.1:${port}` });
    receivers.push(receiver);
    const result = await sending;
    const facts = parseResult(result.stdout);
    expect(facts.KDUMP_SEND_EXIT, result.stderr.slice(-3000)).toBe('0');
    expect(facts.GUEST_POWERED_OFF).toBe('1');
    expect(Number(facts.SENDER_ATTEMPTS)).toBeGreaterThan(1);
    await checkStoredDump(receiver, 'vm-2');
  });
});
