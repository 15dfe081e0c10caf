/**
 * Partial files a peer leaves behind: an upload that stopped long ago is
 * deleted by a receiver started the way the package and container start it,
 * with no retention rule at all.
 */
import { existsSync, utimesSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { sampleX86Loads } from '../helpers/elf-core-builder.js';
import { freePort } from '../helpers/ports.js';
import { startStalledUpload } from '../helpers/protocol-messages.js';
import { startReceiverProcess } from '../helpers/receiver-process.js';
import { startTestReceiver } from '../helpers/receiver.js';
import { useSyntheticCore } from '../helpers/synthetic-core.js';

describe('abandoned uploads', () => {
  const fixture = useSyntheticCore({ loads: sampleX86Loads() });
  const dirs: string[] = [];
  afterAll(async () => { for (const d of dirs) await rm(d, { recursive: true, force: true }); });

  it('an upload that stopped 10 days ago is deleted at start by `kdump-receiver serve` without any retention rule', async () => {
    const dataDir = await mkdtemp(path.join(tmpdir(), 'netdump-abandoned-'));
    dirs.push(dataDir);
    const first = await startTestReceiver({ dataDir });
    const { client, dumpId } = await startStalledUpload(first.tcpAddress!.port, fixture.source, { hostId: 'gone-host', chunks: 2 });
    client.close();
    await client.closed;
    const [record] = await first.catalog.list({ hostId: 'gone-host' });
    await first.stop();
    const partial = path.join(dataDir, `${record.path}.incomplete`);
    expect(existsSync(partial)).toBe(true);
    // Ten days on: the row and the file both say so.
    const tenDaysAgo = Date.now() - 10 * 24 * 3600 * 1000;
    const db = new Database(path.join(dataDir, 'index.db'));
    db.prepare('UPDATE dumps SET received_at = ? WHERE dump_id = ?').run(tenDaysAgo, dumpId);
    db.close();
    utimesSync(partial, tenDaysAgo / 1000, tenDaysAgo / 1000);

    const server = await startReceiverProcess(['--data-dir', dataDir, '--tcp', `127.0.0.1:${await freePort()}`, '--http', 'off']);
    try {
      const deadline = Date.now() + 20_000;
      while (!server.log().includes('dump deleted by retention') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      expect(server.log()).toMatch(/"reason":"abandoned".*"msg":"dump deleted by retention"/);
      expect(existsSync(partial)).toBe(false);
    } finally {
      server.child.kill('SIGTERM');
      await new Promise((resolve) => server.child.on('exit', resolve));
    }
    const after = new Database(path.join(dataDir, 'index.db'), { readonly: true });
    expect(after.prepare('SELECT COUNT(*) AS n FROM dumps').get()).toEqual({ n: 0 });
    after.close();
  }, 60_000);
});
