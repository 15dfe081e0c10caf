/**
 * The HTTP API (docs/api.md) against a live receiver with dumps uploaded by
 * the real sender: operator auth and roles, filters and their errors,
 * downloads with Range, the ELF export's bytes, deletion, uploads in flight,
 * metrics. Synthetic cores carry no kernel log, so triage records why.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseElfHeader, parseProgramHeaders, PT_LOAD, PT_NOTE } from '../../shared/elf/core.js';
import { parseServerUrl } from '../../sender/transport.js';
import { upload, type UploadResult } from '../../sender/upload.js';
import { defaultVmcoreinfo, physicalBytes, sampleX86Loads, type ElfCoreSpec } from '../helpers/elf-core-builder.js';
import { useSyntheticCore } from '../helpers/synthetic-core.js';
import { startStalledUpload } from '../helpers/protocol-messages.js';
import { startTestReceiver, type TestReceiver } from '../helpers/receiver.js';

const specFor = (crashTime: number, osRelease: string): ElfCoreSpec => ({
  loads: sampleX86Loads(),
  vmcoreinfo: defaultVmcoreinfo({ crashTime, osRelease }),
  page: (pfn) => (pfn % 3 === 0 ? 'zero' : 'pattern'),
});
const OLD = specFor(1_700_000_000, '6.1.0-56-amd64');
const NEW = specFor(1_750_000_000, '6.12.9-amd64');

describe('HTTP API v1', () => {
  const oldCore = useSyntheticCore(OLD);
  const newCore = useSyntheticCore(NEW);
  let receiver: TestReceiver;
  let base: string;
  let admin: string;
  let reader: string;
  const stored = new Map<string, UploadResult>();

  /** token null: no Authorization header. */
  const api = (pathname: string, token: string | null = reader, init: RequestInit = {}) =>
    fetch(`${base}${pathname}`, { ...init, headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(init.headers ?? {}) } });
  const json = async (pathname: string, token: string | null = reader) => {
    const res = await api(pathname, token);
    return { status: res.status, body: await res.json() as any };
  };

  beforeAll(async () => {
    receiver = await startTestReceiver({ open: false });
    base = `http://127.0.0.1:${receiver.httpAddress!.port}`;
    admin = await receiver.catalog.operatorTokens.add('alice', 'admin');
    reader = await receiver.catalog.operatorTokens.add('bob', 'read');
    const hostTokens = { 'host-a': (await receiver.catalog.hostTokens.add('host-a')), 'host-b': (await receiver.catalog.hostTokens.add('host-b')) };
    for (const [key, hostId, source] of [['a-old', 'host-a', oldCore.source], ['b-old', 'host-b', oldCore.source], ['b-new', 'host-b', newCore.source]] as const) {
      stored.set(key, await upload(source, {
        servers: [parseServerUrl(receiver.tcpUrl)], hostId, token: hostTokens[hostId], chunkPages: 16,
        connectTimeoutMs: 2000, replyTimeoutMs: 5000, deadlineMs: 10_000, framesInFlight: 2,
      }));
    }
    await receiver.triage.idle();
  });

  afterAll(async () => {
    await receiver?.stop();
  });

  it('refuses requests without a live operator token, with a JSON error and no stack trace', async () => {
    for (const token of [null, 'not-a-token', (await receiver.catalog.hostTokens.add('host-z'))]) {
      const res = await api('/api/v1/dumps', token);
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toBe('Bearer');
      const body = await res.json() as any;
      expect(body.error.code).toBe('UNAUTHENTICATED');
      expect(JSON.stringify(body)).not.toMatch(/at .*\.ts:\d+/);
    }
    expect((await api('/api/v1/dumps', null, { headers: { authorization: 'Basic abc' } })).status).toBe(401);
    expect((await json('/api/v1/whoami')).body).toEqual({ name: 'bob', role: 'read', open: false });
  });

  it('lists dumps newest crash first, filters by host, kernel, time and status, and pages', async () => {
    const all = await json('/api/v1/dumps');
    expect(all.status).toBe(200);
    expect(all.body.total).toBe(3);
    expect(all.body.dumps.map((d: any) => d.kernel)).toEqual(['6.12.9-amd64', '6.1.0-56-amd64', '6.1.0-56-amd64']);
    expect(all.body.dumps[0]).toMatchObject({ host: 'host-b', status: 'complete', crashTime: new Date(1_750_000_000_000).toISOString() });

    expect((await json('/api/v1/dumps?host=host-a')).body.dumps.map((d: any) => d.id)).toEqual([stored.get('a-old')!.dumpId]);
    expect((await json('/api/v1/dumps?kernel=6.12.9-amd64')).body.total).toBe(1);
    expect((await json('/api/v1/dumps?since=2025-01-01T00:00:00Z')).body.total).toBe(1);
    expect((await json(`/api/v1/dumps?until=${1_700_000_000_000}`)).body.total).toBe(2);
    expect((await json('/api/v1/dumps?status=failed')).body.total).toBe(0);
    // None of these is a live snapshot (test/integration/sender-cli.test.ts sends one): every dump is a crash.
    expect((await json('/api/v1/dumps?kind=live')).body.total).toBe(0);
    expect((await json('/api/v1/dumps?kind=crash')).body.total).toBe(3);
    expect(all.body.dumps.every((d: { kind: string; liveReason: unknown }) => d.kind === 'crash' && d.liveReason === null)).toBe(true);
    const page = await json('/api/v1/dumps?limit=1&offset=1');
    expect(page.body).toMatchObject({ total: 3, limit: 1, offset: 1 });
    expect(page.body.dumps).toHaveLength(1);
    expect(page.body.dumps[0].id).toBe(all.body.dumps[1].id);
  });

  it('answers bad filters with 400 naming the parameter', async () => {
    const cases: Array<[string, RegExp]> = [
      ['since=yesterday', /since="yesterday" is not a time/],
      ['status=lost', /status="lost" is not one of/],
      ['kind=panic', /kind="panic" is not one of crash, live/],
      ['limit=0', /limit="0" must be an integer from 1 to 1000/],
      ['limit=abc', /limit="abc"/],
      ['colour=red', /unknown parameter "colour"/],
      ['host=a&host=b', /host given 2 times/],
      ['since=2026-01-02&until=2026-01-01', /since .* is after until/],
    ];
    for (const [query, message] of cases) {
      const { status, body } = await json(`/api/v1/dumps?${query}`);
      expect(status, query).toBe(400);
      expect(body.error.code).toBe('BAD_REQUEST');
      expect(body.error.message).toMatch(message);
    }
  });

  it('gives 404, 405 and 400 as JSON for unknown ids, paths, methods and broken encodings', async () => {
    const cases: Array<[string, string, number, string]> = [
      ['GET', '/api/v1/dumps/0123456789abcdef', 404, 'NOT_FOUND'],
      ['GET', '/api/v1/dumps/0123456789abcdef/file', 404, 'NOT_FOUND'],
      ['GET', '/api/v1/groups/nope', 404, 'NOT_FOUND'],
      ['GET', '/api/v1/nothing', 404, 'NOT_FOUND'],
      ['GET', '/api/v2/dumps', 404, 'NOT_FOUND'],
      ['PUT', '/api/v1/dumps', 405, 'METHOD_NOT_ALLOWED'],
      ['GET', '/api/v1/dumps/%E0%A4%A', 400, 'BAD_REQUEST'],
    ];
    for (const [method, pathname, status, code] of cases) {
      const res = await api(pathname, reader, { method });
      expect(res.status, `${method} ${pathname}`).toBe(status);
      expect(((await res.json()) as any).error.code).toBe(code);
    }
  });

  it('shows a dump in full: paths, the crash command, and why its log could not be read', async () => {
    const { dumpId } = stored.get('a-old')!;
    const { status, body } = await json(`/api/v1/dumps/${dumpId}`);
    expect(status).toBe(200);
    const file = path.join(receiver.dataDir, stored.get('a-old')!.path);
    expect(body).toMatchObject({
      id: dumpId, host: 'host-a', kernel: '6.1.0-56-amd64', status: 'complete', path: file,
      crashCommand: `crash /usr/lib/debug/boot/vmlinux-6.1.0-56-amd64 ${file}`,
      links: { file: `/api/v1/dumps/${dumpId}/file`, elf: `/api/v1/dumps/${dumpId}/elf`, dmesg: `/api/v1/dumps/${dumpId}/dmesg` },
    });
    // A synthetic core has no printk buffer: stored and listed all the same, with the reason.
    expect(body.triageError).toMatch(/kernel log not readable: .+/);
    // Each fact in one place: what the summary has, the detail's triage part does not repeat.
    expect(Object.keys(body.triage).sort()).toEqual(['bugLine', 'callTrace', 'ripSymbol', 'signatureText', 'triagedAt']);
    const dmesg = await json(`/api/v1/dumps/${dumpId}/dmesg`);
    expect(dmesg.status).toBe(404);
    expect(dmesg.body.error.message).toMatch(/no kernel log for dump .*: kernel log not readable/);
  });

  it('downloads the stored file whole and by Range, and refuses ranges past the end', async () => {
    const { dumpId, path: relative } = stored.get('b-new')!;
    const onDisk = await readFile(path.join(receiver.dataDir, relative));
    const whole = await api(`/api/v1/dumps/${dumpId}/file`);
    expect(whole.status).toBe(200);
    expect(whole.headers.get('accept-ranges')).toBe('bytes');
    expect(whole.headers.get('content-disposition')).toMatch(/^attachment; filename="host-b-2025-06-15-15-06-40\.kdump"$/);
    expect(createHash('sha256').update(Buffer.from(await whole.arrayBuffer())).digest('hex'))
      .toBe(createHash('sha256').update(onDisk).digest('hex'));

    const part = await api(`/api/v1/dumps/${dumpId}/file`, reader, { headers: { range: 'bytes=4096-8191' } });
    expect(part.status).toBe(206);
    expect(part.headers.get('content-range')).toBe(`bytes 4096-8191/${onDisk.length}`);
    expect(Buffer.from(await part.arrayBuffer()).equals(onDisk.subarray(4096, 8192))).toBe(true);

    const tail = await api(`/api/v1/dumps/${dumpId}/file`, reader, { headers: { range: 'bytes=-100' } });
    expect(Buffer.from(await tail.arrayBuffer()).equals(onDisk.subarray(onDisk.length - 100))).toBe(true);

    const past = await api(`/api/v1/dumps/${dumpId}/file`, reader, { headers: { range: `bytes=${onDisk.length}-` } });
    expect(past.status).toBe(416);
    expect(past.headers.get('content-range')).toBe(`bytes */${onDisk.length}`);
    expect(((await past.json()) as any).error.code).toBe('RANGE_NOT_SATISFIABLE');
    expect((await api(`/api/v1/dumps/${dumpId}/file`, reader, { headers: { range: 'pages=1-2' } })).status).toBe(400);
  });

  it('exports an ELF core whose segments keep the original virtual addresses and hold the original bytes', async () => {
    const { dumpId } = stored.get('b-new')!;
    const res = await api(`/api/v1/dumps/${dumpId}/elf`);
    expect(res.status).toBe(200);
    expect(res.headers.get('x-kdump-elf-addresses')).toBe('virtual');
    const elf = Buffer.from(await res.arrayBuffer());
    expect(elf.length).toBe(Number(res.headers.get('content-length')));
    const header = parseElfHeader(elf);
    const headers = parseProgramHeaders(elf, header);
    expect(headers[0].type).toBe(PT_NOTE);
    expect(elf.subarray(headers[0].offset, headers[0].offset + headers[0].filesz).equals(newCore.source.notes)).toBe(true);
    const loads = headers.filter((h) => h.type === PT_LOAD);
    const originals = newCore.source.core.programHeaders.filter((h) => h.type === PT_LOAD);
    const covered = new Map<(typeof originals)[number], number>();
    for (const load of loads) {
      expect(load.filesz).toBe(load.memsz);
      // Overlapping originals (kernel text inside System RAM) each give their own segments.
      const original = originals.find((o) => load.paddr >= o.paddr && load.paddr + load.memsz <= o.paddr + o.memsz
        && load.vaddr === o.vaddr + BigInt(load.paddr - o.paddr));
      expect(original, `segment at paddr ${load.paddr.toString(16)} keeps an original PT_LOAD's address mapping`).toBeDefined();
      const content = elf.subarray(load.offset, load.offset + load.filesz);
      expect(content.equals(physicalBytes(NEW, load.paddr, load.paddr + load.filesz)), `bytes at paddr ${load.paddr.toString(16)}`).toBe(true);
      covered.set(original!, (covered.get(original!) ?? 0) + load.filesz);
    }
    // Every original segment is there but for partial pages at its ends (not part of a kdump dump).
    for (const original of originals) expect(covered.get(original) ?? 0).toBeGreaterThan(original.memsz - 2 * 4096);
  });

  it('shows uploads in flight with their progress, and refuses to delete a dump being received', async () => {
    const hostToken = await receiver.catalog.hostTokens.add('host-slow');
    const stalled = await startStalledUpload(receiver.tcpAddress!.port, oldCore.source, { hostId: 'host-slow', token: hostToken, chunks: 3 });
    try {
      let upload: any;
      for (let i = 0; i < 50 && !(upload?.pagesDone >= 48); i++) {
        upload = (await json('/api/v1/uploads')).body.uploads.find((u: any) => u.id === stalled.dumpId);
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(upload).toMatchObject({ host: 'host-slow', kernel: '6.1.0-56-amd64', pagesDone: 48 });
      expect(upload.fraction).toBeGreaterThan(0);
      expect(upload.fraction).toBeLessThan(1);
      const refused = await api(`/api/v1/dumps/${stalled.dumpId}`, admin, { method: 'DELETE' });
      expect(refused.status).toBe(409);
      expect(((await refused.json()) as any).error.message).toMatch(/being received now/);
      const metrics = await (await fetch(`${base}/metrics`)).text();
      expect(metrics).toMatch(/^kdump_receiver_uploads_in_flight 1$/m);
    } finally {
      stalled.client.close();
      await stalled.client.closed;
    }
  });

  it('deletes a dump for an admin only: files and row gone, other dumps untouched', async () => {
    const { dumpId, path: relative } = stored.get('a-old')!;
    const folder = path.dirname(path.join(receiver.dataDir, relative));
    const forbidden = await api(`/api/v1/dumps/${dumpId}`, reader, { method: 'DELETE' });
    expect(forbidden.status).toBe(403);
    expect(((await forbidden.json()) as any).error.message).toMatch(/needs an admin token; bob has role read/);
    expect(existsSync(folder)).toBe(true);

    expect((await api(`/api/v1/dumps/${dumpId}`, admin, { method: 'DELETE' })).status).toBe(204);
    expect(existsSync(folder)).toBe(false);
    expect((await json(`/api/v1/dumps/${dumpId}`)).status).toBe(404);
    expect((await json('/api/v1/dumps?status=complete')).body.total).toBe(2);
    expect(existsSync(path.join(receiver.dataDir, stored.get('b-old')!.path))).toBe(true);
  });

  it('signs the web UI in with a cookie and out again', async () => {
    const json = { 'content-type': 'application/json' };
    const bad = await api('/api/v1/session', null, { method: 'POST', headers: json, body: JSON.stringify({ token: 'wrong' }) });
    expect(bad.status).toBe(401);
    const login = await api('/api/v1/session', null, { method: 'POST', headers: json, body: JSON.stringify({ token: reader }) });
    expect(login.status).toBe(204);
    const cookie = login.headers.get('set-cookie')!;
    expect(cookie).toMatch(/^kdump_session=[^;]+; Path=\/; HttpOnly; SameSite=Strict$/);
    const withCookie = await api('/api/v1/whoami', null, { headers: { cookie: cookie.split(';')[0] } });
    expect(await withCookie.json()).toMatchObject({ name: 'bob' });
    const logout = await api('/api/v1/session', null, { method: 'DELETE' });
    expect(logout.headers.get('set-cookie')).toMatch(/Max-Age=0/);
    expect((await api('/api/v1/session', null, { method: 'POST', headers: json, body: 'not json' })).status).toBe(400);
  });

  it('exposes Prometheus metrics without a token', async () => {
    const refused = await upload(oldCore.source, {
      servers: [parseServerUrl(receiver.tcpUrl)], hostId: 'host-a', token: 'wrong', chunkPages: 16,
      connectTimeoutMs: 2000, replyTimeoutMs: 5000, deadlineMs: 5000, framesInFlight: 2,
    }).catch((error: Error) => error);
    expect(refused).toBeInstanceOf(Error);
    const res = await fetch(`${base}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    const text = await res.text();
    expect(text).toMatch(/^kdump_receiver_dumps_stored_total 3$/m);
    expect(text).toMatch(/^kdump_receiver_bytes_received_total [1-9]\d*$/m);
    expect(text).toMatch(/^kdump_receiver_dumps\{status="complete"\} [23]$/m);
    expect(text).toMatch(/^kdump_receiver_disk_free_bytes [1-9]\d*$/m);
    expect(text).toMatch(/^kdump_receiver_upload_failures_total\{code="AUTH"\} 1$/m);
    expect(text).toMatch(/^kdump_receiver_triage_total\{outcome="no-log"\} 3$/m);
    expect(text).toMatch(/^kdump_receiver_process_resident_memory_bytes [1-9]/m);
  });
});
