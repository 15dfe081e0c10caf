/**
 * Receivers keeping dumps in S3-compatible object storage (OpenStack Swift's
 * s3api from Debian, scripts/object-store.sh) with a shared PostgreSQL
 * catalog, behind HAProxy: the whole path a fleet runs.
 *
 * - The receiver serving an upload is killed (-9) once page-data parts are
 *   in the store; the sender's reconnect lands on the survivor, which resumes
 *   the same multipart upload from the state in the catalog and the resume
 *   objects in the bucket, and completes it. The stored object, downloaded
 *   through the survivor's API, holds every page, bitmap and note of an
 *   uninterrupted upload to local disk; nothing of the upload is left over.
 * - The store goes away under a running receiver and comes back: uploads are
 *   refused as UNAVAILABLE (the sender's cue to try another receiver),
 *   /readyz says why, the catalog's API keeps answering, and the same
 *   receiver takes uploads again by itself.
 */
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ListMultipartUploadsCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Catalog } from '../../receiver/catalog/catalog.js';
import { ErrorCode, NetdumpError } from '../../shared/errors.js';
import { KdumpFileReader } from '../../shared/kdump/reader.js';
import { parseServerUrl } from '../../sender/transport.js';
import { upload, type UploadOptions } from '../../sender/upload.js';
import { ExitCode } from '../../sender/exit-codes.js';
import { run, runSender } from '../helpers/cli.js';
import { defaultVmcoreinfo, sampleX86Loads, writeElfCoreFile, type ElfCoreFile } from '../helpers/elf-core-builder.js';
import { haveHaproxy, startHaproxy } from '../helpers/haproxy.js';
import { OBJECT_STORE_SCRIPT, useObjectStore, type ObjectStoreServer } from '../helpers/object-store.js';
import { freePort } from '../helpers/ports.js';
import { createDatabase, POSTGRES_SKIP_HINT, usePostgres, havePostgres } from '../helpers/postgres.js';
import { startTestReceiver } from '../helpers/receiver.js';
import { startReceiverProcess, type ReceiverProcess } from '../helpers/receiver-process.js';
import { useSyntheticCore } from '../helpers/synthetic-core.js';

const MiB = 2 ** 20;

/** The receiver's --storage for a prefix of the test store's bucket (Swift's s3api allows 1,000 parts). */
function storageUrl(s3: ObjectStoreServer, prefix: string): string {
  return `s3://${s3.bucket}/${prefix}?endpoint=${encodeURIComponent(s3.endpoint)}&region=${s3.region}&forcePathStyle=true&maxParts=1000`;
}

function credentials(s3: ObjectStoreServer): NodeJS.ProcessEnv {
  return { ...process.env, AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey };
}

function rawClient(s3: ObjectStoreServer): S3Client {
  return new S3Client({
    endpoint: s3.endpoint, region: s3.region, forcePathStyle: true,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
  });
}

/** Every stored page, bitmap and note of two kdump files the same; their layouts (padding, offsets) may differ. */
async function expectSameDump(actualFile: string, expectedFile: string): Promise<void> {
  const [actual, expected] = [await KdumpFileReader.open(actualFile), await KdumpFileReader.open(expectedFile)];
  try {
    expect(actual.incomplete).toBe(false);
    expect(actual.pageSize).toBe(expected.pageSize);
    expect(actual.maxPfn).toBe(expected.maxPfn);
    expect(actual.presentBitmap.equals(expected.presentBitmap)).toBe(true);
    expect(actual.dumpableBitmap.equals(expected.dumpableBitmap)).toBe(true);
    expect((await actual.readNotes()).equals(await expected.readNotes())).toBe(true);
    const step = 4096;
    const [a, b] = [Buffer.alloc(step * actual.pageSize), Buffer.alloc(step * actual.pageSize)];
    for (let pfn = 0; pfn < expected.maxPfn; pfn += step) {
      const count = Math.min(step, expected.maxPfn - pfn);
      const [inActual, inExpected] = [await actual.readPfnRange(pfn, count, a), await expected.readPfnRange(pfn, count, b)];
      expect(inActual).toBe(inExpected);
      if (!a.equals(b)) throw new Error(`pages ${pfn}..${pfn + count - 1} differ from the uninterrupted upload's`);
    }
  } finally {
    await actual.close();
    await expected.close();
  }
}

