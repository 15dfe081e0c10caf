/**
 * The project's own packages as scripts/test.sh builds them (deploy/packages/
 * build-debs.sh and build-rpm.sh into dist/packages), for the tests that
 * install them.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from './cli.js';

const version = (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const OUT = path.join(ROOT, 'dist/packages');
const DEB_ARCH = process.arch === 'arm64' ? 'arm64' : 'amd64';
const RPM_ARCH = process.arch === 'arm64' ? 'aarch64' : 'x86_64';

export const PACKAGES = {
  dir: OUT,
  /** Debian version of the build: package.json's version, revision 1. */
  debVersion: `${version}-1`,
  senderDeb: path.join(OUT, `kdump-netdump-sender_${version}-1_${DEB_ARCH}.deb`),
  receiverDeb: path.join(OUT, `kdump-netdump-receiver_${version}-1_${DEB_ARCH}.deb`),
  senderRpm: path.join(OUT, `kdump-netdump-sender-${version}-1.${RPM_ARCH}.rpm`),
  receiverRpm: path.join(OUT, `kdump-netdump-receiver-${version}-1.${RPM_ARCH}.rpm`),
} as const;

/** The .deb files not built yet, each named with what builds it. */
export function packagesMissing(): string[] {
  return [PACKAGES.senderDeb, PACKAGES.receiverDeb].filter((f) => !existsSync(f)).map((f) => `${path.relative(ROOT, f)} (deploy/packages/build-debs.sh)`);
}
