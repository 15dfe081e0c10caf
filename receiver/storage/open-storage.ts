/**
 * The receiver's --storage setting: where dumps go.
 *
 *   (unset), local, file:        the data directory (DATA_DIR/<host>/<time>/vmcore)
 *   s3://BUCKET[/PREFIX]?endpoint=URL&region=R&forcePathStyle=true&maxParts=N&partMiB=N
 *                                S3-compatible object storage. maxParts: the engine's
 *                                limit (Swift's s3api: 1,000); maxFrontMiB: the most
 *                                memory one upload's front may take (24 bytes per
 *                                dumped page; default 256). Credentials come
 *                                from the environment as for any AWS tool
 *                                (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY), never
 *                                from the URL, which lands in logs and process lists.
 */
import { badInput } from '../../shared/errors.js';
import type { DumpStorage } from './dump-storage.js';
import { LocalDumpStorage } from './local-storage.js';
import { S3DumpStorage, type S3StorageOptions } from './s3-storage.js';

const S3_PARAMS = new Set(['endpoint', 'region', 'forcePathStyle', 'maxParts', 'partMiB', 'minPartMiB', 'maxFrontMiB']);

/** Parses an s3:// storage URL into S3DumpStorage options (credentials left to the SDK's environment chain). */
export function parseS3StorageUrl(text: string, env: NodeJS.ProcessEnv = process.env): S3StorageOptions {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw badInput(`storage ${JSON.stringify(text)} is not a URL (s3://BUCKET[/PREFIX]?endpoint=...)`);
  }
  if (url.username || url.password) {
    throw badInput('storage URL carries credentials: give them as AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY instead');
  }
  const bucket = url.hostname;
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) throw badInput(`storage URL ${text}: ${JSON.stringify(bucket)} is not an S3 bucket name`);
  for (const name of url.searchParams.keys()) {
    if (!S3_PARAMS.has(name)) throw badInput(`storage URL ${text}: unknown parameter ${name} (known: ${[...S3_PARAMS].join(', ')})`);
  }
  const number = (name: string): number | undefined => {
    const value = url.searchParams.get(name);
    if (value === null) return undefined;
    if (!/^\d+$/.test(value) || Number(value) < 1) throw badInput(`storage URL ${text}: ${name}=${value} is not a positive integer`);
    return Number(value);
  };
  const prefix = decodeURIComponent(url.pathname.replace(/^\/+/, ''));
  const MiB = 1024 * 1024;
  return {
    bucket,
    prefix: prefix === '' ? undefined : prefix.endsWith('/') ? prefix : `${prefix}/`,
    endpoint: url.searchParams.get('endpoint') ?? undefined,
    region: url.searchParams.get('region') ?? env.AWS_REGION ?? undefined,
    forcePathStyle: url.searchParams.get('forcePathStyle') === 'true',
    maxParts: number('maxParts'),
    partBytes: number('partMiB') && number('partMiB')! * MiB,
    minPartBytes: number('minPartMiB') && number('minPartMiB')! * MiB,
    maxFrontBytes: number('maxFrontMiB') && number('maxFrontMiB')! * MiB,
    accessKeyId: env.AWS_ACCESS_KEY_ID,
    secretAccessKey: env.AWS_SECRET_ACCESS_KEY,
  };
}

export function openDumpStorage(setting: string | undefined, dataDir: string): DumpStorage {
  if (setting === undefined || setting === '' || setting === 'local' || setting === 'file:') return new LocalDumpStorage(dataDir);
  if (setting.startsWith('s3://')) return new S3DumpStorage(parseS3StorageUrl(setting));
  throw badInput(`storage ${JSON.stringify(setting)}: use "local" (the data directory) or s3://BUCKET[/PREFIX]?endpoint=...`);
}
