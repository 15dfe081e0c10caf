// Measures the per-page codecs crash can read, on the non-zero pages of a real vmcore.
// usage: node bench/page-codecs.mjs VMCORE [MAX_MB]
// Prints MB/s (of input pages) and stored size for each codec, and lz4 (the wire codec) as the anchor.
import { openSync, readSync } from 'node:fs';
import { createRequire } from 'node:module';
import { deflateSync } from 'node:zlib';


const require = createRequire(import.meta.url);
const lzo = require('lzo/build/Release/node_lzo.node');
const lz4 = require('lz4/build/Release/lz4.node');
const [path, maxMb = '400'] = process.argv.slice(2);
const PAGE = 4096;
const fd = openSync(path, 'r');
const want = Number(maxMb) * 1e6;
const zero = Buffer.alloc(PAGE);
const pages = [];
const buf = Buffer.alloc(1 << 20);
for (let off = 0x2000, total = 0; total < want; off += buf.length) {
  const n = readSync(fd, buf, 0, buf.length, off);
  if (n < PAGE) break;
  for (let at = 0; at + PAGE <= n; at += PAGE) {
    if (buf.compare(zero, 0, PAGE, at, at + PAGE) !== 0) { pages.push(Buffer.from(buf.subarray(at, at + PAGE))); total += PAGE; }
  }
}
const input = pages.length * PAGE;
function run(name, fn) {
  let stored = 0;
  const t0 = process.hrtime.bigint();
  for (const p of pages) stored += Math.min(fn(p), PAGE);
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  console.log(`${name.padEnd(8)} ${(input / 1e6 / s).toFixed(0).padStart(5)} MB/s  stored ${(stored / 1e6).toFixed(1)} MB of ${(input / 1e6).toFixed(1)} MB`);
}
const lzoOut = Buffer.alloc(PAGE + PAGE / 16 + 64 + 3);
const lz4Out = Buffer.alloc(lz4.compressBound(PAGE));
run('lz4', (p) => lz4.compress(p, lz4Out) || PAGE);
run('lzo', (p) => lzo.compress(p, lzoOut).len);
// snappy measured ~210 MB/s when tried (npm snappy 7.4.3); Debian's makedumpfile cannot read it, so it is not a candidate.
run('zlib-1', (p) => deflateSync(p, { level: 1 }).length);
