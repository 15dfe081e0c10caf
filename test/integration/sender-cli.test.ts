/**
 * kdump-send as the capture kernel's script runs it: one clear line on
 * stderr for each kind of trouble, and the documented exit code.
 */
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExitCode } from '../../sender/exit-codes.js';
import { run, runReceiverCli, runSender, SENDER_CLI } from '../helpers/cli.js';
import { KdumpFileReader } from '../../shared/kdump/reader.js';
import { corePageBytes, sampleX86Loads, writeElfCoreFile, type ElfCoreFile, type ElfCoreSpec } from '../helpers/elf-core-builder.js';

const SPEC: ElfCoreSpec = { loads: sampleX86Loads(), page: (pfn) => (pfn % 3 === 0 ? 'zero' : 'pattern') };
import { startTestReceiver, type TestReceiver } from '../helpers/receiver.js';
import { freePort } from '../helpers/ports.js';
import { writeKcoreFile, type KcoreFile } from '../helpers/kcore-file.js';

describe('kdump-send command line', () => {
  let core: ElfCoreFile;

  beforeAll(async () => {
    core = await writeElfCoreFile(SPEC);
  });
  afterAll(async () => {
    await core.cleanup();
  });

  it('a missing vmcore: exit 2, names the file', async () => {
    const result = await runSender(['--server', 'tcp://127.0.0.1:1', '/nonexistent/vmcore']);
    expect(result.code).toBe(ExitCode.BAD_INPUT);
    expect(result.stderr).toMatch(/error BAD_INPUT: cannot open vmcore \/nonexistent\/vmcore: no such file/);
  });

  it('a file that is not an ELF core: exit 2, says what and where', async () => {
    const notCore = path.join(core.dir, 'not-a-core');
    await writeFile(notCore, Buffer.alloc(4096, 0x41));
    const result = await runSender(['--server', 'tcp://127.0.0.1:1', notCore]);
    expect(result.code).toBe(ExitCode.BAD_INPUT);
    expect(result.stderr).toMatch(/not-a-core: not an ELF file \(bad magic at offset 0\)/);
  });

  it('a malformed or unsupported server URL: exit 2 before touching the network', async () => {
    for (const [url, message] of [
      ['not-a-url', /malformed server URL "not-a-url"/],
      ['http://127.0.0.1:80/', /unsupported server URL scheme http:/],
      ['tcp://127.0.0.1', /needs a host and a port/],
    ] as const) {
      const result = await runSender(['--server', url, core.path]);
      expect(result.code, url).toBe(ExitCode.BAD_INPUT);
      expect(result.stderr).toMatch(message);
    }
  });

  it('an unreachable receiver: retries until the deadline, then exit 3', async () => {
    const port = await freePort();
    const started = Date.now();
    const result = await runSender(['--server', `tcp://127.0.0.1:${port}`, '--deadline', '2', core.path]);
    expect(result.code).toBe(ExitCode.UNREACHABLE);
    expect(result.stderr).toMatch(/attempt 1 failed \(UNAVAILABLE: cannot reach tcp:\/\/127\.0\.0\.1:\d+: connect ECONNREFUSED/);
    expect(result.stderr).toMatch(/error UNAVAILABLE: cannot reach/);
    expect(Date.now() - started).toBeLessThan(15_000);
  });

  it('a bad option value: exit 2 with the option named', async () => {
    const result = await runSender(['--server', 'tcp://127.0.0.1:1', '--chunk-pages', '0', core.path]);
    expect(result.code).toBe(ExitCode.BAD_INPUT);
    expect(result.stderr).toMatch(/CHUNK_PAGES \(--chunk-pages\) must be an integer from 1 to 1024, not "0"/);
  });

  it('a bad --stored-pages value: exit 2 with the setting named', async () => {
    const stored = await runSender(['--server', 'tcp://127.0.0.1:1', '--stored-pages', 'always', core.path]);
    expect(stored.code).toBe(ExitCode.BAD_INPUT);
    expect(stored.stderr).toMatch(/STORED_PAGES \(--stored-pages\) must be auto or no, not "always"/);
  });

  it('bad --mmap and --lz4-acceleration values: exit 2 with the setting named', async () => {
    const mmap = await runSender(['--server', 'tcp://127.0.0.1:1', '--mmap', 'sometimes', core.path]);
    expect(mmap.code).toBe(ExitCode.BAD_INPUT);
    expect(mmap.stderr).toMatch(/MMAP \(--mmap\) must be auto, yes or no, not "sometimes"/);
    const lz4 = await runSender(['--server', 'tcp://127.0.0.1:1', '--lz4-acceleration', '65', core.path]);
    expect(lz4.code).toBe(ExitCode.BAD_INPUT);
    expect(lz4.stderr).toMatch(/LZ4_ACCELERATION \(--lz4-acceleration\) must be an integer from 1 to 64, not "65"/);
  });

  it('--reason and --max-rate without --live, a bad --max-rate, --mmap yes with --live: exit 2 with the flag named', async () => {
    for (const [args, message] of [
      [['--reason', 'leak'], /error BAD_INPUT: --reason goes with --live/],
      [['--max-rate', '10M'], /error BAD_INPUT: --max-rate goes with --live/],
      [['--live', '--max-rate', '10T'], /--max-rate must be bytes per second, at least 4096, with an optional K, M or G \(50M\), not "10T"/],
      [['--live', '--reason', 'x'.repeat(501)], /--reason is 501 characters; at most 500/],
      [['--live', '--mmap', 'yes'], /MMAP=yes \(--mmap yes\) does not apply to --live/],
    ] as const) {
      const result = await runSender(['--server', 'tcp://127.0.0.1:1', ...args, core.path]);
      expect(result.code, args.join(' ')).toBe(ExitCode.BAD_INPUT);
      expect(result.stderr).toMatch(message);
    }
  });

  it('--live with no receiver: nothing is written on the running host, FALLBACK_DIR or not; exit 3', async () => {
    const fallback = path.join(core.dir, 'live-fallback');
    const result = await runSender(['--server', `tcp://127.0.0.1:${await freePort()}`, '--deadline', '1', '--live', '--fallback-dir', fallback, core.path]);
    expect(result.code, result.stderr).toBe(ExitCode.UNREACHABLE);
    expect(result.stderr).toMatch(/a live snapshot is not saved to FALLBACK_DIR: nothing is written on a running host/);
    expect(existsSync(fallback)).toBe(false);
  });

  it('a config file with an unknown setting: exit 2, names the file and line', async () => {
    const config = path.join(core.dir, 'bad.conf');
    await writeFile(config, 'SERVERS=tcp://127.0.0.1:1\nRETRIES=5\n');
    const result = await runSender(['--config', config, core.path]);
    expect(result.code).toBe(ExitCode.BAD_INPUT);
    expect(result.stderr).toMatch(/bad\.conf line 2: unknown setting RETRIES/);
  });

  it('no receiver reachable and a fallback directory: saved there in the receiver\'s format and layout, exit 6', async () => {
    const fallback = path.join(core.dir, 'fallback');
    const result = await runSender(['--server', `tcp://127.0.0.1:${await freePort()}`, '--deadline', '1', '--host-id', 'lonely',
      '--fallback-dir', fallback, core.path]);
    expect(result.code, result.stderr).toBe(ExitCode.SAVED_LOCALLY);
    const saved = JSON.parse(result.stdout).savedLocally as string;
    expect(saved).toMatch(new RegExp(`^${fallback}/lonely/\\d{4}-\\d\\d-\\d\\d-\\d\\d:\\d\\d:\\d\\d/vmcore$`));
    const reader = await KdumpFileReader.open(saved);
    try {
      expect(reader.incomplete).toBe(false);
      const pfns = reader.pfnsIn(reader.dumpableBitmap);
      const descriptors = await reader.readDescriptors(0, pfns.length);
      for (let i = 0; i < pfns.length; i++) expect((await reader.readPage(descriptors[i])).equals(corePageBytes(SPEC, pfns[i]))).toBe(true);
    } finally {
      await reader.close();
    }
  });

  describe('against a receiver', () => {
    let receiver: TestReceiver;
    beforeAll(async () => {
      receiver = await startTestReceiver();
    });
    afterAll(async () => {
      await receiver.stop();
    });

    it('receivers in order: an unreachable one and one that refuses the host are passed over for the next', async () => {
      const closed = await startTestReceiver({ open: false });
      try {
        const result = await runSender(['--server', `tcp://127.0.0.1:${await freePort()}`, '--server', closed.tcpUrl,
          '--server', receiver.wsUrl, '--host-id', 'fleet-host', '--deadline', '30', core.path]);
        expect(result.code, result.stderr).toBe(ExitCode.STORED);
        expect(JSON.parse(result.stdout).server).toBe(receiver.wsUrl);
        expect(result.stderr).toMatch(/refused \(AUTH: receiver refused: host fleet-host sent no token.*\); trying the next receiver/);
        expect(await closed.catalog.list()).toHaveLength(0);
      } finally {
        await closed.stop();
      }
    });

    it('mapped or read, at lz4\'s default or its fastest, the receiver stores the same bytes', async () => {
      const stored: Buffer[] = [];
      for (const [n, flags] of [['--mmap', 'no', '--lz4-acceleration', '1'], ['--mmap', 'yes', '--lz4-acceleration', '64']].entries()) {
        const result = await runSender(['--server', receiver.tcpUrl, '--host-id', `same-bytes-${n}`, '--quiet', ...flags, core.path]);
        expect(result.code, result.stderr).toBe(ExitCode.STORED);
        stored.push(await readFile(path.join(receiver.dataDir, JSON.parse(result.stdout).path)));
      }
      expect(stored[0].length).toBeGreaterThan(0);
      // The synthetic core names no node, so the header's utsname carries the host id: the one byte that may differ.
      const nodename = stored[1].indexOf('same-bytes-1');
      expect(nodename).toBeGreaterThan(0);
      stored[1].write('same-bytes-0', nodename, 'latin1');
      expect(stored[1].equals(stored[0])).toBe(true);
    });

    it('--live: a running kernel\'s kcore stored as a dump of its physical memory, catalogued as live with its reason; each snapshot its own dump', async () => {
      const kcore: KcoreFile = await writeKcoreFile(core.dir, SPEC);
      const ids: string[] = [];
      for (const n of [1, 2]) {
        const result = await runSender(['--server', receiver.tcpUrl, '--host-id', 'live-host', '--live', '--reason', `leak hunt ${n}`,
          '--max-rate', '64M', '--dump-level', '1', '--fallback-dir', path.join(core.dir, 'never'), kcore.path]);
        expect(result.code, result.stderr).toBe(ExitCode.STORED);
        expect(result.stderr).toMatch(/live snapshot of the running kernel: not atomic \(memory changes while it is read\), nothing written locally, nice 19, memory read at most 64\.0 MiB\/s; reason: leak hunt/);
        const done = JSON.parse(result.stdout);
        ids.push(done.dumpId);
        const record = await receiver.catalog.get(done.dumpId);
        expect(record).toMatchObject({ status: 'complete', kind: 'live', liveReason: `leak hunt ${n}` });
        // The file says what it is wherever it goes: the NETDUMP note after the core's own notes.
        const stored = await readFile(path.join(receiver.dataDir, done.path));
        const note = stored.indexOf('NETDUMP\0');
        expect(note).toBeGreaterThan(0);
        expect(stored.subarray(note + 8, note + 80).toString('latin1')).toMatch(/^live snapshot of a running kernel \(kdump-send --live\): not atomic/);
        expect(stored.includes(`reason: leak hunt ${n}\n`)).toBe(true);
        const reader = await KdumpFileReader.open(path.join(receiver.dataDir, done.path));
        try {
          const pfns = reader.pfnsIn(reader.dumpableBitmap);
          expect(pfns.length).toBeGreaterThan(0);
          const descriptors = await reader.readDescriptors(0, pfns.length);
          for (let i = 0; i < pfns.length; i++) expect((await reader.readPage(descriptors[i])).equals(corePageBytes(SPEC, pfns[i])), `pfn ${pfns[i]}`).toBe(true);
        } finally {
          await reader.close();
        }
      }
      // The same kernel twice (same headers, same notes) is two snapshots, never one resumed.
      expect(ids[0]).not.toBe(ids[1]);
      const rows = await runReceiverCli(['show', ids[1], '--data-dir', receiver.dataDir]);
      expect(rows.stdout).toMatch(/^kind\s+live snapshot of a running kernel \(not atomic: read while it ran\)$/m);
      expect(rows.stdout).toMatch(/^live reason\s+leak hunt 2$/m);
      expect(rows.stdout).toMatch(/^taken at\s+\d{4}-/m);
      const json = JSON.parse((await runReceiverCli(['show', ids[0], '--data-dir', receiver.dataDir, '--json'])).stdout);
      expect(json).toMatchObject({ kind: 'live', liveReason: 'leak hunt 1' });
    });

    it('settings from a config file, overridden by the environment, overridden by flags', async () => {
      const config = path.join(core.dir, 'kdump-send.conf');
      await writeFile(config, `# test\nSERVERS="tcp://127.0.0.1:${await freePort()}"\nHOST_ID=from-file\nDEADLINE=1\n`);
      const env = { ...process.env, KDUMP_SEND_SERVERS: receiver.tcpUrl, KDUMP_SEND_HOST_ID: 'from-env' };
      const viaEnv = await run(process.execPath, [SENDER_CLI, '--config', config, core.path], { env });
      expect(viaEnv.code, viaEnv.stderr).toBe(ExitCode.STORED);
      expect(JSON.parse(viaEnv.stdout).path).toMatch(/^from-env\//);
      const viaFlag = await run(process.execPath, [SENDER_CLI, '--config', config, '--host-id', 'from-flag', core.path], { env });
      expect(JSON.parse(viaFlag.stdout).path).toMatch(/^from-flag\//);
    });

    it('stores the dump, prints the result as JSON and progress as plain lines; list and show find it', async () => {
      const result = await runSender(['--server', receiver.wsUrl, '--host-id', 'cli-host', '--progress-interval', '1', core.path]);
      expect(result.code, result.stderr).toBe(ExitCode.STORED);
      expect(result.stderr).toMatch(/kdump-send: 100%, [\d.]+ MB sent in [\d.]+ s/);
      expect(result.stderr).not.toMatch(/\r|\x1b\[/); // no TTY tricks on a serial console
      const done = JSON.parse(result.stdout);
      expect(done).toMatchObject({ attempts: 1, path: expect.stringMatching(/^cli-host\//) });

      const list = await runReceiverCli(['list', '--data-dir', receiver.dataDir]);
      expect(list.stdout).toMatch(new RegExp(`${done.dumpId.slice(0, 12)}\\s+cli-host\\s+.*complete`));
      const show = await runReceiverCli(['show', done.dumpId, '--data-dir', receiver.dataDir, '--json']);
      const view = JSON.parse(show.stdout);
      expect(view).toMatchObject({ id: done.dumpId, status: 'complete', path: path.join(receiver.dataDir, done.path) });
      // The rows are the same view: its path, and its crash command where crash can open the file in place.
      const rows = await runReceiverCli(['show', done.dumpId.slice(0, 10), '--data-dir', receiver.dataDir]);
      expect(rows.stdout).toMatch(new RegExp(`^path\\s+${view.path}$`, 'm'));
      expect(rows.stdout).toContain(`\nopen with     ${view.crashCommand}\n`.trimEnd());
      expect(rows.stdout).toMatch(/^bytes in\s+[\d.]+ MB$/m);
      const missing = await runReceiverCli(['show', 'ffffffffffff', '--data-dir', receiver.dataDir]);
      expect(missing.code).toBe(3);
      expect(missing.stderr).toMatch(/no dump matches "ffffffffffff"/);
    });
  });
});
