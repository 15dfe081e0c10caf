/**
 * The options every command that reads or writes the catalog shares, and
 * opening the catalog they name. Reading never creates a SQLite catalog.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { Option } from 'commander';
import { Catalog, isPostgresUrl } from '../catalog/catalog.js';

export const DEFAULT_DATA_DIR = process.env.KDUMP_RECEIVER_DATA ?? '/var/lib/kdump-receiver';
/** Undefined: DATA_DIR/index.db. */
export const DEFAULT_CATALOG = process.env.KDUMP_RECEIVER_CATALOG;

/** Where every command finds the catalog: --data-dir (and its index.db), or --catalog for a shared database. */
export const dataDirOption = () => new Option('--data-dir <dir>', 'data directory').default(DEFAULT_DATA_DIR);
export const catalogOption = () => new Option('--catalog <url>',
  'catalog database: postgres://USER:PASSWORD@HOST/DB, shared by several receivers (default DATA_DIR/index.db)').default(DEFAULT_CATALOG);

/** Where dumps are kept; serve, show and retention must agree on it. */
export const storageOption = () => new Option('--storage <url>', 'where dumps go: "local" (the data directory) or s3://BUCKET[/PREFIX]?endpoint=URL&region=R&forcePathStyle=true'
  + ' (credentials from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)').env('KDUMP_RECEIVER_STORAGE');

/** Runs `use` on the catalog the options name, closing it after. */
export async function withCatalog<T>(opts: { dataDir: string; catalog?: string }, writable: boolean, use: (catalog: Catalog) => Promise<T>): Promise<T> {
  const location = opts.catalog ?? Catalog.inDataDir(opts.dataDir);
  if (!isPostgresUrl(location)) {
    if (writable) mkdirSync(opts.dataDir, { recursive: true });
    else if (!existsSync(location)) {
      process.stderr.write(`kdump-receiver: no catalog at ${location} (no dumps received yet, or wrong --data-dir)\n`);
      process.exit(2);
    }
  }
  const catalog = await Catalog.open(location, { readonly: !writable && !isPostgresUrl(location) });
  try {
    return await use(catalog);
  } finally {
    await catalog.close();
  }
}

export const iso = (ms: number | null) => (ms === null ? '-' : new Date(ms).toISOString().replace('.000Z', 'Z'));
