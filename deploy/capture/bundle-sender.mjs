#!/usr/bin/env node
// Builds the sender the capture kernel runs: dist/capture/kdump-send.mjs (and the chunks it
// imports on demand, kdump-send-*.mjs), plus the native addons at the paths the bundle requires them from.
// usage: node deploy/capture/bundle-sender.mjs [OUTDIR]
import { build } from 'esbuild';
import { copyFileSync, existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const out = path.resolve(process.argv[2] ?? path.join(root, 'dist/capture'));
// Stale chunks of an earlier build would be copied into the runtime beside the new ones.
for (const f of existsSync(out) ? readdirSync(out) : []) if (/^kdump-send.*\.mjs$/.test(f)) rmSync(path.join(out, f));
await build({
  entryPoints: { 'kdump-send': path.join(root, 'sender/cli.ts') },
  outdir: out,
  // What the sender imports only when it needs it (--check, ws://, the local fallback) goes in chunks of
  // its own, which node reads only then: a capture kernel's start-up parses what a TCP send runs.
  splitting: true,
  chunkNames: 'kdump-send-[name]-[hash]',
  outExtension: { '.js': '.mjs' },
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
// lz4 and xxhash (chunk checksums) for the wire; lzo and the page run encoder (shared/kdump/native) for the local
// fallback's stored pages; the chunk encoder (sender/native).
const addons = ['node_modules/lz4/build/Release/lz4.node', 'node_modules/lz4/build/Release/xxhash.node', 'node_modules/lzo/build/Release/node_lzo.node',
  'node_modules/kdump-stored-pages/build/Release/stored_pages.node', 'node_modules/kdump-chunk-encoder/build/Release/chunk_encoder.node'];
for (const addon of addons) {
  mkdirSync(path.join(out, path.dirname(addon)), { recursive: true });
  copyFileSync(path.join(root, addon), path.join(out, addon));
}
const size = (f) => `${(statSync(path.join(out, f)).size / 1024).toFixed(0)} KiB`;
console.log(`bundle-sender: ${out}/kdump-send.mjs (${size('kdump-send.mjs')}) + ${addons.map((a) => `${a} (${size(a)})`).join(' + ')}`);
