/** kexec-tools' vmcore-dmesg, the oracle for the kernel log extractor, when installed (Debian: kexec-tools). */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';

export const VMCORE_DMESG = ['/usr/sbin/vmcore-dmesg', '/sbin/vmcore-dmesg'].find((p) => existsSync(p));

/** vmcore-dmesg's stdout, as bytes; rejects with its exit code and stderr when it fails. */
export function runVmcoreDmesg(core: string): Promise<Buffer> {
  if (!VMCORE_DMESG) return Promise.reject(new Error('vmcore-dmesg is not installed (Debian package kexec-tools)'));
  return new Promise((resolve, reject) => {
    execFile(VMCORE_DMESG, [core], { encoding: 'buffer', maxBuffer: 256 * 1024 * 1024, timeout: 60_000 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`vmcore-dmesg ${core}: ${error.message}: ${stderr.toString()}`));
      else resolve(stdout);
    });
  });
}
