/**
 * The web UI's files as the receiver serves them (receiver/api/static-files.ts):
 * the whole receiver/web folder, subfolders included, read once at start; and
 * every module the page loads is among them.
 */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { findWebRoot, loadWebFiles } from '../../receiver/api/static-files.js';

describe('web UI files', () => {
  const files = loadWebFiles(findWebRoot());
  const text = (name: string) => files.get(name)!.body.toString('utf8');
  const scripts = [...files.keys()].filter((name) => name.endsWith('.js'));

  it('serves index.html, the entry module, the style sheet and the icon', () => {
    for (const name of ['index.html', 'app.js', 'style.css', 'favicon.svg']) expect(files.has(name), name).toBe(true);
    expect(files.get('app.js')!.contentType).toBe('text/javascript; charset=utf-8');
    expect(files.get('index.html')!.contentType).toBe('text/html; charset=utf-8');
  });

  it('serves every module that index.html and the modules import, by its path below receiver/web', () => {
    const wanted = new Set<string>();
    for (const [, ref] of text('index.html').matchAll(/(?:src|href)="\/ui\/([^"]+)"/g)) wanted.add(ref);
    for (const name of scripts) {
      for (const [, ref] of text(name).matchAll(/^import\b[^'"]*['"](\.{1,2}\/[^'"]+)['"]/gm)) {
        wanted.add(path.posix.normalize(path.posix.join(path.posix.dirname(name), ref)));
      }
    }
    expect(scripts.length).toBeGreaterThan(5);
    expect(wanted.has('app.js')).toBe(true);
    for (const name of wanted) expect(files.has(name), `${name} is imported but not served`).toBe(true);
    // ...and no module reaches outside the folder at run time (type imports live in JSDoc comments only).
    for (const name of wanted) expect(name.startsWith('../'), name).toBe(false);
  });

  it('every module is type-checked (tsconfig.web.json) and says its job', () => {
    for (const name of scripts) expect(text(name).split('\n').slice(0, 2), name).toEqual(['// @ts-check', expect.stringMatching(/^\/\/ \S/)]);
  });

  describe('from a folder', () => {
    let dir = '';
    afterEach(() => rmSync(dir, { recursive: true, force: true }));

    it('takes .html/.js/.css/.svg files in subfolders; leaves out other files, hidden ones and links', () => {
      dir = mkdtempSync(path.join(tmpdir(), 'netdump-web-'));
      mkdirSync(path.join(dir, 'js', 'deep'), { recursive: true });
      mkdirSync(path.join(dir, '.git'));
      for (const name of ['index.html', 'app.js', 'js/a.js', 'js/deep/b.css', 'notes.md', '.hidden.js', '.git/x.js', 'js/a.js.swp']) {
        writeFileSync(path.join(dir, name), name);
      }
      symlinkSync(path.join(dir, 'app.js'), path.join(dir, 'link.js'));
      const loaded = loadWebFiles(dir);
      expect([...loaded.keys()].sort()).toEqual(['app.js', 'index.html', 'js/a.js', 'js/deep/b.css']);
      expect(loaded.get('js/deep/b.css')!.contentType).toBe('text/css; charset=utf-8');
      expect(loaded.get('js/a.js')!.body.toString()).toBe('js/a.js');
    });

    it('no folder, no files', () => {
      dir = mkdtempSync(path.join(tmpdir(), 'netdump-web-'));
      expect(loadWebFiles(undefined).size).toBe(0);
      expect(loadWebFiles(path.join(dir, 'missing')).size).toBe(0);
    });
  });
});
