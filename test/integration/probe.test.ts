/**
 * PROBE against a live receiver: the refusals a HELLO would meet before
 * anything is written (host id, token, protocol version, busy, disk
 * reserve, client certificates), PROBE_OK otherwise, and never a byte
 * written to the catalog or the data directory.
 */
import { readdir } from 'node:fs/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, NetdumpError } from '../../shared/errors.js';
import { encodeControl, PROTOCOL_VERSION } from '../../shared/protocol/messages.js';
import { probeReceiver, type ProbeOptions } from '../../sender/check/probe.js';
import { parseServerUrl } from '../../sender/transport.js';
import { useTestPki } from '../helpers/certs.js';
import { sampleX86Loads } from '../helpers/elf-core-builder.js';
import { helloFor, startStalledUpload } from '../helpers/protocol-messages.js';
import { RawClient } from '../helpers/raw-client.js';
import { startTestReceiver, type TestReceiver } from '../helpers/receiver.js';
import { useSyntheticCore } from '../helpers/synthetic-core.js';

describe('PROBE', () => {
  const fixture = useSyntheticCore({ loads: sampleX86Loads() });
  let receiver: TestReceiver;
  const certs = useTestPki();
  const options = (overrides: Partial<ProbeOptions> = {}): ProbeOptions => ({ hostId: 'probe-host', connectTimeoutMs: 2000, replyTimeoutMs: 5000, ...overrides });
  const refusal = (promise: Promise<unknown>) => promise.then(() => { throw new Error('expected a refusal'); }, (e: unknown) => e as NetdumpError);
  const nothingWritten = async () => {
    expect(await receiver.catalog.list()).toHaveLength(0);
    expect((await readdir(receiver.dataDir)).filter((f) => !f.startsWith('index.db'))).toEqual([]);
  };

  afterEach(async () => {
    await receiver?.stop();
  });

  it('an enrolled host with its token gets PROBE_OK on TCP and WebSocket; strangers and wrong tokens get AUTH, final', async () => {
    receiver = await startTestReceiver({ open: false });
    const token = await receiver.catalog.hostTokens.add('probe-host');
    for (const url of [receiver.tcpUrl, receiver.wsUrl]) {
      const answer = await probeReceiver(parseServerUrl(url), options({ token }));
      expect(answer, url).toMatchObject({ type: 'probe_ok', protocol: PROTOCOL_VERSION, receiverVersion: '0.1.0', open: false,
        minFreeBytes: 64 * 2 ** 20, maxDumpBytes: 2 ** 40, uploadsInFlight: 0, maxUploads: 64 });
      expect(answer.freeBytes).toBeGreaterThan(0);
    }
    const cases: Array<[Partial<ProbeOptions>, RegExp]> = [
      [{}, /host probe-host sent no token/],
      [{ token: 'x'.repeat(43) }, /token not accepted for host probe-host/],
      [{ hostId: 'other-host', token }, /token not accepted for host other-host/],
    ];
    for (const [overrides, message] of cases) {
      const error = await refusal(probeReceiver(parseServerUrl(receiver.tcpUrl), options(overrides)));
      expect(error.code).toBe(ErrorCode.AUTH);
      expect(error.message).toMatch(message);
      expect(error).toMatchObject({ fromPeer: true, retryable: false });
    }
    const refusedLines = receiver.logLines.filter((l) => l.msg === 'probe refused');
    expect(refusedLines.map((l) => l.code)).toEqual([ErrorCode.AUTH, ErrorCode.AUTH, ErrorCode.AUTH]);
    expect(receiver.logLines.filter((l) => l.msg === 'probe answered')).toHaveLength(2);
    const metrics = await receiver.metrics.render();
    expect(metrics).toMatch(/kdump_receiver_probes_total\{outcome="ok"\} 2/);
    expect(metrics).toMatch(/kdump_receiver_probes_total\{outcome="AUTH"\} 3/);
    expect(metrics).not.toMatch(/kdump_receiver_upload_failures_total\{code="AUTH"\}/);
    await nothingWritten();
  });

  it('--open: any host, no token; the answer says so', async () => {
    receiver = await startTestReceiver({ open: true });
    expect(await probeReceiver(parseServerUrl(receiver.tcpUrl), options())).toMatchObject({ type: 'probe_ok', open: true });
    await nothingWritten();
  });

  it('the refusals a HELLO meets before writing: bad host id, protocol version, busy (retryable), disk reserve', async () => {
    receiver = await startTestReceiver({ open: true, limits: { maxUploads: 1 } });
    const hostError = await refusal(probeReceiver(parseServerUrl(receiver.tcpUrl), options({ hostId: '../etc' })));
    expect(hostError).toMatchObject({ code: ErrorCode.BAD_INPUT, fromPeer: true, retryable: false });

    const client = await RawClient.connect(receiver.tcpAddress!.port);
    client.sendMessage(encodeControl({ type: 'probe', protocol: 2, hostId: 'probe-host', senderVersion: 'test' }));
    expect(await client.next('error')).toMatchObject({ code: ErrorCode.PROTOCOL, retryable: false, message: expect.stringMatching(/protocol version 2 not supported/) });
    client.close();

    const stalled = await startStalledUpload(receiver.tcpAddress!.port, fixture.source, { hostId: 'busy-host', chunks: 1 });
    const busy = await refusal(probeReceiver(parseServerUrl(receiver.tcpUrl), options()));
    expect(busy).toMatchObject({ code: ErrorCode.UNAVAILABLE, fromPeer: true, retryable: true });
    expect(busy.message).toMatch(/receiver busy: 1 uploads in flight \(limit 1\)/);
    stalled.client.close();
  });

  it('a receiver short of its disk reserve says LIMIT', async () => {
    receiver = await startTestReceiver({ open: true, limits: { minFreeBytes: 2 ** 60 } });
    const error = await refusal(probeReceiver(parseServerUrl(receiver.tcpUrl), options()));
    expect(error).toMatchObject({ code: ErrorCode.LIMIT, fromPeer: true, retryable: false });
    expect(error.message).toMatch(/not enough disk for any dump/);
    await nothingWritten();
  });

  it('PROBE after HELLO, or a second PROBE, is PROTOCOL', async () => {
    receiver = await startTestReceiver({ open: true });
    const client = await RawClient.connect(receiver.tcpAddress!.port);
    client.sendMessage(encodeControl(helloFor(fixture.source, { hostId: 'probe-host' })));
    await client.next('accept');
    client.sendMessage(encodeControl({ type: 'probe', protocol: PROTOCOL_VERSION, hostId: 'probe-host', senderVersion: 'test' }));
    expect(await client.next('error')).toMatchObject({ code: ErrorCode.PROTOCOL, message: expect.stringMatching(/PROBE after HELLO/) });
    client.close();
  });

  it('mutual TLS: no client certificate is AUTH from the receiver; a receiver certificate we cannot verify is AUTH here', async () => {
    receiver = await startTestReceiver({ open: true, tls: { cert: certs.pki.serverCert, key: certs.pki.serverKey, clientCa: certs.pki.ca } });
    const tlsUrl = parseServerUrl(`tls://127.0.0.1:${receiver.tcpAddress!.port}`);
    const wssUrl = parseServerUrl(`wss://127.0.0.1:${receiver.httpAddress!.port}/upload`);
    for (const url of [tlsUrl, wssUrl]) {
      expect(await probeReceiver(url, options({ tls: { ca: certs.pki.ca, cert: certs.pki.clientCert, key: certs.pki.clientKey } }))).toMatchObject({ type: 'probe_ok' });
      const noCert = await refusal(probeReceiver(url, options({ tls: { ca: certs.pki.ca } })));
      expect(noCert.code, url.url).toBe(ErrorCode.AUTH);
      expect(noCert.message).toMatch(/client certificate not accepted|certificate/i);
      const untrusted = await refusal(probeReceiver(url, options({ tls: {} })));
      expect(untrusted).toMatchObject({ code: ErrorCode.AUTH });
      expect(untrusted.message).toMatch(/TLS with .* failed/);
    }
    await nothingWritten();
  });
});
