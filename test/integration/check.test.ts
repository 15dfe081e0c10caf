/**
 * The built `kdump-send --check` against a real in-process receiver and a
 * fake sysfs/procfs root (KDUMP_SEND_CHECK_ROOT): a good token, a wrong one,
 * none, a receiver that is down, an --open one, TLS trouble, reservations
 * too small or missing; exit codes, lines, --json, and nothing written on
 * the receiver.
 */
import { readdir, writeFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExitCode } from '../../sender/exit-codes.js';
import { makeTestPki, type TestPki } from '../helpers/certs.js';
import { makeCheckRoot, type CheckRoot } from '../helpers/check-root.js';
import { run, SENDER_CLI } from '../helpers/cli.js';
import { freePort } from '../helpers/ports.js';
import { startTestReceiver, type TestReceiver } from '../helpers/receiver.js';

const MiB = 2 ** 20;

describe('kdump-send --check', () => {
  let closed: TestReceiver;
  let open: TestReceiver;
  let fits: CheckRoot;
  let tight: CheckRoot;
  let none: CheckRoot;
  let dir: string;
  let tokenFile: string;
  let wrongTokenFile: string;
  let emptyConfig: string;
  let pki: TestPki;

  /** The built CLI with a fake root and a clean environment (no KDUMP_SEND_* from the machine, no /etc/kdump-send.conf). */
  const check = (root: CheckRoot, args: string[]) => {
    const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('KDUMP_SEND_')));
    return run(process.execPath, [SENDER_CLI, '--config', emptyConfig, '--host-id', 'check-host', '--connect-timeout', '3', ...args],
      { env: { ...env, KDUMP_SEND_CHECK_ROOT: root.dir }, timeoutMs: 60_000 });
  };
  const lines = (text: string) => text.trim().split('\n');

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'netdump-check-'));
    closed = await startTestReceiver({ open: false });
    open = await startTestReceiver({ open: true });
    tokenFile = path.join(dir, 'token');
    wrongTokenFile = path.join(dir, 'wrong-token');
    emptyConfig = path.join(dir, 'kdump-send.conf');
    await writeFile(tokenFile, `${await closed.catalog.hostTokens.add('check-host')}\n`);
    await writeFile(wrongTokenFile, `${'x'.repeat(43)}\n`);
    await writeFile(emptyConfig, '# nothing: every setting comes from flags\n');
    fits = await makeCheckRoot({ crashSize: 512 * MiB, cmdline: 'root=/dev/vda1 crashkernel=512M' });
    tight = await makeCheckRoot({ crashSize: 128 * MiB, cmdline: 'root=/dev/vda1 crashkernel=384M-:128M' });
    none = await makeCheckRoot({ crashSize: 0, crashLoaded: false });
    pki = makeTestPki(path.join(dir));
  });
  afterAll(async () => {
    await closed?.stop();
    await open?.stop();
    for (const root of [fits, tight, none]) await root?.cleanup();
    await rm(dir, { recursive: true, force: true });
  });

  it('a reservation that fits and enrolled receivers on TCP and WebSocket: every line ok, exit 0', async () => {
    const result = await check(fits, ['--check', '--server', closed.tcpUrl, '--server', closed.wsUrl, '--token-file', tokenFile]);
    expect(result.code, result.stdout + result.stderr).toBe(0);
    const out = lines(result.stdout);
    expect(out[0]).toBe('kdump-send --check: host check-host, kernel 6.1.0-57-amd64, 4.0 GiB of RAM');
    expect(out).toContainEqual(expect.stringMatching(/^ok {4}kernel image: 27\.0 MiB \(code 16\.0 MiB, rodata 8\.0 MiB, data 2\.0 MiB, bss 1\.0 MiB; /));
    expect(out).toContainEqual(expect.stringMatching(new RegExp(`^ok {4}initramfs: ${fits.initrd.replace(/[.]/g, '\\.')}: 0\\.\\d MiB \\(cpio \\+ gzip\\)`)));
    expect(out).toContainEqual('ok    initramfs unpacked: 20.0 MiB (2 files, 20.0 MiB of data in 4 KiB pages)');
    expect(out).toContainEqual(expect.stringMatching(/^ok {4}reservation: 512 MiB reserved \(crashkernel=512M\), the capture side needs 137 MiB: 375 MiB to spare$/));
    expect(out).toContainEqual('ok    capture kernel: loaded (/sys/kernel/kexec_crash_loaded is 1)');
    for (const url of [closed.tcpUrl, closed.wsUrl]) {
      expect(out).toContainEqual(expect.stringMatching(new RegExp(`^ok {4}${url.replace(/[/.]/g, '\\$&')}: reachable, token of check-host accepted \\(receiver 0\\.1\\.0, [\\d.]+ [MG]iB free \\(keeps 64\\.0 MiB\\)\\)$`)));
    }
    expect(out.at(-1)).toBe('kdump-send --check: every check passed (exit 0)');
    expect(result.stderr).toBe('');
  });

  it('a wrong token: the receiver\'s message and what to do, exit 4', async () => {
    const result = await check(fits, ['--check', '--server', closed.tcpUrl, '--token-file', wrongTokenFile]);
    expect(result.code).toBe(ExitCode.REJECTED);
    expect(result.stdout).toContain(`FAIL  ${closed.tcpUrl}: reachable, token refused: token not accepted for host check-host; `
      + 'enrol this host on the receiver (kdump-receiver token add check-host) and put the token it prints in TOKEN_FILE');
    expect(lines(result.stdout).at(-1)).toBe('kdump-send --check: 1 of 6 checks failed (exit 4)');
  });

  it('no token at all, on a receiver that wants one', async () => {
    const result = await check(fits, ['--check=receivers', '--server', closed.tcpUrl]);
    expect(result.code).toBe(ExitCode.REJECTED);
    expect(result.stdout).toContain(`FAIL  ${closed.tcpUrl}: reachable, token refused: host check-host sent no token`);
    expect(result.stdout).not.toContain('reservation');
  });

  it('a receiver that is down: not reachable, exit 3; the one that is up still checked', async () => {
    const down = `tcp://127.0.0.1:${await freePort()}`;
    const result = await check(fits, ['--check', '--server', down, '--server', closed.tcpUrl, '--token-file', tokenFile]);
    expect(result.code).toBe(ExitCode.UNREACHABLE);
    expect(result.stdout).toMatch(new RegExp(`FAIL  ${down.replace(/[/.]/g, '\\$&')}: not reachable: cannot reach .*ECONNREFUSED.*; check the address`));
    expect(result.stdout).toMatch(/ok {4}tcp:\/\/127\.0\.0\.1:\d+: reachable, token of check-host accepted/);
  });

  it('an --open receiver takes anyone without a token, and says so', async () => {
    const result = await check(fits, ['--check', '--server', open.tcpUrl]);
    expect(result.code, result.stdout).toBe(0);
    expect(result.stdout).toMatch(new RegExp(`ok {4}${open.tcpUrl.replace(/[/.]/g, '\\$&')}: reachable, runs --open: any host may upload, tokens are not checked \\(receiver 0\\.1\\.0`));
  });

  it('a receiver certificate the host cannot verify: a TLS problem, exit 4', async () => {
    const tlsReceiver = await startTestReceiver({ open: true, tls: { cert: pki.serverCert, key: pki.serverKey } });
    try {
      const url = `tls://127.0.0.1:${tlsReceiver.tcpAddress!.port}`;
      const untrusted = await check(fits, ['--check=receivers', '--server', url]);
      expect(untrusted.code).toBe(ExitCode.REJECTED);
      expect(untrusted.stdout).toMatch(/FAIL {2}tls:\/\/127\.0\.0\.1:\d+: TLS problem: TLS with .* failed: .*; check --ca-file and the client certificate/);
      const trusted = await check(fits, ['--check=receivers', '--server', url, '--ca-file', pki.caFile]);
      expect(trusted.code, trusted.stdout).toBe(0);
    } finally {
      await tlsReceiver.stop();
    }
  });

  it('a reservation too small: by how much, which crashkernel= to set, the distro defaults; exit 2 even with the receivers fine', async () => {
    const result = await check(tight, ['--check', '--server', closed.tcpUrl, '--token-file', tokenFile]);
    expect(result.code).toBe(ExitCode.BAD_INPUT);
    expect(result.stdout).toMatch(/FAIL {2}reservation: 128 MiB reserved \(crashkernel=384M-:128M\), the capture side needs 137 MiB: 9 MiB short; set crashkernel=160M on the kernel command line/);
    expect(result.stdout).toContain('note  distro defaults: on this host\'s 4.0 GiB of RAM, Debian 12 kdump-tools crashkernel=384M-:128M reserves 128 MiB; '
      + 'Debian 13 kdump-tools crashkernel=512M-:192M reserves 192 MiB; RHEL kdump-utils crashkernel=1G-4G:192M,4G-64G:256M,64G-:512M reserves 256 MiB: '
      + 'enough here: Debian 13 kdump-tools, RHEL kdump-utils');
    expect(result.stdout).toMatch(/ok {4}tcp:\/\/127\.0\.0\.1:\d+: reachable, token of check-host accepted/);
  });

  it('no crashkernel= at all, no capture kernel loaded', async () => {
    const result = await check(none, ['--check=payload']);
    expect(result.code).toBe(ExitCode.BAD_INPUT);
    expect(result.stdout).toContain('FAIL  reservation: no memory is reserved for a capture kernel: the kernel command line has no crashkernel=; '
      + 'the capture side needs 137 MiB: set crashkernel=160M on the kernel command line');
    expect(result.stdout).toMatch(/warn  capture kernel: none is loaded now \(\/sys\/kernel\/kexec_crash_loaded is 0\)/);
    expect(result.stdout).not.toMatch(/receivers|tcp:/);
  });

  it('--initrd names the image; a missing one is a finding', async () => {
    const missing = path.join(dir, 'no-such-initrd.img');
    const result = await check(fits, ['--check=payload', '--initrd', missing]);
    expect(result.code).toBe(ExitCode.BAD_INPUT);
    expect(result.stdout).toMatch(new RegExp(`FAIL  initramfs: cannot read ${missing.replace(/[/.]/g, '\\$&')}: ENOENT`));
  });

  it('--json: one object on stdout, the lines on stderr', async () => {
    const result = await check(tight, ['--check', '--json', '--server', closed.tcpUrl, '--token-file', wrongTokenFile]);
    expect(result.code).toBe(ExitCode.BAD_INPUT);
    const report = JSON.parse(result.stdout);
    expect(report).toMatchObject({
      ok: false, exitCode: ExitCode.BAD_INPUT, check: 'all',
      host: { hostId: 'check-host', kernelRelease: '6.1.0-57-amd64' },
      estimate: { reservedBytes: 128 * MiB, complete: true, suggestedCrashkernel: '160M', parts: { kernelImage: 27 * MiB, initramfsUnpacked: 20 * MiB } },
    });
    const byTopic = Object.fromEntries(report.findings.map((f: { topic: string }) => [f.topic, f]));
    expect(byTopic.reservation).toMatchObject({ status: 'fail', code: 'BAD_INPUT' });
    expect(byTopic[closed.tcpUrl]).toMatchObject({ status: 'fail', code: 'AUTH', data: { fromReceiver: true } });
    expect(lines(result.stderr).at(-1)).toBe('kdump-send --check: 2 of 6 checks failed (exit 2)');
  });

  it('every probe above wrote nothing: no catalog row, no folder, on either receiver', async () => {
    for (const receiver of [closed, open]) {
      expect(await receiver.catalog.list()).toHaveLength(0);
      expect((await readdir(receiver.dataDir)).filter((f) => !f.startsWith('index.db'))).toEqual([]);
      expect(receiver.logLines.filter((l) => l.msg === 'probe answered').length).toBeGreaterThan(0);
    }
  });

  it('--check with a part it does not know: exit 2', async () => {
    const result = await check(fits, ['--check=everything']);
    expect(result.code).toBe(ExitCode.BAD_INPUT);
    expect(result.stderr).toMatch(/--check takes all, payload, receivers/);
  });
});