describe.skipIf(!havePostgres || !haveHaproxy)(
  `receivers storing dumps in S3 (Swift s3api) with a shared PostgreSQL catalog${!havePostgres ? ` (skipped: ${POSTGRES_SKIP_HINT})`
    : !haveHaproxy ? ' (skipped: needs /usr/sbin/haproxy: apt-get install haproxy, which `npm test` installs)' : ''}`,
  () => {
    const postgres = usePostgres();
    const store = useObjectStore();
    let core: ElfCoreFile;
    let work: string;
    const cleanup: Array<() => Promise<unknown>> = [];

    beforeAll(async () => {
      work = await mkdtemp(path.join(tmpdir(), 's3-ingest-'));
      // ~96 MB of memory, two thirds incompressible: eight 8 MiB parts, so the kill lands with parts up and more to come.
      core = await writeElfCoreFile({
        loads: [...sampleX86Loads(), { paddr: 0x100_0000, memsz: 96 * MiB }],
        page: (pfn) => (pfn % 3 === 0 ? 'zero' : pfn % 3 === 1 ? 'pattern' : 'random'),
      });
    });
    afterAll(async () => {
      for (const step of cleanup.reverse()) await step().catch(() => {});
      await core?.cleanup();
      await rm(work, { recursive: true, force: true });
    });

    it('kill -9 the receiver mid-upload: the survivor resumes the multipart upload and stores every page', async (ctx) => {
      const s3 = store.require(ctx);
      if (!postgres.server) throw new Error(`PostgreSQL did not start: ${postgres.reason}`);
      const sendArgs = (port: number) => ['--server', `tcp://127.0.0.1:${port}`, '--host-id', 's3-host', '--deadline', '120', core.path];

      // The reference: the same core through one receiver to local disk, no crash.
      const cleanDir = path.join(work, 'clean');
      const cleanPort = await freePort();
      const clean = await startReceiverProcess(['--data-dir', cleanDir, '--tcp', `127.0.0.1:${cleanPort}`, '--http', 'off']);
      cleanup.push(async () => { clean.child.kill('SIGKILL'); });
      const cleanRun = await runSender(sendArgs(cleanPort));
      clean.child.kill('SIGTERM');
      expect(cleanRun.code, cleanRun.stderr).toBe(ExitCode.STORED);
      const reference = path.join(cleanDir, JSON.parse(cleanRun.stdout).path);

      const database = await createDatabase(postgres.server, 's3fleet');
      cleanup.push(() => database.drop());
      const prefix = 'fleet-kill';
      const tcpPorts = [await freePort(), await freePort()];
      const httpPorts = [await freePort(), await freePort()];
      const receivers: ReceiverProcess[] = [];
      for (const [i, port] of tcpPorts.entries()) {
        const receiver = await startReceiverProcess(['--data-dir', path.join(work, `rx-${i}`), '--catalog', database.url,
          '--storage', storageUrl(s3, prefix), '--tcp', `127.0.0.1:${port}`, '--http', `127.0.0.1:${httpPorts[i]}`,
          '--receiver-id', `rx-${i}`, '--lease-ttl', '2', '--checkpoint-chunks', '16'], credentials(s3));
        receivers.push(receiver);
        cleanup.push(async () => { receiver.child.kill('SIGKILL'); });
      }
      const balancer = await startHaproxy(tcpPorts);
      cleanup.push(() => balancer.stop());
      const catalog = await Catalog.open(database.url);
      cleanup.push(() => catalog.close());

      const sending = runSender(sendArgs(balancer.port), 240_000);
      // Kill once the recorded checkpoint lies past the padded front and one 8 MiB part: parts, tail and journal all in play.
      let killedAt = 0;
      let holder: string | undefined;
      for (const deadline = Date.now() + 90_000; killedAt === 0 && Date.now() < deadline;) {
        const row = (await catalog.list())[0];
        holder = row && await catalog.leaseHolder(row.dumpId);
        if (row && holder && row.dataEnd > 5 * MiB + 9 * MiB) killedAt = row.nextSeq;
        else await new Promise((r) => setTimeout(r, 20));
      }
      expect(killedAt).toBeGreaterThan(0);
      const dumpId = (await catalog.list())[0].dumpId;
      expect(holder).toMatch(/^rx-[01]$/);
      const served = Number(holder!.slice(3));
      const survivor = served === 0 ? 1 : 0;
      receivers[served].child.kill('SIGKILL');

      const result = await sending;
      expect(result.code, result.stderr).toBe(ExitCode.STORED);
      expect(Number(/resuming at chunk (\d+)/.exec(result.stderr)?.[1])).toBeGreaterThanOrEqual(killedAt);
      const done = JSON.parse(result.stdout);
      expect(done.attempts).toBeGreaterThan(1);
      expect(receivers[survivor].log()).toMatch(/"msg":"dump stored"/);
      const [row] = await catalog.list();
      expect(row.status).toBe('complete');
      expect(await catalog.leaseHolder(dumpId)).toBeUndefined();

      // Downloaded through the survivor's API, from the store.
      const downloaded = path.join(work, 'downloaded.kdump');
      const response = await fetch(`http://127.0.0.1:${httpPorts[survivor]}/api/v1/dumps/${dumpId}/file`);
      expect(response.status).toBe(200);
      await pipeline(Readable.fromWeb(response.body as never), createWriteStream(downloaded));
      await expectSameDump(downloaded, reference);
      const detail = await (await fetch(`http://127.0.0.1:${httpPorts[survivor]}/api/v1/dumps/${dumpId}`)).json() as { path: string; bytesStored: number };
      expect(detail.path).toBe(`s3://${s3.bucket}/${prefix}/${row.path}`);

      // The upload left nothing behind: one completed object and its ELF headers (and the log, once triage runs), no resume objects, no open uploads.
      const client = rawClient(s3);
      cleanup.push(async () => client.destroy());
      const objects = await client.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: `${prefix}/` }));
      const keys = (objects.Contents ?? []).map((o) => o.Key!);
      expect(keys).toEqual(expect.arrayContaining([`${prefix}/${row.path}`, `${prefix}/${row.path}.elf-headers`]));
      expect(keys.filter((k) => k.includes('.resume/'))).toEqual([]);
      expect((objects.Contents ?? []).find((o) => o.Key === `${prefix}/${row.path}`)?.Size).toBe(row.bytesStored);
      const open = await client.send(new ListMultipartUploadsCommand({ Bucket: s3.bucket, Prefix: `${prefix}/` }));
      expect(open.Uploads ?? []).toEqual([]);
    }, 300_000);

    describe('the store goes away and returns', () => {
      const before = useSyntheticCore({ loads: sampleX86Loads(), vmcoreinfo: defaultVmcoreinfo({ crashTime: 1_700_000_000 }) });
      const during = useSyntheticCore({ loads: sampleX86Loads(), vmcoreinfo: defaultVmcoreinfo({ crashTime: 1_700_000_500 }) });

      it('refuses uploads as UNAVAILABLE while the store is down, says so in /readyz, lists dumps, and recovers by itself', async (ctx) => {
        const s3 = store.require(ctx);
        const saved = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY };
        Object.assign(process.env, { AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey });
        const receiver = await startTestReceiver({ storage: storageUrl(s3, 'outage') }).finally(() => {
          // Read when the storage is opened; the rest of the process should not see them.
          process.env.AWS_ACCESS_KEY_ID = saved.id;
          process.env.AWS_SECRET_ACCESS_KEY = saved.secret;
          if (saved.id === undefined) delete process.env.AWS_ACCESS_KEY_ID;
          if (saved.secret === undefined) delete process.env.AWS_SECRET_ACCESS_KEY;
        });
        cleanup.push(() => receiver.stop());
        const options = (deadlineMs: number): UploadOptions => ({
          servers: [parseServerUrl(receiver.tcpUrl)], hostId: 'store-host', chunkPages: 16,
          connectTimeoutMs: 2000, replyTimeoutMs: 5000, deadlineMs, framesInFlight: 2,
        });
        const api = (pathname: string) => fetch(`http://127.0.0.1:${receiver.httpAddress!.port}${pathname}`);

        await upload(before.source, options(20_000));
        expect((await api('/readyz')).status).toBe(200);

        let stopped = false;
        cleanup.push(async () => {
          if (stopped) await run('bash', [OBJECT_STORE_SCRIPT, 'start', s3.dir, String(s3.port)], { timeoutMs: 120_000 });
        });
        const stop = await run('bash', [OBJECT_STORE_SCRIPT, 'stop', s3.dir], { timeoutMs: 60_000 });
        expect(stop.code, stop.stderr).toBe(0);
        stopped = true;

        const refused = await upload(during.source, options(3_000)).then(() => undefined, (e: unknown) => e);
        expect(refused).toBeInstanceOf(NetdumpError);
        expect((refused as NetdumpError).code).toBe(ErrorCode.UNAVAILABLE);
        expect((refused as NetdumpError).message).toMatch(/S3 \w+ s3:\/\//);
        const ready = await api('/readyz');
        expect(ready.status).toBe(503);
        expect(await ready.json()).toMatchObject({ ready: false, catalog: 'ok', storage: expect.stringMatching(/HeadBucket/) });
        // What the catalog alone answers is still served: the dump stored before. The refused one left
        // no row: its key is claimed in the store (is anything there already?) before the row is written.
        const list = await api('/api/v1/dumps');
        expect(list.status).toBe(200);
        expect(((await list.json()) as { dumps: Array<{ host: string }> }).dumps.map((d) => d.host)).toEqual(['store-host']);

        const restarted = await run('bash', [OBJECT_STORE_SCRIPT, 'start', s3.dir, String(s3.port)], { timeoutMs: 120_000 });
        expect(restarted.code, restarted.stderr).toBe(0);
        stopped = false;
        const stored = await upload(during.source, options(30_000));
        expect(stored.path).toMatch(/^store-host\//);
        expect((await api('/readyz')).status).toBe(200);
        const download = await api(`/api/v1/dumps/${(await receiver.catalog.list()).find((r) => r.status === 'complete' && r.path === stored.path)!.dumpId}/file`);
        expect(download.status).toBe(200);
        expect(Number(download.headers.get('content-length'))).toBeGreaterThan(0);
        await download.arrayBuffer();
      }, 240_000);
    });
  },
);
