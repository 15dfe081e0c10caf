/**
 * The Debian packages (deploy/packages/build-debs.sh) installed, upgraded,
 * removed and purged the way an operator does it, with apt and dpkg inside
 * real Debian systems: the sender on the stock Debian 12 kdump-tools host of
 * the VM test (test/vm/debian-host/make-rootfs.sh), the receiver on Debian 13,
 * whose own nodejs (20) it depends on. After purge, not a file of ours is
 * left. lintian judges both packages. The RPMs are checked as far as rpm reads
 * them here: no RHEL or SUSE system is at hand to install them in.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT, run, type RunResult } from '../helpers/cli.js';
import { chrootDir } from '../helpers/judges.js';
import { freePort } from '../helpers/ports.js';
import { KVER } from '../helpers/real-fixtures.js';
import { PACKAGES, packagesMissing } from '../helpers/packages.js';

const MAKE_ROOTFS = path.join(ROOT, 'test/vm/debian-host/make-rootfs.sh');
const isRoot = process.getuid?.() === 0;
const work = mkdtempSync(path.join(tmpdir(), 'netdump-packages-'));
afterAll(async () => {
  await run('sh', ['-c', `for m in $(awk '$2 ~ "^${work}/" {print $2}' /proc/mounts | sort -r); do umount "$m"; done`]);
  await rm(work, { recursive: true, force: true });
});

/** A throwaway copy of SOURCE (a Debian root tree) with /proc mounted, for dpkg's maintainer scripts. */
async function copyRoot(source: string, name: string): Promise<string> {
  const root = path.join(work, name);
  const copied = await run('cp', ['-a', source, root], { timeoutMs: 120_000 });
  expect(copied.code, copied.stderr).toBe(0);
  // No daemon starts in a chroot, as in any image build.
  await run('sh', ['-c', `printf '#!/bin/sh\\nexit 101\\n' > ${root}/usr/sbin/policy-rc.d && chmod +x ${root}/usr/sbin/policy-rc.d && mount -t proc proc ${root}/proc`]);
  return root;
}

