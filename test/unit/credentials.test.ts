import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readCredentials } from '../../sender/credentials.js';

describe('the token and TLS files a send names', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'netdump-credentials-'));
    await writeFile(path.join(dir, 'token'), '  abc123\n');
    await writeFile(path.join(dir, 'empty'), '\n');
    await writeFile(path.join(dir, 'ca.pem'), 'CA');
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('reads them once: the token trimmed, the TLS files as bytes', () => {
    const c = readCredentials({ TOKEN_FILE: path.join(dir, 'token'), CA_FILE: path.join(dir, 'ca.pem') });
    expect(c).toEqual({ token: 'abc123', tls: { ca: Buffer.from('CA'), cert: undefined, key: undefined }, problems: [] });
  });

  it('names every problem; only an empty token file lets a send go on', () => {
    const missing = path.join(dir, 'nope');
    const c = readCredentials({ TOKEN_FILE: path.join(dir, 'empty'), CA_FILE: missing, CLIENT_CERT: path.join(dir, 'ca.pem') });
    expect(c.token).toBeUndefined();
    expect(c.problems).toEqual([
      { topic: 'CA file', message: expect.stringMatching(new RegExp(`^cannot read CA_FILE ${missing}: ENOENT`)), stopsSend: true },
      { topic: 'token file', message: `TOKEN_FILE ${path.join(dir, 'empty')} is empty`, stopsSend: false },
      { topic: 'client certificate', message: 'CLIENT_CERT and CLIENT_KEY go together: set both or neither', stopsSend: true },
    ]);
  });
});
