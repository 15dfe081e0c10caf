/**
 * The web UI (receiver/web) in a real browser: Debian's Chromium, headless,
 * driven by playwright-core against an in-process receiver (closed: host and
 * operator tokens) that holds real uploads. Synthetic cores from two hosts;
 * the real busy.vmcore at dump level 31 when test/fixtures/cache has it, so a
 * real panic line, call trace and kernel log reach the page.
 *
 * Screenshots of the main pages go to a temporary folder, removed afterwards
 * unless UI_SCREENSHOTS_DIR names a folder to keep them in.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { computeExclusion } from '../../sender/dump-level/exclusion.js';
import { parseServerUrl } from '../../sender/transport.js';
import { upload, type UploadOptions } from '../../sender/upload.js';
import { VmcoreSource } from '../../sender/vmcore-source.js';
import { ROOT } from '../helpers/cli.js';
import { defaultVmcoreinfo, sampleX86Loads, type ElfCoreSpec } from '../helpers/elf-core-builder.js';
import { helloFor, startStalledUpload } from '../helpers/protocol-messages.js';
import { RawClient } from '../helpers/raw-client.js';
import { encodeControl, type DumpLevelReport } from '../../shared/protocol/messages.js';
import { startTestReceiver, type TestReceiver } from '../helpers/receiver.js';
import { useSyntheticCore } from '../helpers/synthetic-core.js';

const CHROMIUM = '/usr/bin/chromium';
/** This machine's network is closed: no QUIC, no background fetches, no component updates. */
const CHROMIUM_ARGS = ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const BUSY = path.join((await import('../helpers/real-fixtures.js')).FIXTURE_CACHE, 'busy.vmcore');
const haveBusy = existsSync(BUSY);
const REAL_PANIC = 'Kernel panic - not syncing: sysrq triggered crash';

const coreSpec = (osRelease: string, crashTime: number): ElfCoreSpec => ({
  cpus: 2,
  loads: sampleX86Loads(),
  vmcoreinfo: defaultVmcoreinfo({ osRelease, crashTime }),
  page: (pfn) => (pfn % 5 === 0 ? 'zero' : pfn % 7 === 0 ? 'random' : 'pattern'),
});

/** A signature as triage records it, given to two synthetic dumps so a group spans two hosts whether or not the real fixture is here. */
const SYNTHETIC_GROUP = {
  signature: 'c0ffee00deadbeef',
  reason: 'BUG: kernel NULL pointer dereference, address: 0000000000000008',
  panicLine: 'Kernel panic - not syncing: Fatal exception',
  /** Markup in API text must reach the page as text. */
  signatureText: 'reason: BUG: kernel NULL pointer dereference\nframes: synthetic_fault < <b>synthetic_caller</b>',
};

/** A sender that lowered the level it was asked for, and says why in text the page must show as text. */
const LOWERED_REPORT: DumpLevelReport = {
  asked: 31, applied: 1, rules: '6.12',
  notes: ['bit 16 (free pages) dropped: PG_buddy unknown to rules 6.12', 'kept <b>slab</b> pages <img src=x onerror=alert(1)>'],
};