function inRoot(root: string, command: string, timeoutMs = 300_000): Promise<RunResult> {
  return run('chroot', [root, 'sh', '-c', command], { timeoutMs, env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive', PATH: '/usr/sbin:/usr/bin:/sbin:/bin' } });
}

/**
 * Every path in ROOT with its type, but for what the package manager keeps
 * about itself (dpkg's and apt's databases, caches, logs) and the backups
 * adduser makes of the user database.
 */
async function tree(root: string): Promise<Set<string>> {
  const listed = await run('sh', ['-c', `cd ${root} && find . -xdev \\( -path ./proc -o -path ./sys -o -path ./dev -o -path ./run -o -path ./tmp -o -path ./var/log -o -path ./var/lib/dpkg -o -path ./var/lib/apt -o -path ./var/cache \\) -prune -o -printf '%y %p\\n'`], { timeoutMs: 120_000 });
  expect(listed.code, listed.stderr).toBe(0);
  return new Set(listed.stdout.split('\n').filter((l) => l !== '' && !/^\S+ \.\/(etc\/(passwd|group|shadow|gshadow)-|usr\/sbin\/policy-rc\.d)$/.test(l)));
}

function difference(a: Set<string>, b: Set<string>): string[] {
  return [...a].filter((x) => !b.has(x)).sort();
}

/** DEB repacked as VERSION: the same files, a newer version, for the upgrade path. */
async function repack(deb: string, version: string): Promise<string> {
  const dir = path.join(work, `repack-${path.basename(deb)}`);
  const out = path.join(work, path.basename(deb).replace(PACKAGES.debVersion, version));
  const r = await run('sh', ['-c', `rm -rf ${dir} && dpkg-deb -R ${deb} ${dir} && sed -i 's/^Version: .*/Version: ${version}/' ${dir}/DEBIAN/control && dpkg-deb --root-owner-group -Zxz -z0 -b ${dir} ${out} >/dev/null && rm -rf ${dir}`], { timeoutMs: 120_000 });
  expect(r.code, r.stderr).toBe(0);
  return out;
}

const status = (root: string, pkg: string) => inRoot(root, `dpkg-query -W -f '\${Status} \${Version}' ${pkg} 2>/dev/null || true`).then((r) => r.stdout.trim());

describe.skipIf(packagesMissing().length > 0)(`the Debian packages${packagesMissing().length ? ` (need ${packagesMissing().join(', ')}; npm test builds them)` : ''}`, () => {
  it.runIf(existsSync('/usr/bin/lintian'))('are lintian-clean: no error and no warning (overrides only where the package has a reason, each written beside it)', async () => {
    for (const deb of [PACKAGES.senderDeb, PACKAGES.receiverDeb]) {
      const linted = await run('lintian', ['--tag-display-limit', '0', deb], { timeoutMs: 240_000 });
      const findings = linted.stdout.split('\n').filter((l) => /^[EW]: /.test(l));
      expect(findings, `${path.basename(deb)}:\n${linted.stdout}`).toEqual([]);
    }
  }, 300_000);

  const senderOk = isRoot && KVER !== '';
  it.runIf(senderOk)(`kdump-netdump-sender installs with apt on the Debian 12 kdump-tools host, keeps the operator's configuration across an upgrade, and purges without a trace${senderOk ? '' : ' (needs root and the 6.1 fixtures\' KVER)'}`, async () => {
    const made = await run('bash', [MAKE_ROOTFS, KVER], { timeoutMs: 600_000 });
    expect(made.code, made.stderr).toBe(0);
    const root = await copyRoot(made.stdout.trim().split('\n').pop()!, 'bookworm');
    const before = await tree(root);
    await run('cp', [PACKAGES.senderDeb, `${root}/tmp/`]);

    // Offline: its dependencies (libc6, libstdc++6, libgcc-s1; kdump-tools recommended) are all there.
    const installed = await inRoot(root, `apt-get install -y -q /tmp/${path.basename(PACKAGES.senderDeb)}`);
    expect(installed.code, installed.stdout + installed.stderr).toBe(0);
    expect(await status(root, 'kdump-netdump-sender')).toBe(`install ok installed ${PACKAGES.debVersion}`);
    // The packaged node and bundle run on Debian 12 as installed (the lz4 and lzo addons load at start).
    const help = await inRoot(root, 'kdump-send --help');
    expect(help.code, help.stderr).toBe(0);
    expect(help.stdout).toMatch(/--fallback-dir/);
    // kdump-send.service is pulled in by kdump-tools' capture unit; the token directory is root's only.
    expect((await inRoot(root, 'readlink /etc/systemd/system/kdump-tools-dump.service.wants/kdump-send.service')).stdout.trim()).toBe('/lib/systemd/system/kdump-send.service');
    expect((await inRoot(root, 'stat -c %a /etc/kdump-send')).stdout.trim()).toBe('700');
    expect((await inRoot(root, 'grep -c "^SERVERS=$" /etc/kdump-send.conf')).stdout.trim()).toBe('1');

    // The operator's step from the README, then an upgrade: the edited conffile stays as edited.
    await inRoot(root, `sed -i 's|^SERVERS=.*|SERVERS="tls://dumps.example.net:7341"|' /etc/kdump-send.conf && printf 'tok\\n' > /etc/kdump-send/token`);
    const upgrade = await repack(PACKAGES.senderDeb, `${PACKAGES.debVersion.replace(/-1$/, '')}-2`);
    await run('cp', [upgrade, `${root}/tmp/`]);
    const upgraded = await inRoot(root, `dpkg -i /tmp/${path.basename(upgrade)}`);
    expect(upgraded.code, upgraded.stdout + upgraded.stderr).toBe(0);
    expect(await status(root, 'kdump-netdump-sender')).toMatch(/install ok installed .*-2$/);
    expect((await inRoot(root, 'grep ^SERVERS= /etc/kdump-send.conf')).stdout.trim()).toBe('SERVERS="tls://dumps.example.net:7341"');
    expect((await inRoot(root, 'test -L /etc/systemd/system/kdump-tools-dump.service.wants/kdump-send.service && echo enabled')).stdout.trim()).toBe('enabled');

    // remove keeps the configuration, purge takes everything.
    const removed = await inRoot(root, 'apt-get remove -y -q kdump-netdump-sender');
    expect(removed.code, removed.stderr).toBe(0);
    expect((await inRoot(root, '! test -e /usr/sbin/kdump-send && test -f /etc/kdump-send.conf && echo conf-kept')).stdout.trim()).toBe('conf-kept');
    const purged = await inRoot(root, 'apt-get purge -y -q kdump-netdump-sender');
    expect(purged.code, purged.stderr).toBe(0);
    await inRoot(root, `rm -f /tmp/*.deb`);
    const after = await tree(root);
    expect(difference(after, before), 'left behind after purge').toEqual([]);
    expect(difference(before, after), 'taken away by purge').toEqual([]);
  }, 600_000);

  const trixie = chrootDir('trixie');
  const receiverOk = isRoot && trixie !== undefined;
  it.runIf(receiverOk)(`kdump-netdump-receiver installs with apt on Debian 13 (on Debian's nodejs), runs as its user, keeps the dumps across an upgrade, and purges them with the rest${receiverOk ? '' : ' (needs root and the trixie judge chroot: scripts/judge-chroots.sh)'}`, async () => {
    const root = await copyRoot(trixie!, 'trixie');
    // Its dependencies first: what purge must leave as it found is the system with them.
    const deps = await inRoot(root, 'apt-get update -q && apt-get install -y -q --no-install-recommends nodejs adduser', 600_000);
    expect(deps.code, deps.stdout + deps.stderr).toBe(0);
    const before = await tree(root);
    await run('cp', [PACKAGES.receiverDeb, `${root}/tmp/`]);
    const installed = await inRoot(root, `apt-get install -y -q --no-install-recommends /tmp/${path.basename(PACKAGES.receiverDeb)}`);
    expect(installed.code, installed.stdout + installed.stderr).toBe(0);
    expect(await status(root, 'kdump-netdump-receiver')).toBe(`install ok installed ${PACKAGES.debVersion}`);
    expect((await inRoot(root, 'node --version')).stdout.trim()).toMatch(/^v2\d\./);
    expect((await inRoot(root, 'getent passwd kdump-receiver | cut -d: -f6,7')).stdout.trim()).toMatch(/^\/var\/lib\/kdump-receiver:\/(usr\/)?s?bin\/(nologin|false)$/);
    expect((await inRoot(root, 'stat -c "%U %a" /var/lib/kdump-receiver')).stdout.trim()).toBe('kdump-receiver 750');
    expect((await inRoot(root, 'readlink /etc/systemd/system/multi-user.target.wants/kdump-receiver.service')).stdout.trim()).toBe('/lib/systemd/system/kdump-receiver.service');

    // The README's enrolment, as the service's user, then the service's own command line on loopback.
    const asUser = (command: string) => run('chroot', ['--userspec=kdump-receiver:kdump-receiver', root, 'sh', '-c', command], { timeoutMs: 120_000, env: { ...process.env, HOME: '/var/lib/kdump-receiver' } });
    const token = await asUser('kdump-receiver token add web-1');
    expect(token.code, token.stderr).toBe(0);
    expect(token.stdout.trim()).toMatch(/^[A-Za-z0-9_-]{20,}$/);
    const [tcp, web] = [await freePort(), await freePort()];
    const serving = spawn('chroot', ['--userspec=kdump-receiver:kdump-receiver', root, '/usr/bin/kdump-receiver', 'serve', '--tcp', `127.0.0.1:${tcp}`, '--http', `127.0.0.1:${web}`, '--data-dir', '/var/lib/kdump-receiver'], { stdio: 'ignore' });
    try {
      let health: unknown;
      for (let i = 0; i < 60 && health === undefined; i++) {
        health = await fetch(`http://127.0.0.1:${web}/healthz`).then((r) => r.json(), () => undefined);
        if (health === undefined) await new Promise((resolve) => setTimeout(resolve, 500));
      }
      expect(health).toMatchObject({ ok: true });
    } finally {
      serving.kill('SIGTERM');
      await new Promise((resolve) => serving.on('exit', resolve));
    }
    expect((await inRoot(root, 'test -f /var/lib/kdump-receiver/index.db && echo catalog')).stdout.trim()).toBe('catalog');

    const upgrade = await repack(PACKAGES.receiverDeb, `${PACKAGES.debVersion.replace(/-1$/, '')}-2`);
    await run('cp', [upgrade, `${root}/tmp/`]);
    const upgraded = await inRoot(root, `dpkg -i /tmp/${path.basename(upgrade)}`);
    expect(upgraded.code, upgraded.stdout + upgraded.stderr).toBe(0);
    expect((await asUser('kdump-receiver token list')).stdout).toMatch(/web-1/);

    const removed = await inRoot(root, 'apt-get remove -y -q kdump-netdump-receiver');
    expect(removed.code, removed.stderr).toBe(0);
    // remove keeps the dumps and the catalog; purge deletes them, as its description says.
    expect((await inRoot(root, 'test -f /var/lib/kdump-receiver/index.db && echo kept')).stdout.trim()).toBe('kept');
    const purged = await inRoot(root, 'apt-get purge -y -q kdump-netdump-receiver');
    expect(purged.code, purged.stderr).toBe(0);
    await inRoot(root, 'rm -f /tmp/*.deb');
    const after = await tree(root);
    expect(difference(after, before), 'left behind after purge').toEqual([]);
    expect(difference(before, after), 'taken away by purge').toEqual([]);
    // Debian policy: the system user stays (files elsewhere may still carry its uid).
    expect((await inRoot(root, 'getent passwd kdump-receiver >/dev/null && echo kept')).stdout.trim()).toBe('kept');
  }, 900_000);
});

const rpmsMissing = !existsSync(PACKAGES.senderRpm) || !existsSync('/usr/bin/rpm');
describe.skipIf(rpmsMissing)(`the RPMs (deploy/packages/build-rpm.sh; only read here: no RHEL or SUSE system to install them in)${rpmsMissing ? ' (need dist/packages/*.rpm and rpm: npm test installs rpm and builds them)' : ''}`, () => {
  const query = (rpm: string, ...args: string[]) => run('rpm', ['-qp', ...args, rpm]).then((r) => r.stdout);

  it('the sender carries the squashfs runtime, the dracut module and the configuration as a noreplace conffile', async () => {
    const files = (await query(PACKAGES.senderRpm, '-l')).split('\n');
    for (const f of ['/usr/sbin/kdump-send', '/usr/lib/kdump-send/runtime.squashfs', '/usr/lib/kdump-send/runtime.libs', '/usr/lib/dracut/modules.d/99kdump-send/module-setup.sh', '/etc/kdump-send.conf']) expect(files).toContain(f);
    expect(await query(PACKAGES.senderRpm, '-c')).toMatch(/^\/etc\/kdump-send\.conf$/m);
    expect(await query(PACKAGES.senderRpm, '-R')).toMatch(/^glibc >= 2\.28$/m);
  });

  it('the receiver needs nodejs >= 20, makes its user before its files land, and holds the unit and the data directory', async () => {
    const files = (await query(PACKAGES.receiverRpm, '-l')).split('\n');
    for (const f of ['/usr/bin/kdump-receiver', '/usr/lib/kdump-receiver/dist/receiver/cli.js', '/usr/lib/systemd/system/kdump-receiver.service', '/var/lib/kdump-receiver']) expect(files).toContain(f);
    expect(await query(PACKAGES.receiverRpm, '-R')).toMatch(/^nodejs >= 20$/m);
    expect(await query(PACKAGES.receiverRpm, '--scripts')).toMatch(/preinstall scriptlet[\s\S]*useradd -r -g kdump-receiver/);
    const checked = await run('rpm', ['-K', '--nosignature', PACKAGES.receiverRpm]);
    expect(checked.code, checked.stdout + checked.stderr).toBe(0);
  });

  it('the unit both formats ship is deploy/kdump-receiver.service with the packaged command', async () => {
    const extracted = path.join(work, 'rpm-unit');
    const r = await run('sh', ['-c', `mkdir -p ${extracted} && cd ${extracted} && rpm2cpio ${PACKAGES.receiverRpm} | cpio -id --quiet ./usr/lib/systemd/system/kdump-receiver.service`]);
    expect(r.code, r.stderr).toBe(0);
    const unit = readFileSync(path.join(extracted, 'usr/lib/systemd/system/kdump-receiver.service'), 'utf8');
    expect(unit).toMatch(/^ExecStart=\/usr\/bin\/kdump-receiver serve --tcp 0\.0\.0\.0:7341 --http 0\.0\.0\.0:7342 --data-dir \/var\/lib\/kdump-receiver$/m);
    expect(unit).toMatch(/^User=kdump-receiver$/m);
  });
});
