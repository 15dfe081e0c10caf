/**
 * TLS for both transports (tls://, wss://) with certificate verification on
 * the sender, and optional mutual TLS; certificates are made at test time.
 */
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, NetdumpError } from '../../shared/errors.js';
import { ExitCode } from '../../sender/exit-codes.js';
import { parseServerUrl, type TlsClientOptions } from '../../sender/transport.js';
import { upload, type UploadOptions } from '../../sender/upload.js';
import { useTestPki } from '../helpers/certs.js';
import { runSender } from '../helpers/cli.js';
import { sampleX86Loads } from '../helpers/elf-core-builder.js';
import { useSyntheticCore } from '../helpers/synthetic-core.js';
import { startTestReceiver, type TestReceiver } from '../helpers/receiver.js';

describe('TLS', () => {
  const certs = useTestPki();
  const fixture = useSyntheticCore({ loads: sampleX86Loads() });
  let receiver: TestReceiver;

  const tlsUrl = () => `tls://127.0.0.1:${receiver.tcpAddress!.port}`;
  const wssUrl = () => `wss://127.0.0.1:${receiver.httpAddress!.port}/upload`;
  const options = (server: string, tls: TlsClientOptions, hostId = 'node-1'): UploadOptions => ({
    servers: [parseServerUrl(server)], tls, hostId, chunkPages: 16,
    connectTimeoutMs: 2000, replyTimeoutMs: 5000, deadlineMs: 5000, framesInFlight: 2,
  });
  const failure = (promise: Promise<unknown>) => promise.then(() => undefined, (e: unknown) => e as NetdumpError);

  afterEach(async () => {
    await receiver?.stop();
  });

  it('uploads over tls:// and wss:// when the sender trusts the receiver\'s CA', async () => {
    receiver = await startTestReceiver({ tls: { cert: certs.pki.serverCert, key: certs.pki.serverKey } });
    const overTls = await upload(fixture.source, options(tlsUrl(), { ca: certs.pki.ca }, 'tls-host'));
    const overWss = await upload(fixture.source, options(wssUrl(), { ca: certs.pki.ca }, 'wss-host'));
    expect((await receiver.catalog.get(overTls.dumpId))?.status).toBe('complete');
    expect((await receiver.catalog.get(overWss.dumpId))?.status).toBe('complete');
  });

  it('a receiver certificate the sender cannot verify: AUTH, no retry, exit 4, nothing stored', async () => {
    receiver = await startTestReceiver({ tls: { cert: certs.pki.serverCert, key: certs.pki.serverKey } });
    for (const url of [tlsUrl(), wssUrl()]) {
      const error = await failure(upload(fixture.source, options(url, {})));
      expect(error?.code, url).toBe(ErrorCode.AUTH);
      expect(error?.message).toMatch(/TLS with .* failed: .*certificate/i);
    }
    const cli = await runSender(['--server', tlsUrl(), '--deadline', '30', fixture.core.path]);
    expect(cli.code).toBe(ExitCode.REJECTED);
    expect(cli.stderr).toMatch(/error AUTH: TLS with tls:\/\/127\.0\.0\.1:\d+ failed/);
    expect(cli.stderr).not.toMatch(/retrying/);
    expect(await receiver.catalog.list()).toHaveLength(0);
  });

  it('mutual TLS: no client certificate or one from another CA is refused and logged; the right one is stored', async () => {
    receiver = await startTestReceiver({ tls: { cert: certs.pki.serverCert, key: certs.pki.serverKey, clientCa: certs.pki.ca } });
    for (const url of [tlsUrl(), wssUrl()]) {
      const bare = await failure(upload(fixture.source, options(url, { ca: certs.pki.ca })));
      expect(bare?.code, url).toBe(ErrorCode.AUTH);
      expect(bare?.message).toMatch(/receiver refused: client certificate not accepted/);
      expect(bare).toMatchObject({ fromPeer: true, retryable: false });
    }
    const stranger = await runSender(['--server', wssUrl(), '--ca-file', certs.pki.caFile, '--client-cert', certs.pki.strangerCertFile,
      '--client-key', certs.pki.strangerKeyFile, '--deadline', '30', fixture.core.path]);
    expect(stranger.code).toBe(ExitCode.REJECTED);
    expect(stranger.stderr).toMatch(/error AUTH: receiver refused: client certificate not accepted: UNABLE_TO_VERIFY_LEAF_SIGNATURE/);
    expect(await receiver.catalog.list()).toHaveLength(0);
    const refused = receiver.logLines.filter((l) => l.code === ErrorCode.AUTH && /client certificate not accepted/.test(String(l.err)));
    expect(refused).toHaveLength(3);
    expect(refused.every((l) => String(l.peer).startsWith('127.0.0.1:'))).toBe(true);

    const cli = await runSender(['--server', tlsUrl(), '--ca-file', certs.pki.caFile, '--client-cert', certs.pki.clientCertFile,
      '--client-key', certs.pki.clientKeyFile, '--host-id', 'mtls-host', fixture.core.path]);
    expect(cli.code, cli.stderr).toBe(ExitCode.STORED);
    expect((await receiver.catalog.list())[0]).toMatchObject({ hostId: 'mtls-host', status: 'complete' });
  });
});
