/**
 * A receiver for tests: in-process, loopback only, ephemeral ports, a fresh
 * data directory, logs silenced (or kept in memory to assert on).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { startReceiver, type ReceiverConfig, type RunningReceiver } from '../../receiver/server.js';
import type { ReceiverLimits } from '../../receiver/ingest/hello.js';

export interface TestReceiver extends RunningReceiver {
  dataDir: string;
  tcpUrl: string;
  wsUrl: string;
  logLines: Array<Record<string, unknown>>;
  stop(): Promise<void>;
}

/** Any part of a receiver's configuration; `limits` field by field, over the tests' defaults. */
export type TestReceiverOptions = Partial<Omit<ReceiverConfig, 'limits'>> & { limits?: Partial<ReceiverLimits> };

export async function startTestReceiver(overrides: TestReceiverOptions = {}): Promise<TestReceiver> {
  const dataDir = overrides.dataDir ?? (await mkdtemp(path.join(tmpdir(), 'netdump-rx-')));
  const logLines: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => { logLines.push(JSON.parse(line)); } });
  const receiver = await startReceiver({
    dataDir,
    tcp: '127.0.0.1:0',
    http: '127.0.0.1:0',
    pageCodec: 'lzo',
    checkpointChunks: 16,
    idleTimeoutMs: 30_000,
    // Most tests are not about enrolment; test/integration/auth.test.ts runs closed receivers.
    open: true,
    // Tests send one crash many times within minutes of its making (a fresh fixture's CRASHTIME is minutes old): the
    // default storm policy would cut the fourth to its first tier. The storm tests set their own.
    storm: { completeDumps: 0, windowMs: 60_000 },
    logger,
    ...overrides,
    limits: { maxDumpBytes: 2 ** 40, maxChunkBytes: 4 * 2 ** 20, maxUploads: 64, minFreeBytes: 64 * 2 ** 20, ...overrides.limits },
  });
  return {
    ...receiver,
    dataDir,
    tcpUrl: `tcp://127.0.0.1:${receiver.tcpAddress?.port}`,
    wsUrl: `ws://127.0.0.1:${receiver.httpAddress?.port}/upload`,
    logLines,
    async stop() {
      await receiver.close();
      if (!overrides.dataDir) await rm(dataDir, { recursive: true, force: true });
    },
  };
}
