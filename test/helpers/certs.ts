/**
 * A throwaway PKI for TLS tests, made at test time with the openssl CLI:
 * a CA, a server certificate for 127.0.0.1/localhost, a client certificate,
 * and a second, untrusted CA with its own client certificate.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll } from 'vitest';

export interface TestPki {
  dir: string;
  caFile: string;
  ca: Buffer;
  serverCert: Buffer;
  serverKey: Buffer;
  clientCertFile: string;
  clientKeyFile: string;
  clientCert: Buffer;
  clientKey: Buffer;
  strangerCertFile: string;
  strangerKeyFile: string;
}

function openssl(dir: string, args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
}

function newKeyAndCsr(dir: string, name: string, subject: string): void {
  openssl(dir, ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject]);
}

function newCa(dir: string, name: string): void {
  openssl(dir, ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.key`,
    '-out', `${name}.pem`, '-days', '2', '-subj', `/CN=${name}`]);
}

function sign(dir: string, name: string, ca: string, extensions: string): void {
  writeFileSync(path.join(dir, `${name}.ext`), extensions);
  openssl(dir, ['x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.pem`, '-CAkey', `${ca}.key`, '-CAcreateserial',
    '-out', `${name}.pem`, '-days', '2', '-extfile', `${name}.ext`]);
}

export function makeTestPki(dir: string): TestPki {
  newCa(dir, 'test-ca');
  newCa(dir, 'stranger-ca');
  newKeyAndCsr(dir, 'server', '/CN=kdump-receiver');
  sign(dir, 'server', 'test-ca', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  newKeyAndCsr(dir, 'client', '/CN=node-1');
  sign(dir, 'client', 'test-ca', 'extendedKeyUsage=clientAuth\n');
  newKeyAndCsr(dir, 'stranger', '/CN=stranger');
  sign(dir, 'stranger', 'stranger-ca', 'extendedKeyUsage=clientAuth\n');
  const file = (name: string) => path.join(dir, name);
  return {
    dir,
    caFile: file('test-ca.pem'),
    ca: readFileSync(file('test-ca.pem')),
    serverCert: readFileSync(file('server.pem')),
    serverKey: readFileSync(file('server.key')),
    clientCertFile: file('client.pem'),
    clientKeyFile: file('client.key'),
    clientCert: readFileSync(file('client.pem')),
    clientKey: readFileSync(file('client.key')),
    strangerCertFile: file('stranger.pem'),
    strangerKeyFile: file('stranger.key'),
  };
}

/**
 * A throwaway PKI for a describe block: made in a temporary directory before
 * its tests, removed after them. Read `.pki` inside tests.
 */
export function useTestPki(): { readonly pki: TestPki } {
  let made: TestPki | undefined;
  beforeAll(async () => {
    made = makeTestPki(await mkdtemp(path.join(tmpdir(), 'netdump-pki-')));
  });
  afterAll(async () => {
    if (made) await rm(made.dir, { recursive: true, force: true });
  });
  return {
    get pki() {
      if (!made) throw new Error('useTestPki: pki read outside a test of its describe block');
      return made;
    },
  };
}
