/**
 * HELLO's dumpLevelReport end to end on the receiver: recorded in the
 * catalog when the dump is created and kept through a resume, carried by the
 * API's dump detail and list, printed by `kdump-receiver show` (JSON and
 * human, peer text escaped for the terminal), counted in the metrics; a HELLO
 * without it (an older sender) and malformed ones.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../shared/errors.js';
import { dumpDigest } from '../../shared/protocol/digest.js';
import { encodeControl, type DumpLevelReport, type HelloMessage } from '../../shared/protocol/messages.js';
import { runReceiverCli } from '../helpers/cli.js';
import { defaultVmcoreinfo, sampleX86Loads } from '../helpers/elf-core-builder.js';
import { chunkMessage, helloFor } from '../helpers/protocol-messages.js';
import { RawClient } from '../helpers/raw-client.js';
import { startTestReceiver, type TestReceiver } from '../helpers/receiver.js';
import { useSyntheticCore } from '../helpers/synthetic-core.js';

const ESC = '\x1b';
const CSI = '\u009b'; // the one-character C1 form of ESC [

/** What a sender that had to lower the level reports; the notes carry what a terminal must not obey. */
const REPORT: DumpLevelReport = {
  asked: 31,
  applied: 1,
  rules: '6.12',
  notes: [
    'bit 16 (free pages) dropped: PG_buddy unknown to rules 6.12',
    `kept <b>slab</b> pages ${ESC}[2J${ESC}]0;owned\x07 too`,
    `two\nlines and a ${CSI}31m C1`,
  ],
};

