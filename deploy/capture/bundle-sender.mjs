#!/usr/bin/env node
// Builds the single-file sender the capture kernel runs: dist/capture/kdump-send.mjs,
// plus the one native addon it needs (lz4) at the path the bundle requires it from.
// usage: node deploy/capture/bundle-sender.mjs [OUTDIR]
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const out = path.resolve(process.argv[2] ?? path.join(root, 'dist/capture'));
await build({
  entryPoints: [path.join(root, 'sender/cli.ts')],
  outfile: path.join(out, 'kdump-send.mjs'),
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  minify: true,
  legalComments: 'linked',
  // Native addons stay files beside the bundle; ws and msgpackr load their optional ones only if present.
  external: ['*.node', 'bufferutil', 'utf-8-validate', 'msgpackr-extract'],
  // The bundle is ESM; CommonJS dependencies inside it still call require().
  banner: { js: "import { createRequire as __netdumpRequire } from 'node:module'; const require = __netdumpRequire(import.meta.url);" },
  logLevel: 'warning',
});
// lz4 and xxhash (chunk checksums) for the wire; lzo for the local fallback's stored pages.
const addons = ['node_modules/lz4/build/Release/lz4.node', 'node_modules/lz4/build/Release/xxhash.node', 'node_modules/lzo/build/Release/node_lzo.node'];
for (const addon of addons) {
  mkdirSync(path.join(out, path.dirname(addon)), { recursive: true });
  copyFileSync(path.join(root, addon), path.join(out, addon));
}
const size = (f) => `${(statSync(path.join(out, f)).size / 1024).toFixed(0)} KiB`;
console.log(`bundle-sender: ${out}/kdump-send.mjs (${size('kdump-send.mjs')}) + ${addons.map((a) => `${a} (${size(a)})`).join(' + ')}`);
