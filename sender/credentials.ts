/**
 * The files a send's settings name for authentication: the host's token and
 * the TLS CA, client certificate and key. Read once, here, for both users:
 * a send stops at the first problem that stops it, `kdump-send --check`
 * lists them all.
 */
import { readFileSync } from 'node:fs';
import type { SenderConfig } from './config.js';
import type { TlsClientOptions } from './transport.js';

export interface CredentialProblem {
  /** What the problem is about, as --check names its findings. */
  topic: 'token file' | 'CA file' | 'client certificate' | 'client key';
  message: string;
  /** Whether a send must stop for it. An empty token file does not stop one: an --open receiver takes the dump anyway. */
  stopsSend: boolean;
}

export interface Credentials {
  token?: string;
  tls: TlsClientOptions;
  problems: CredentialProblem[];
}

const FILES = [
  { key: 'TOKEN_FILE', topic: 'token file' },
  { key: 'CA_FILE', topic: 'CA file' },
  { key: 'CLIENT_CERT', topic: 'client certificate' },
  { key: 'CLIENT_KEY', topic: 'client key' },
] as const;

export function readCredentials(config: SenderConfig): Credentials {
  const problems: CredentialProblem[] = [];
  const [token, ca, cert, key] = FILES.map(({ key: setting, topic }) => {
    const file = config[setting];
    if (!file) return undefined;
    try {
      return readFileSync(file);
    } catch (error) {
      problems.push({ topic, message: `cannot read ${setting} ${file}: ${(error as Error).message}`, stopsSend: true });
      return undefined;
    }
  });
  const tokenText = token?.toString('utf8').trim();
  if (token && !tokenText) problems.push({ topic: 'token file', message: `TOKEN_FILE ${config.TOKEN_FILE} is empty`, stopsSend: false });
  if (Boolean(config.CLIENT_CERT) !== Boolean(config.CLIENT_KEY)) {
    problems.push({ topic: 'client certificate', message: 'CLIENT_CERT and CLIENT_KEY go together: set both or neither', stopsSend: true });
  }
  return { token: tokenText || undefined, tls: { ca, cert, key }, problems };
}
