/**
 * The web UI's files (receiver/web), served as they are: no build step, a
 * fixed list of names, so no request path ever reaches the filesystem.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

/** receiver/web beside the package root, from the sources (tests) or from dist/ (the CLI, the container). */
export function findWebRoot(start = path.dirname(fileURLToPath(import.meta.url))): string | undefined {
  for (let dir = start; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'receiver', 'web');
    if (existsSync(path.join(dir, 'package.json')) && existsSync(path.join(candidate, 'index.html'))) return candidate;
    if (path.dirname(dir) === dir) return undefined;
  }
}

export interface StaticFile {
  body: Buffer;
  contentType: string;
}

/** Reads the UI's files once, at start: a few tens of KiB. */
export function loadWebFiles(webRoot: string | undefined): Map<string, StaticFile> {
  const files = new Map<string, StaticFile>();
  if (!webRoot) return files;
  for (const name of ['index.html', 'app.js', 'style.css', 'favicon.svg']) {
    const file = path.join(webRoot, name);
    if (existsSync(file)) files.set(name, { body: readFileSync(file), contentType: TYPES[path.extname(name)] ?? 'application/octet-stream' });
  }
  return files;
}
