/**
 * Decompressors for initramfs parts: gzip with node's zlib, the others piped
 * through Debian's command-line tools when they are installed. This runs on
 * the running host (kdump-send --check), never in the capture kernel.
 */
import { spawnSync } from 'node:child_process';
import { gunzipSync } from 'node:zlib';
import { badInput } from '../../shared/errors.js';
import type { Compression, Decompressor } from './initramfs.js';

/** The tool for each format and the Debian package that has it. */
const TOOLS: Record<Exclude<Compression, 'gzip'>, { command: string; args: string[]; pkg: string }> = {
  zstd: { command: 'zstd', args: ['-dcq'], pkg: 'zstd' },
  xz: { command: 'xz', args: ['-dcq'], pkg: 'xz-utils' },
  lzma: { command: 'xz', args: ['--format=lzma', '-dcq'], pkg: 'xz-utils' },
  bzip2: { command: 'bzip2', args: ['-dcq'], pkg: 'bzip2' },
  lz4: { command: 'lz4', args: ['-dcq'], pkg: 'lz4' },
  lzo: { command: 'lzop', args: ['-dcq'], pkg: 'lzop' },
};

/** Far above any initramfs; bounds what a broken image can make us hold. */
const MAX_UNPACKED = 4 * 2 ** 30;

export const decompressWithTools: Decompressor = (format, compressed) => {
  if (format === 'gzip') return gunzipSync(compressed, { maxOutputLength: MAX_UNPACKED });
  const tool = TOOLS[format];
  const result = spawnSync(tool.command, tool.args, { input: compressed, maxBuffer: MAX_UNPACKED });
  if (result.error) {
    const missing = (result.error as NodeJS.ErrnoException).code === 'ENOENT';
    throw badInput(missing ? `${tool.command} is not installed (Debian package ${tool.pkg})` : `${tool.command}: ${result.error.message}`);
  }
  // Padding after the stream makes some tools complain after writing everything: the cpio reader judges the output.
  if (result.status !== 0 && result.stdout.length === 0) {
    throw badInput(`${tool.command} ${tool.args.join(' ')} failed: ${result.stderr.toString('utf8').trim().split('\n')[0] || `exit ${result.status}`}`);
  }
  return result.stdout;
};