describe('HELLO dumpLevelReport on the receiver', () => {
  const core = useSyntheticCore({
    loads: sampleX86Loads(),
    vmcoreinfo: defaultVmcoreinfo({ osRelease: '6.12.9-amd64' }),
    page: (pfn) => (pfn % 4 === 0 ? 'zero' : 'pattern'),
  });
  let receiver: TestReceiver;
  let base: string;

  beforeAll(async () => {
    receiver = await startTestReceiver({ checkpointChunks: 4 });
    base = `http://127.0.0.1:${receiver.httpAddress!.port}`;
  });
  afterAll(async () => {
    await receiver?.stop();
  });

  const apiJson = async (pathname: string) => (await (await fetch(`${base}${pathname}`)).json()) as any;

  async function hello(message: HelloMessage): Promise<RawClient> {
    const client = await RawClient.connect(receiver.tcpAddress!.port);
    client.sendMessage(encodeControl(message));
    return client;
  }

  /** Waits until the receiver has let go of a dump whose connection closed (its release checkpoint ran). */
  async function released(dumpId: string): Promise<void> {
    for (let i = 0; i < 200 && receiver.registry.isAttached(dumpId); i++) await new Promise((r) => setTimeout(r, 25));
    expect(receiver.registry.isAttached(dumpId)).toBe(false);
  }

  /** Sends chunks [from, totalChunks) and END, and waits for DONE. */
  async function finish(client: RawClient, from: number, totalChunks: number): Promise<void> {
    const crcs = new Uint32Array(totalChunks);
    for (let seq = 0; seq < totalChunks; seq++) {
      const chunk = chunkMessage(core.source, seq);
      crcs[seq] = chunk.readUInt32LE(25);
      if (seq >= from) client.sendMessage(chunk);
    }
    client.sendMessage(encodeControl({ type: 'end', totalChunks, digest: dumpDigest(crcs) }));
    await client.next('done');
  }

  const show = (id: string, ...args: string[]) => runReceiverCli(['show', id, '--data-dir', receiver.dataDir, ...args]);

  it('records the report at HELLO, keeps it through a resume that reports otherwise, and every view shows it', async () => {
    const message = helloFor(core.source, { hostId: 'lowered', dumpLevelReport: REPORT });
    const first = await hello(message);
    const accept = await first.next('accept');
    expect(accept.nextSeq).toBe(0);
    // In the row from the moment it exists, before any chunk.
    expect((await receiver.catalog.get(message.dumpId))!.dumpLevel).toEqual(REPORT);
    for (let seq = 0; seq < 8; seq++) first.sendMessage(chunkMessage(core.source, seq));
    expect((await first.next('ack')).nextSeq).toBeGreaterThanOrEqual(4);
    first.close();
    await first.closed;
    await released(message.dumpId);

    // Same dump (same level applied), another story about it: a resume keeps what the dump was created with.
    const other: DumpLevelReport = { asked: 3, applied: 1, rules: '6.1', notes: ['other'] };
    const second = await hello({ ...message, dumpLevelReport: other });
    const resumed = await second.next('accept');
    expect(resumed.nextSeq).toBeGreaterThan(0);
    await finish(second, resumed.nextSeq, resumed.totalChunks);
    const record = (await receiver.catalog.get(message.dumpId))!;
    expect(record.status).toBe('complete');
    expect(record.dumpLevel).toEqual(REPORT);

    const detail = await apiJson(`/api/v1/dumps/${message.dumpId}`);
    expect(detail.dumpLevel).toEqual(REPORT);
    const listed = (await apiJson('/api/v1/dumps?host=lowered')).dumps;
    expect(listed.map((d: any) => d.dumpLevel)).toEqual([REPORT]);

    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toMatch(/^kdump_receiver_dumps_stored_level_lowered_total 1$/m);

    const json = await show(message.dumpId.slice(0, 12), '--json');
    expect(json.code, json.stderr).toBe(0);
    expect(JSON.parse(json.stdout).dumpLevel).toEqual(REPORT);
    // JSON escapes C0 itself; C1 is escaped too, so the text is safe and still parses to the same note.
    expect(json.stdout).not.toMatch(/[\x00-\x09\x0b-\x1f\x7f-\x9f]/);
    expect(json.stdout).toContain('\\u009b31m');

    const human = await show(message.dumpId);
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toMatch(/^dump level\s+1 \(asked 31, lowered: see level notes\)$/m);
    expect(human.stdout).toMatch(/^page rules\s+6\.12$/m);
    expect(human.stdout).toMatch(/^level notes\s+bit 16 \(free pages\) dropped: PG_buddy unknown to rules 6\.12$/m);
    expect(human.stdout).toContain('kept <b>slab</b> pages \\x1b[2J\\x1b]0;owned\\x07 too\n');
    expect(human.stdout).toContain('two\\x0alines and a \\x9b31m C1\n');
    // No control character but the newlines ending the rows.
    expect(human.stdout).not.toMatch(/[\x00-\x09\x0b-\x1f\x7f-\x9f]/);
  });

  it('a HELLO without the report (an older sender): asked = applied = dumpLevel, rules unknown, no notes', async () => {
    const message = helloFor(core.source, { hostId: 'older-sender' });
    expect(message.dumpLevelReport).toBeUndefined();
    const client = await hello(message);
    const accept = await client.next('accept');
    await finish(client, 0, accept.totalChunks);
    const expected = { asked: 1, applied: 1, rules: null, notes: [] };
    expect((await receiver.catalog.get(message.dumpId))!.dumpLevel).toEqual(expected);
    expect((await apiJson(`/api/v1/dumps/${message.dumpId}`)).dumpLevel).toEqual(expected);

    const human = await show(message.dumpId);
    expect(human.stdout).toMatch(/^dump level\s+1$/m);
    expect(human.stdout).toMatch(/^page rules\s+unknown \(sender did not say\)$/m);
    expect(human.stdout).toMatch(/^level notes\s+-$/m);
    expect(JSON.parse((await show(message.dumpId, '--json')).stdout).dumpLevel).toEqual(expected);
    // Not lowered: the counter stays where the first test left it.
    expect(await (await fetch(`${base}/metrics`)).text()).toMatch(/^kdump_receiver_dumps_stored_level_lowered_total 1$/m);
  });

  it('refuses a malformed report with a final PROTOCOL error naming the field, and catalogs nothing', async () => {
    const bad: Array<[string, unknown, RegExp]> = [
      ['not a map', ['31'], /dumpLevelReport is not a map/],
      ['level out of range', { ...REPORT, asked: 32 }, /dumpLevelReport\.asked is not a dump level/],
      ['notes not a list', { ...REPORT, notes: 'one' }, /dumpLevelReport\.notes is not a list/],
      ['too many notes', { ...REPORT, notes: Array.from({ length: 33 }, () => 'n') }, /dumpLevelReport\.notes .*at most 32/],
      ['a note too long', { ...REPORT, notes: ['x'.repeat(513)] }, /dumpLevelReport\.notes .*at most 512 characters/],
      ['rules too long', { ...REPORT, rules: 'r'.repeat(65) }, /dumpLevelReport\.rules .*at most 64/],
      ['applied is not dumpLevel', { ...REPORT, applied: 3 }, /dumpLevelReport\.applied 3 is not the HELLO's dumpLevel 1/],
      ['applied a bit not asked', { ...REPORT, asked: 2 }, /dumpLevelReport\.applied 1 has bits that asked 2 does not/],
    ];
    for (const [what, report, message] of bad) {
      const hostId = `bad-${what.replace(/\W+/g, '-')}`;
      const client = await hello(helloFor(core.source, { hostId, dumpLevelReport: report as DumpLevelReport }));
      const error = await client.next('error');
      expect(error, what).toMatchObject({ code: ErrorCode.PROTOCOL, retryable: false });
      expect(error.message, what).toMatch(message);
      await client.closed;
      expect(await receiver.catalog.list({ hostId }), what).toEqual([]);
    }
  });
});
