/**
 * PostgreSQL goes away under a running receiver and comes back: new uploads
 * are refused as UNAVAILABLE (the sender's cue to try the next receiver),
 * the API and /readyz say 503 with the reason, /healthz stays up, and once
 * the database returns the same receiver takes uploads again by itself.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, NetdumpError } from '../../shared/errors.js';
import { parseServerUrl } from '../../sender/transport.js';
import { upload, type UploadOptions } from '../../sender/upload.js';
import { run } from '../helpers/cli.js';
import { defaultVmcoreinfo, sampleX86Loads } from '../helpers/elf-core-builder.js';
import { createDatabase, POSTGRES_SCRIPT, POSTGRES_SKIP_HINT, usePostgres, type TestDatabase, havePostgres } from '../helpers/postgres.js';
import { startTestReceiver, type TestReceiver } from '../helpers/receiver.js';
import { useSyntheticCore } from '../helpers/synthetic-core.js';


describe.skipIf(!havePostgres)(`a receiver whose PostgreSQL catalog goes away and returns${havePostgres ? '' : ` (skipped: ${POSTGRES_SKIP_HINT})`}`, () => {
  const postgres = usePostgres();
  const before = useSyntheticCore({ loads: sampleX86Loads(), vmcoreinfo: defaultVmcoreinfo({ crashTime: 1_700_000_000 }) });
  const during = useSyntheticCore({ loads: sampleX86Loads(), vmcoreinfo: defaultVmcoreinfo({ crashTime: 1_700_000_500 }) });
  let receiver: TestReceiver;
  let database: TestDatabase;

  const options = (deadlineMs: number): UploadOptions => ({
    servers: [parseServerUrl(receiver.tcpUrl)], hostId: 'db-host', chunkPages: 16,
    connectTimeoutMs: 2000, replyTimeoutMs: 5000, deadlineMs, framesInFlight: 2,
  });
  const api = (pathname: string) => fetch(`http://127.0.0.1:${receiver.httpAddress!.port}${pathname}`);

  beforeAll(async () => {
    if (!postgres.server) throw new Error(`PostgreSQL did not start: ${postgres.reason}`);
    database = await createDatabase(postgres.server, 'outage');
    receiver = await startTestReceiver({ catalogUrl: database.url });
  });
  afterAll(async () => {
    await receiver?.stop();
    await database?.drop().catch(() => {});
  });

  it('refuses uploads as UNAVAILABLE while the database is down, answers 503, and recovers by itself', async () => {
    await upload(before.source, options(10_000));
    expect((await api('/readyz')).status).toBe(200);

    const stopped = await run('bash', [POSTGRES_SCRIPT, 'stop', postgres.server!.dir], { timeoutMs: 60_000 });
    expect(stopped.code, stopped.stderr).toBe(0);

    const refused = await upload(during.source, options(1_500)).then(() => undefined, (e: unknown) => e);
    expect(refused).toBeInstanceOf(NetdumpError);
    expect((refused as NetdumpError).code).toBe(ErrorCode.UNAVAILABLE);
    expect((refused as NetdumpError).message).toMatch(/catalog database unreachable/);

    const list = await api('/api/v1/dumps');
    expect(list.status).toBe(503);
    expect(list.headers.get('retry-after')).toBe('5');
    expect(((await list.json()) as any).error).toMatchObject({ code: 'UNAVAILABLE', message: expect.stringMatching(/catalog database unreachable/) });
    const ready = await api('/readyz');
    expect(ready.status).toBe(503);
    expect(await ready.json()).toMatchObject({ ready: false, catalog: expect.stringMatching(/unreachable/) });
    expect((await api('/healthz')).status).toBe(200);

    const restarted = await run('bash', [POSTGRES_SCRIPT, 'start', postgres.server!.dir, String(postgres.server!.port)], { timeoutMs: 120_000 });
    expect(restarted.code, restarted.stderr).toBe(0);
    const stored = await upload(during.source, options(20_000));
    expect(stored.path).toMatch(/^db-host\//);
    expect((await api('/readyz')).status).toBe(200);
    expect(((await (await api('/api/v1/dumps')).json()) as any).total).toBe(2);
  });
});
