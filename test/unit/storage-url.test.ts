import { describe, expect, it } from 'vitest';
import { openDumpStorage, parseS3StorageUrl } from '../../receiver/storage/open-storage.js';
import { NetdumpError } from '../../shared/errors.js';

describe('--storage', () => {
  it('reads bucket, prefix and the endpoint settings from an s3:// URL, credentials from the environment', () => {
    const options = parseS3StorageUrl('s3://kdump-dumps/fleet/a?endpoint=http%3A%2F%2F127.0.0.1%3A8080&region=eu-west-1&forcePathStyle=true&maxParts=1000&partMiB=16&maxFrontMiB=1024',
      { AWS_ACCESS_KEY_ID: 'id', AWS_SECRET_ACCESS_KEY: 'secret' });
    expect(options).toMatchObject({
      bucket: 'kdump-dumps', prefix: 'fleet/a/', endpoint: 'http://127.0.0.1:8080', region: 'eu-west-1', forcePathStyle: true,
      maxParts: 1000, partBytes: 16 * 2 ** 20, maxFrontBytes: 2 ** 30, accessKeyId: 'id', secretAccessKey: 'secret',
    });
    expect(parseS3StorageUrl('s3://kdump-dumps', {})).toMatchObject({ bucket: 'kdump-dumps', prefix: undefined, forcePathStyle: false, endpoint: undefined });
  });

  it('refuses credentials in the URL, unknown parameters, bad numbers and bad bucket names, saying which', () => {
    const refusal = (text: string) => {
      try {
        parseS3StorageUrl(text, {});
      } catch (error) {
        expect(error).toBeInstanceOf(NetdumpError);
        return (error as NetdumpError).message;
      }
      throw new Error(`${text} was accepted`);
    };
    expect(refusal('s3://key:secret@kdump-dumps')).toMatch(/credentials.*AWS_ACCESS_KEY_ID/);
    expect(refusal('s3://kdump-dumps?endpiont=http://x')).toMatch(/unknown parameter endpiont/);
    expect(refusal('s3://kdump-dumps?maxParts=lots')).toMatch(/maxParts=lots is not a positive integer/);
    expect(refusal('s3://Kdump_Dumps')).toMatch(/not an S3 bucket name/);
  });

  it('picks the backend: local by default, S3 for s3://, and refuses anything else', async () => {
    const local = openDumpStorage(undefined, '/var/lib/kdump-receiver');
    expect(local.description).toBe('local /var/lib/kdump-receiver');
    expect(local.filePath('web-1/x/vmcore', { finished: false })).toBe('/var/lib/kdump-receiver/web-1/x/vmcore.incomplete');
    expect(local.locationOf('web-1/2026-11-26-14:05:09/vmcore')).toBe('/var/lib/kdump-receiver/web-1/2026-11-26-14:05:09/vmcore');
    const s3 = openDumpStorage('s3://kdump-dumps/p?endpoint=http%3A%2F%2F127.0.0.1%3A1', '/unused');
    expect(s3.description).toBe('s3://kdump-dumps/p/');
    expect(s3.filePath('web-1/x/vmcore', { finished: true })).toBeUndefined();
    expect(await s3.freeBytes()).toBeUndefined();
    expect(s3.locationOf('web-1/x/vmcore')).toBe('s3://kdump-dumps/p/web-1/x/vmcore');
    await s3.close();
    expect(() => openDumpStorage('nfs://server/dumps', '/d')).toThrow(/use "local".*s3:\/\//);
  });
});
