/**
 * A real vmcore (Debian's kernel crashed in QEMU) through a receiver that
 * keeps dumps in S3 (OpenStack Swift's s3api, scripts/object-store.sh). The
 * object is a multipart upload whose front is padded to S3's 5 MiB part
 * floor, so it is not byte-identical to makedumpfile's file; the real tools
 * judge it instead: crash answers as on the original, makedumpfile reads its
 * log, and triage, the kernel log and the ELF export served from the store
 * match vmcore-dmesg of the original.
 */
import { createWriteStream, existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KdumpFileReader } from '../../shared/kdump/reader.js';
import { ExitCode } from '../../sender/exit-codes.js';
import { run, runSender } from '../helpers/cli.js';
import { crashSession, FIXTURE_CACHE, KVER, onPath, unindentContinuations, VMLINUX } from '../helpers/real-fixtures.js';
import { useObjectStore } from '../helpers/object-store.js';
import { startTestReceiver, type TestReceiver } from '../helpers/receiver.js';
import type { DumpDetailView } from '../../receiver/api/dump-view.js';

const ORIGINAL = path.join(FIXTURE_CACHE, 'busy.vmcore');
const haveFixture = KVER !== '' && existsSync(VMLINUX) && existsSync(ORIGINAL);
const VMCORE_DMESG = ['/usr/sbin/vmcore-dmesg', '/sbin/vmcore-dmesg'].find((p) => existsSync(p)) ?? 'vmcore-dmesg';
const haveTools = ['crash', 'makedumpfile', 'vmcore-dmesg'].every(onPath);
const MiB = 2 ** 20;

async function download(url: string, file: string): Promise<Response> {
  const response = await fetch(url);
  expect(response.status).toBe(200);
  await pipeline(Readable.fromWeb(response.body as never), createWriteStream(file));
  return response;
}

describe.runIf(haveFixture && haveTools)(
  'a real vmcore stored in S3 (needs test/fixtures/cache from test/fixtures/ensure-fixtures.sh, Debian\'s crash, makedumpfile, kexec-tools, and OpenStack Swift: `npm test` provides them)',
  () => {
    const store = useObjectStore();
    let receiver: TestReceiver | undefined;
    let work: string;
    let dumpId = '';
    let vmcoreDmesg = '';
    const downloaded = () => path.join(work, 'busy-d31.kdump');
    const api = (pathname: string) => `http://127.0.0.1:${receiver!.httpAddress!.port}${pathname}`;

    beforeAll(async () => {
      work = await mkdtemp(path.join(tmpdir(), 'netdump-s3-real-'));
      const reference = await run(VMCORE_DMESG, [ORIGINAL]);
      expect(reference.code, reference.stderr).toBe(0);
      vmcoreDmesg = reference.stdout;
    });
    afterAll(async () => {
      await receiver?.stop();
      await rm(work, { recursive: true, force: true });
    });

    it('kdump-send stores busy.vmcore at -d 31 in the bucket, as a multipart object with its front padded', async (ctx) => {
      const s3 = store.require(ctx);
      const saved = { ...process.env };
      Object.assign(process.env, { AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey });
      try {
        receiver = await startTestReceiver({
          checkpointChunks: 64,
          storage: `s3://${s3.bucket}/real?endpoint=${encodeURIComponent(s3.endpoint)}&region=${s3.region}&forcePathStyle=true&maxParts=1000`,
        });
      } finally {
        process.env.AWS_ACCESS_KEY_ID = saved.AWS_ACCESS_KEY_ID;
        process.env.AWS_SECRET_ACCESS_KEY = saved.AWS_SECRET_ACCESS_KEY;
        if (saved.AWS_ACCESS_KEY_ID === undefined) delete process.env.AWS_ACCESS_KEY_ID;
        if (saved.AWS_SECRET_ACCESS_KEY === undefined) delete process.env.AWS_SECRET_ACCESS_KEY;
      }
      const result = await runSender(['--server', receiver.tcpUrl, '--host-id', 'busy-s3', '--dump-level', '31', '--deadline', '60', ORIGINAL], 180_000);
      expect(result.code, result.stderr).toBe(ExitCode.STORED);
      dumpId = JSON.parse(result.stdout).dumpId;
      // Nothing of it on local disk: the data directory holds only the catalog.
      expect(existsSync(path.join(receiver.dataDir, 'busy-s3'))).toBe(false);

      const response = await download(api(`/api/v1/dumps/${dumpId}/file`), downloaded());
      const record = (await receiver.catalog.get(dumpId))!;
      expect(Number(response.headers.get('content-length'))).toBe(record.bytesStored);
      const reader = await KdumpFileReader.open(downloaded());
      try {
        const [first] = await reader.readDescriptors(0, 1);
        // Page data starts at the 5 MiB part floor, past the front: this is the padded multipart layout.
        expect(first.offset).toBeGreaterThanOrEqual(5 * MiB);
        expect(reader.incomplete).toBe(false);
      } finally {
        await reader.close();
      }
    }, 240_000);

    it('crash answers bt, sys and log on the downloaded dump as on the original', async () => {
      expect(dumpId).not.toBe('');
      const [ours, theirs] = await Promise.all([crashSession(downloaded()), crashSession(ORIGINAL)]);
      expect(ours).toContain('PANIC:');
      expect(ours).toContain(`RELEASE: ${KVER}`);
      expect(ours).toBe(theirs);
    }, 300_000);

    it('makedumpfile --dump-dmesg of the downloaded dump equals vmcore-dmesg of the original', async () => {
      expect(dumpId).not.toBe('');
      const log = path.join(work, 'busy-s3.dmesg');
      const dumped = await run('makedumpfile', ['--dump-dmesg', downloaded(), log]);
      expect(dumped.code, dumped.stderr + dumped.stdout).toBe(0);
      expect(unindentContinuations(readFileSync(log, 'utf8'))).toBe(vmcoreDmesg);
    }, 120_000);

    it('triage reads the log from the store; /dmesg serves it from there, equal to vmcore-dmesg', async () => {
      expect(dumpId).not.toBe('');
      await receiver!.triage.idle();
      const detail = await (await fetch(api(`/api/v1/dumps/${dumpId}`))).json() as DumpDetailView;
      expect(detail.triageError).toBeNull();
      expect(detail.panicLine).toMatch(/Kernel panic - not syncing: sysrq triggered crash/);
      const served = await fetch(api(`/api/v1/dumps/${dumpId}/dmesg`));
      expect(served.status).toBe(200);
      expect(await served.text()).toBe(vmcoreDmesg);
    }, 120_000);

    it('the ELF export streamed from the store reads in vmcore-dmesg like the original', async () => {
      expect(dumpId).not.toBe('');
      const exported = path.join(work, 'busy-s3.elf');
      const response = await download(api(`/api/v1/dumps/${dumpId}/elf`), exported);
      expect(response.headers.get('x-kdump-elf-addresses')).toBe('virtual');
      const ours = await run(VMCORE_DMESG, [exported]);
      expect(ours.code, ours.stderr).toBe(0);
      expect(ours.stdout).toBe(vmcoreDmesg);
      await rm(exported, { force: true });
    }, 240_000);
  },
);