describe.runIf(existsSync(CHROMIUM))('web UI in headless Chromium (needs /usr/bin/chromium: apt-get install chromium, which `npm test` installs)', () => {
  const alpha = useSyntheticCore(coreSpec('6.1.0-alpha-amd64', 1_760_000_000));
  const beta = useSyntheticCore(coreSpec('6.1.0-beta-amd64', 1_760_086_400));
  let receiver: TestReceiver;
  let browser: Browser | undefined;
  let page: Page;
  let base: string;
  let shots: string;
  const keepShots = Boolean(process.env.UI_SCREENSHOTS_DIR);
  const hostTokens = new Map<string, string>();
  const operator = { admin: '', read: '' };
  const ids = { web1: '', web2beta: '', web2alpha: '', busy: '' };
  const pageErrors: string[] = [];

  const uploadAs = async (source: VmcoreSource, hostId: string, extra: Partial<UploadOptions> = {}) => (await upload(source, {
    servers: [parseServerUrl(receiver.tcpUrl)], hostId, token: (await hostTokens.get(hostId)), chunkPages: 64,
    connectTimeoutMs: 2000, replyTimeoutMs: 30_000, deadlineMs: 120_000, framesInFlight: 4, ...extra,
  })).dumpId;

  /** The API as a script sees it (Bearer token), to compare the page with. */
  const apiGet = async (apiPath: string) => {
    const res = await fetch(`${base}/api/v1${apiPath}`, { headers: { authorization: `Bearer ${operator.admin}` } });
    return { status: res.status, body: await res.json() as Record<string, any> };
  };

  const dumpRows = () => page.locator('#dumps-table tbody tr');
  const rowCount = async (n: number) => {
    await page.waitForFunction((want) => document.querySelectorAll('#dumps-table tbody tr').length === want, n, { timeout: 10_000 }).catch(() => {});
    return dumpRows().count();
  };
  const shot = (name: string) => page.screenshot({ path: path.join(shots, `${name}.png`), fullPage: true });
  const visibleBanner = async () => {
    await page.locator('#error-banner').waitFor({ state: 'visible' });
    return page.locator('#error-banner .banner-text').textContent();
  };
  const signIn = async (token: string) => {
    await page.locator('#login-form').waitFor({ state: 'visible' });
    await page.fill('#token', token);
    await page.click('#login-form button[type=submit]');
  };

  beforeAll(async () => {
    receiver = await startTestReceiver({ open: false });
    base = `http://127.0.0.1:${receiver.httpAddress!.port}`;
    for (const host of ['web-1', 'web-2', 'busy-host', 'slow-host', 'lowered-host', 'live-host']) hostTokens.set(host, (await receiver.catalog.hostTokens.add(host)));
    operator.admin = await receiver.catalog.operatorTokens.add('alice', 'admin');
    operator.read = await receiver.catalog.operatorTokens.add('bob', 'read');

    ids.web1 = await uploadAs(alpha.source, 'web-1');
    ids.web2beta = await uploadAs(beta.source, 'web-2');
    ids.web2alpha = await uploadAs(alpha.source, 'web-2');
    if (haveBusy) {
      const source = VmcoreSource.open(BUSY);
      try {
        const exclusion = computeExclusion(source, 31);
        ids.busy = await uploadAs(source, 'busy-host', {
          dumpLevel: exclusion.level,
          dumpable: exclusion.dumpablePages !== source.core.pageMap.totalPages ? exclusion.dumpable : undefined,
        });
      } finally {
        source.close();
      }
    }
    // Triage runs after each dump completes; wait for it, then give two synthetic dumps one signature.
    await receiver.triage.idle();
    for (const id of [ids.web1, ids.web2beta]) {
      const { triage } = (await receiver.catalog.getWithTriage(id))!;
      await receiver.catalog.saveTriage(id, {
        ...triage, ...SYNTHETIC_GROUP, bugLine: SYNTHETIC_GROUP.reason, ripSymbol: 'synthetic_fault+0x1a/0x40',
        signatureText: SYNTHETIC_GROUP.signatureText, callTrace: ['synthetic_fault', 'synthetic_caller', 'do_syscall_64'], error: null,
      });
    }

    shots = process.env.UI_SCREENSHOTS_DIR ?? await mkdtemp(path.join(tmpdir(), 'netdump-ui-shots-'));
    await mkdir(shots, { recursive: true });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 30_000 });
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base });
    page = await context.newPage();
    page.setDefaultTimeout(10_000);
    page.on('pageerror', (error) => pageErrors.push(error.message));
  }, 300_000);

  afterAll(async () => {
    await browser?.close();
    await receiver?.stop();
    if (shots && !keepShots) await rm(shots, { recursive: true, force: true });
  });

  it('asks for a token, refuses a wrong one in the error banner, and signs in a read-only operator', async () => {
    await page.goto(`${base}/`);
    await page.locator('#login-form').waitFor({ state: 'visible' });
    expect(await page.locator('#dumps-table').count()).toBe(0);
    await signIn('not-a-token');
    expect(await visibleBanner()).toMatch(/^UNAUTHENTICATED: .+/);
    await signIn(operator.read);
    await page.locator('#dumps-table').waitFor();
    expect(await page.locator('#whoami').textContent()).toMatch(/bob\s*read/);
    expect(await page.locator('#error-banner').isVisible()).toBe(false);
  });

  it('lists every dump with host, kernel, status and size; a host filter narrows it and lands in the hash', async () => {
    const all = 3 + (haveBusy ? 1 : 0);
    expect(await rowCount(all)).toBe(all);
    expect(await page.locator('#total').textContent()).toContain(`${all} dumps`);
    const web1 = page.locator(`tr[data-dump-id="${ids.web1}"]`);
    expect(await web1.locator('td').nth(1).textContent()).toBe('web-1');
    expect(await web1.locator('td').nth(2).textContent()).toBe('6.1.0-alpha-amd64');
    expect(await web1.locator('.pill').textContent()).toBe('complete');
    expect(await web1.locator('td').nth(5).textContent()).toMatch(/^\d+(\.\d+)? (KiB|MiB)$/);
    // Crash time in local time, the ISO value in the title.
    expect(await web1.locator('time').getAttribute('title')).toBe(new Date(1_760_000_000_000).toISOString());
    if (haveBusy) expect(await page.locator(`tr[data-dump-id="${ids.busy}"] .panic-cell`).textContent()).toContain(REAL_PANIC);
    await shot('list');

    await page.fill('#filters input[name=host]', 'web-2');
    await page.click('#filters button[type=submit]');
    expect(await rowCount(2)).toBe(2);
    expect(page.url()).toContain('#/dumps?host=web-2');
    expect(await dumpRows().locator('td:nth-child(2)').allTextContents()).toEqual(['web-2', 'web-2']);

    await page.goto(`${base}/#/dumps?kernel=6.1.0-alpha-amd64`);
    expect(await rowCount(2)).toBe(2);
    expect(await page.locator('#filters input[name=kernel]').inputValue()).toBe('6.1.0-alpha-amd64');

    await page.goto(`${base}/#/dumps?limit=2`);
    expect(await rowCount(2)).toBe(2);
    expect(await page.locator('#range').textContent()).toBe(`1–2 of ${all}`);
    await page.click('a[rel=next]');
    // The first page had as many rows as the second: wait for the range to move, not for a row count it already had.
    await page.waitForFunction((want) => document.querySelector('#range')?.textContent === want, `3–${all} of ${all}`, { timeout: 10_000 }).catch(() => {});
    expect(await page.locator('#range').textContent()).toBe(`3–${all} of ${all}`);
    expect(await rowCount(all - 2)).toBe(all - 2);
  });

  it('shows groups by signature with their count, and a group page listing its dumps', async () => {
    await page.goto(`${base}/#/groups`);
    await page.locator('#groups-table').waitFor();
    const group = page.locator(`tr[data-signature="${SYNTHETIC_GROUP.signature}"]`);
    expect(await group.locator('.reason').textContent()).toBe(SYNTHETIC_GROUP.reason);
    expect(await group.locator('.count').textContent()).toBe('2');
    expect(await group.locator('td').nth(2).textContent()).toMatch(/web-\d, web-\d/);
    if (haveBusy) {
      const busy = (await apiGet(`/dumps/${ids.busy}`)).body;
      expect(busy.signature).toMatch(/\S/);
      const real = page.locator(`tr[data-signature="${busy.signature}"]`);
      expect(await real.locator('.count').textContent()).toBe('1');
      expect(await real.locator('td').nth(2).textContent()).toBe('busy-host');
    }
    await shot('groups');

    await group.locator('a.reason').click();
    await page.locator('#group-count').waitFor();
    expect(page.url()).toContain(`#/groups/${SYNTHETIC_GROUP.signature}`);
    expect(await page.locator('#group-reason').textContent()).toBe(SYNTHETIC_GROUP.reason);
    expect(await page.locator('#signature-text').textContent()).toBe(SYNTHETIC_GROUP.signatureText);
    expect(await page.locator('#signature-text b').count()).toBe(0);
    expect(await rowCount(2)).toBe(2);
    expect((await dumpRows().evaluateAll((rows) => rows.map((r) => (r as HTMLElement).dataset.dumpId))).sort())
      .toEqual([ids.web1, ids.web2beta].sort());
  });

  it('the dump page shows the panic line, the exact crash command, the kernel log, and no Delete for a read token', async () => {
    const id = haveBusy ? ids.busy : ids.web1;
    const detail = (await apiGet(`/dumps/${id}`)).body;
    await page.goto(`${base}/#/dumps/${id}`);
    await page.locator('#panic').waitFor();
    if (haveBusy) {
      expect(await page.locator('#panic').textContent()).toContain(REAL_PANIC);
      await page.locator('#dmesg').waitFor();
      const log = await page.locator('#dmesg').textContent();
      expect(log).toContain(REAL_PANIC);
      expect(log).toBe((await (await fetch(`${base}/api/v1/dumps/${id}/dmesg`, { headers: { authorization: `Bearer ${operator.read}` } })).text()));
      expect(detail.triage.callTrace.length).toBeGreaterThan(0);
      expect(await page.locator('#call-trace li').allTextContents()).toEqual(detail.triage.callTrace);
    } else {
      expect(await page.locator('#panic').textContent()).toContain(SYNTHETIC_GROUP.reason);
    }
    expect(detail.crashCommand).toMatch(/^crash \/usr\/lib\/debug\/boot\/vmlinux-\S+ \/\S+\/vmcore$/);
    expect(await page.locator('code#crash-command').textContent()).toBe(detail.crashCommand);
    await page.click('#copy-crash-command');
    await page.waitForFunction(() => document.getElementById('copy-crash-command')?.textContent === 'Copied');
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(detail.crashCommand);
    expect(await page.locator(`a[href="/api/v1/dumps/${id}/file"]`).count()).toBe(1);
    expect(await page.locator(`a[href="/api/v1/dumps/${id}/elf"]`).count()).toBe(1);
    expect(await page.locator('#delete-dump').count()).toBe(0);
    await shot('dump');

    // A synthetic core has no kernel log: the page says why instead.
    const bare = (await apiGet(`/dumps/${ids.web2alpha}`)).body;
    expect(bare.triageError).toMatch(/\S/);
    await page.goto(`${base}/#/dumps/${ids.web2alpha}`);
    await page.locator('#dmesg-missing').waitFor();
    expect(await page.locator('#dmesg-missing').textContent()).toContain(bare.triageError);
    expect(await page.locator('#dmesg').count()).toBe(0);
  });

  it('an unknown dump id shows the API\'s message in the error banner', async () => {
    await page.goto(`${base}/#/dumps/nope`);
    const { status, body } = await apiGet('/dumps/nope');
    expect(status).toBe(404);
    expect(await visibleBanner()).toBe(`NOT_FOUND: ${body.error.message}`);
    expect(await page.locator('#load-failed').isVisible()).toBe(true);
  });

  it('an admin sees Delete, confirms, and the dump leaves the list', async () => {
    await page.goto(`${base}/#/dumps/${ids.web2alpha}`);
    await page.locator('#panic').waitFor();
    expect(await page.locator('#delete-dump').count()).toBe(0);
    await page.click('#sign-out');
    await signIn(operator.admin);
    // Signing in reloads the view it interrupted: the same dump, now with Delete.
    await page.locator('#delete-dump').waitFor();
    expect(await page.locator('#whoami').textContent()).toMatch(/alice\s*admin/);
    expect(page.url()).toContain(`#/dumps/${ids.web2alpha}`);
    let asked = '';
    page.once('dialog', (dialog) => { asked = dialog.message(); void dialog.accept(); });
    await page.click('#delete-dump');
    await page.locator('#notice-banner').waitFor({ state: 'visible' });
    expect(asked).toContain(ids.web2alpha);
    expect(page.url()).toMatch(/#\/dumps$/);
    const left = 2 + (haveBusy ? 1 : 0);
    expect(await rowCount(left)).toBe(left);
    expect(await page.locator(`tr[data-dump-id="${ids.web2alpha}"]`).count()).toBe(0);
    expect((await apiGet(`/dumps/${ids.web2alpha}`)).status).toBe(404);
  });

  it('an upload in flight shows a live progress bar on #/uploads and the badge in the header', async () => {
    const { client } = await startStalledUpload(receiver.tcpAddress!.port, beta.source, {
      hostId: 'slow-host', token: (await hostTokens.get('slow-host')), chunks: (total) => Math.floor(total / 3),
    });
    try {
      await client.next('ack');
      // ...and holds: the upload stays in flight, part done.

      await page.goto(`${base}/#/uploads`);
      const row = page.locator('#uploads-table tr.upload-row');
      await row.waitFor();
      expect(await row.count()).toBe(1);
      expect(await row.locator('td').first().textContent()).toBe('slow-host');
      const bar = row.locator('[role=progressbar]');
      const shown = Number(await bar.getAttribute('aria-valuenow'));
      const api = (await apiGet('/uploads')).body.uploads[0];
      expect(shown).toBeGreaterThan(0);
      expect(shown).toBeLessThan(100);
      expect(shown).toBeCloseTo(api.fraction * 100, 0);
      await page.waitForFunction(() => /^1 upload in flight$/.test(document.getElementById('uploads-badge')?.textContent ?? ''));
      expect(await page.locator('#uploads-badge').textContent()).toBe('1 upload in flight');
      await shot('uploads');

      // Live: the page follows the upload without a reload, to its end.
      client.close();
      await client.closed;
      await page.locator('#no-uploads').waitFor({ timeout: 5000 });
      expect(await page.locator('#uploads-table').count()).toBe(0);
    } finally {
      client.close();
    }
  });

  it('marks a dump stored at a lower level than asked in the list, and its page shows asked, applied, rules and notes as text', async () => {
    const client = await RawClient.connect(receiver.tcpAddress!.port);
    const hello = helloFor(beta.source, { hostId: 'lowered-host', token: hostTokens.get('lowered-host'), dumpLevelReport: LOWERED_REPORT });
    try {
      client.sendMessage(encodeControl(hello));
      await client.next('accept'); // the row exists from HELLO on
    } finally {
      client.close();
    }
    await client.closed;

    await page.goto(`${base}/#/dumps`);
    const row = page.locator(`tr[data-dump-id="${hello.dumpId}"]`);
    await row.waitFor();
    expect(await row.locator('.level-lowered').textContent()).toBe('level lowered');
    expect(await page.locator(`tr[data-dump-id="${ids.web1}"] .level-lowered`).count()).toBe(0);

    await row.locator('.panic-cell a').click();
    await page.locator('#dump-level').waitFor();
    expect(await page.locator('#dump-level').textContent()).toBe('1 (asked 31) lowered');
    expect(await page.locator('#dump-level-rules').textContent()).toBe('6.12');
    expect(await page.locator('#dump-level-notes li').allTextContents()).toEqual(LOWERED_REPORT.notes);
    expect(await page.locator('#dump-level-notes b, #dump-level-notes img').count()).toBe(0);
    await shot('dump-lowered');
  });

  it('marks a live snapshot live in the list and on its page, with its reason as text; the Kind filter finds it alone', async () => {
    const reason = 'hung <b>nfsd</b> since 09:40';
    const id = await uploadAs(alpha.source, 'live-host', { live: { reason, startedAtMs: Date.parse('2026-11-30T09:45:00Z') } });
    await page.goto(`${base}/#/dumps`);
    const row = page.locator(`tr[data-dump-id="${id}"]`);
    await row.waitFor();
    expect(await row.locator('.pill.live').textContent()).toBe('live');
    expect(await page.locator(`tr[data-dump-id="${ids.web1}"] .pill.live`).count()).toBe(0);

    await page.selectOption('#filters select[name=kind]', 'live');
    await page.click('#filters button[type=submit]');
    await page.waitForFunction(() => location.hash.includes('kind=live'));
    expect(await rowCount(1)).toBe(1);
    expect(await dumpRows().first().getAttribute('data-dump-id')).toBe(id);

    await row.locator('.panic-cell a').click();
    await page.locator('#live-reason').waitFor();
    expect(await page.locator('#live-reason').textContent()).toBe(reason);
    expect(await page.locator('#dump-meta b').count()).toBe(0);
    expect(await page.locator('.page-head').textContent()).toContain('snapshot taken');
    await shot('dump-live');
  });

  it('signs out, and the page asks for a token again; no script errors on the way', async () => {
    await page.goto(`${base}/#/dumps`);
    await page.locator('#sign-out').click();
    await page.locator('#login-form').waitFor();
    await page.reload();
    await page.locator('#login-form').waitFor();
    expect(await page.locator('#whoami').textContent()).toBe('');
    expect(pageErrors).toEqual([]);
  });
});
