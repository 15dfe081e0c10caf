/**
 * Enrolment: only hosts with a live token bound to their host id may upload;
 * every refusal is AUTH, final, logged with peer and host, and writes nothing.
 */
import { existsSync, readFileSync } from 'node:fs';
import { readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCode, NetdumpError } from '../../shared/errors.js';
import { ExitCode } from '../../sender/exit-codes.js';
import { parseServerUrl } from '../../sender/transport.js';
import { upload, type UploadOptions } from '../../sender/upload.js';
import { runReceiverCli, runSender } from '../helpers/cli.js';
import { sampleX86Loads } from '../helpers/elf-core-builder.js';
import { useSyntheticCore } from '../helpers/synthetic-core.js';
import { startTestReceiver, type TestReceiver } from '../helpers/receiver.js';

describe('host enrolment and tokens', () => {
  const fixture = useSyntheticCore({ loads: sampleX86Loads() });
  let receiver: TestReceiver;

  const options = (hostId: string, token: string | undefined): UploadOptions => ({
    servers: [parseServerUrl(receiver.tcpUrl)], hostId, token, chunkPages: 16,
    connectTimeoutMs: 2000, replyTimeoutMs: 5000, deadlineMs: 5000, framesInFlight: 2,
  });

  async function refusal(hostId: string, token: string | undefined): Promise<NetdumpError> {
    const error = await upload(fixture.source, options(hostId, token)).then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(NetdumpError);
    return error as NetdumpError;
  }

  afterEach(async () => {
    await receiver?.stop();
  });

  it('an enrolled host with its token is stored; strangers, wrong, revoked and borrowed tokens are refused and write nothing', async () => {
    receiver = await startTestReceiver({ open: false });
    const tokenA = await receiver.catalog.hostTokens.add('host-a');
    const tokenB = await receiver.catalog.hostTokens.add('host-b');
    const tokenC = await receiver.catalog.hostTokens.add('host-c');
    expect(await receiver.catalog.hostTokens.revoke('host-c')).toBe(true);

    const cases: Array<[string, string | undefined, RegExp]> = [
      ['host-a', undefined, /host host-a sent no token/],
      // Wrong, borrowed, revoked and unknown get the same words: a stranger learns nothing of who is enrolled.
      ['host-a', 'x'.repeat(43), /: token not accepted for host host-a$/],
      ['host-a', tokenB, /: token not accepted for host host-a$/], // host-b's token cannot write as host-a
      ['host-c', tokenC, /: token not accepted for host host-c$/],
      ['host-z', tokenA, /: token not accepted for host host-z$/],
    ];
    for (const [hostId, token, message] of cases) {
      const error = await refusal(hostId, token);
      expect(error.code, `${hostId}`).toBe(ErrorCode.AUTH);
      expect(error.message).toMatch(message);
      expect(error).toMatchObject({ fromPeer: true, retryable: false });
    }
    // Refused before anything touched the data directory.
    expect((await readdir(receiver.dataDir)).filter((f) => !f.startsWith('index.db'))).toEqual([]);
    expect(await receiver.catalog.list()).toHaveLength(0);
    const logged = receiver.logLines.filter((l) => l.code === ErrorCode.AUTH);
    expect(logged).toHaveLength(cases.length);
    expect(logged.every((l) => typeof l.peer === 'string' && (l.peer as string).startsWith('127.0.0.1:') && typeof l.host === 'string')).toBe(true);
    // The operator's log tells them apart.
    expect(logged.map((l) => l.reason)).toEqual([undefined, 'wrong token', 'wrong token', 'token revoked', 'not enrolled']);

    const stored = await upload(fixture.source, options('host-a', tokenA));
    expect(await receiver.catalog.get(stored.dumpId)).toMatchObject({ status: 'complete', hostId: 'host-a' });
  });

  it('keeps only hashes of tokens; token list never shows them; the sender exits 4 on a refused token', async () => {
    receiver = await startTestReceiver({ open: false });
    const added = await runReceiverCli(['token', 'add', 'cli-host', '--data-dir', receiver.dataDir]);
    expect(added.code, added.stderr).toBe(0);
    const token = added.stdout.trim();
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const listed = await runReceiverCli(['token', 'list', '--data-dir', receiver.dataDir]);
    expect(listed.stdout).toMatch(/^cli-host\s+enrolled /m);
    expect(listed.stdout).not.toContain(token);
    for (const file of ['index.db', 'index.db-wal']) {
      const at = path.join(receiver.dataDir, file);
      if (existsSync(at)) expect(readFileSync(at).includes(Buffer.from(token))).toBe(false);
    }

    const tokenFile = path.join(fixture.core.dir, 'token');
    await writeFile(tokenFile, 'not-the-token\n');
    const refused = await runSender(['--server', receiver.tcpUrl, '--host-id', 'cli-host', '--token-file', tokenFile, '--deadline', '5', fixture.core.path]);
    expect(refused.code).toBe(ExitCode.REJECTED);
    expect(refused.stderr).toMatch(/error AUTH: receiver refused: token not accepted for host cli-host/);
    expect(refused.stderr).not.toMatch(/retrying/);

    await writeFile(tokenFile, `${token}\n`);
    const accepted = await runSender(['--server', receiver.tcpUrl, '--host-id', 'cli-host', '--token-file', tokenFile, fixture.core.path]);
    expect(accepted.code, accepted.stderr).toBe(ExitCode.STORED);

    const revoked = await runReceiverCli(['token', 'revoke', 'cli-host', '--data-dir', receiver.dataDir]);
    expect(revoked.code).toBe(0);
    expect((await runReceiverCli(['token', 'revoke', 'cli-host', '--data-dir', receiver.dataDir])).code).toBe(3);
  });

  it('operator add, list and revoke: the token opens the API with its role, list never shows it, a revoked one is refused', async () => {
    receiver = await startTestReceiver({ open: false });
    const cli = (...args: string[]) => runReceiverCli([...args, '--data-dir', receiver!.dataDir]);
    const added = await cli('operator', 'add', 'alice', '--role', 'admin');
    expect(added.code, added.stderr).toBe(0);
    const token = added.stdout.trim();
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const whoami = () => fetch(`http://127.0.0.1:${receiver!.httpAddress!.port}/api/v1/whoami`, { headers: { authorization: `Bearer ${token}` } });
    expect(await (await whoami()).json()).toMatchObject({ name: 'alice', role: 'admin' });
    const listed = await cli('operator', 'list');
    expect(listed.stdout).toMatch(/^alice\s+admin\s+added \d{4}-/m);
    expect(listed.stdout).not.toContain(token);

    expect((await cli('operator', 'revoke', 'alice')).code).toBe(0);
    expect((await whoami()).status).toBe(401);
    const again = await cli('operator', 'revoke', 'alice');
    expect(again.code).toBe(3);
    expect(again.stderr).toMatch(/operator alice has no live token/);
    expect(JSON.parse((await cli('operator', 'list', '--json')).stdout)).toEqual([
      expect.objectContaining({ name: 'alice', role: 'admin', revokedAt: expect.any(Number) }),
    ]);
    expect((await cli('operator', 'list')).stdout).toMatch(/^alice\s+admin\s+added \S+\s+REVOKED /m);
  });

  it('open mode takes uploads without a token and says so in the log', async () => {
    receiver = await startTestReceiver({ open: true });
    expect(receiver.logLines.some((l) => l.level === 40 && /open mode/.test(String(l.msg)))).toBe(true);
    const stored = await upload(fixture.source, options('lab-host', undefined));
    expect((await receiver.catalog.get(stored.dumpId))?.status).toBe('complete');
  });

  it('a closed receiver with nobody enrolled warns that it will refuse everything', async () => {
    receiver = await startTestReceiver({ open: false });
    expect(receiver.logLines.some((l) => l.level === 40 && /no host is enrolled/.test(String(l.msg)))).toBe(true);
  });
});
