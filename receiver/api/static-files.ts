/**
 * The web UI's files (receiver/web), served as they are: no build step. The
 * folder is read once, at start, into a map of names; requests only look
 * names up in that map, so no request path ever reaches the filesystem.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
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

/**
 * Reads the UI's files once, at start (a few tens of KiB): every .html, .js,
 * .css and .svg file under webRoot, subfolders included, named by its path
 * below webRoot with `/` between folders (`index.html`, `js/dom.js`). Hidden
 * files and folders and symbolic links are left out.
 */
export function loadWebFiles(webRoot: string | undefined): Map<string, StaticFile> {
  const files = new Map<string, StaticFile>();
  if (!webRoot || !existsSync(webRoot)) return files;
  const walk = (dir: string, prefix: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (entry.name.startsWith('.')) continue;
      const file = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(file, `${prefix}${entry.name}/`);
      else if (entry.isFile() && Object.hasOwn(TYPES, path.extname(entry.name))) {
        files.set(`${prefix}${entry.name}`, { body: readFileSync(file), contentType: TYPES[path.extname(entry.name)] });
      }
    }
  };
  walk(webRoot, '');
  return files;
}
