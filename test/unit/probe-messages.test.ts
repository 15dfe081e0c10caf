/**
 * PROBE and PROBE_OK (docs/protocol.md section 3): round trips, optional
 * fields left out rather than sent as undefined, and the decoder's refusals.
 */
import { describe, expect, it } from 'vitest';
import { Packr } from 'msgpackr';
import { ErrorCode, NetdumpError } from '../../shared/errors.js';
import { MessageType, PROTOCOL_VERSION, decodeMessage, encodeControl, type ProbeMessage, type ProbeOkMessage } from '../../shared/protocol/messages.js';

const packr = new Packr({ useRecords: false, mapsAsObjects: true });
const raw = (type: number, body: unknown) => Buffer.concat([Buffer.from([type]), packr.pack(body)]);
const refusal = (frame: Buffer) => {
  try {
    decodeMessage(frame);
  } catch (error) {
    expect(error).toBeInstanceOf(NetdumpError);
    return error as NetdumpError;
  }
  throw new Error('expected a refusal');
};

describe('PROBE', () => {
  const probe: ProbeMessage = { type: 'probe', protocol: PROTOCOL_VERSION, hostId: 'web-17', token: 't0ken', senderVersion: '0.1.0' };

  it('round-trips, with and without a token (left out, not undefined)', () => {
    const frame = encodeControl(probe);
    expect(frame[0]).toBe(MessageType.PROBE);
    expect(decodeMessage(frame)).toEqual(probe);
    const anonymous = encodeControl({ ...probe, token: undefined });
    expect(Object.keys(packr.unpack(anonymous.subarray(1)) as object)).not.toContain('token');
    expect(decodeMessage(anonymous)).toEqual({ type: 'probe', protocol: PROTOCOL_VERSION, hostId: 'web-17', senderVersion: '0.1.0' });
  });

  it('a missing or mistyped field is PROTOCOL, naming it', () => {
    expect(refusal(raw(MessageType.PROBE, { protocol: 1, senderVersion: 'x' }))).toMatchObject({ code: ErrorCode.PROTOCOL, message: 'PROBE: field hostId missing or not a string' });
    expect(refusal(raw(MessageType.PROBE, { protocol: 1, hostId: 'h', senderVersion: 'x', token: 42 })).message).toBe('PROBE: field token is not a string');
    expect(refusal(raw(MessageType.PROBE, [1, 2])).message).toBe('PROBE: body is not a map');
    expect(refusal(Buffer.from([MessageType.PROBE, 0x81])).code).toBe(ErrorCode.CORRUPT); // a truncated map
  });
});

describe('PROBE_OK', () => {
  it('round-trips every field; absent optional ones stay absent', () => {
    const full: ProbeOkMessage = {
      type: 'probe_ok', protocol: PROTOCOL_VERSION, receiverVersion: '0.1.0', open: false,
      freeBytes: 5 * 2 ** 40, minFreeBytes: 2 ** 30, maxDumpBytes: 16 * 2 ** 40, uploadsInFlight: 3, maxUploads: 64,
    };
    expect(decodeMessage(encodeControl(full))).toEqual(full);
    const bare = decodeMessage(encodeControl({ type: 'probe_ok', protocol: 1, receiverVersion: 'v', open: true }));
    expect(bare).toEqual({ type: 'probe_ok', protocol: 1, receiverVersion: 'v', open: true });
  });

  it('a mistyped field is PROTOCOL', () => {
    expect(refusal(raw(MessageType.PROBE_OK, { protocol: 1, receiverVersion: 'v' })).message).toBe('PROBE_OK: field open missing or not a boolean');
    expect(refusal(raw(MessageType.PROBE_OK, { protocol: 1, receiverVersion: 'v', open: true, freeBytes: 'lots' })).message)
      .toBe('PROBE_OK: field freeBytes is not a number');
  });
});
