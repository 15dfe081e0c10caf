/**
 * Enrolled hosts and their upload tokens. A token is 32 random bytes
 * (base64url), shown once at enrolment; the receiver keeps only its SHA-256.
 * A fast hash suffices because tokens are random, not chosen by people: there
 * is nothing to guess from the hash. Each token is bound to one host id, so a
 * host cannot upload as another; comparison is constant-time.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { SqlDriver } from './sql/driver.js';
import { sqlDialect, type SqlDialect } from './sql/dialect.js';
import { NetdumpError, ErrorCode } from '../../shared/errors.js';
import { checkHostId } from '../../shared/dump-folders.js';

export interface HostTokenInfo {
  hostId: string;
  createdAt: number;
  revokedAt: number | null;
}

const schema = ({ int, bytes }: SqlDialect) => `
CREATE TABLE IF NOT EXISTS host_tokens (
  host_id TEXT PRIMARY KEY,
  token_sha256 ${bytes} NOT NULL,
  created_at ${int} NOT NULL,
  revoked_at ${int}
);`;

const digest = (token: string) => createHash('sha256').update(token, 'utf8').digest();

export function authError(message: string, context: Record<string, string>): NetdumpError {
  return new NetdumpError(ErrorCode.AUTH, message, context);
}

export class HostTokens {
  constructor(private readonly db: SqlDriver) {}

  async createSchema(): Promise<void> {
    await this.db.exec(schema(sqlDialect(this.db.dialect)));
  }

  /** Enrols a host (or replaces its token); returns the new token, which is not stored anywhere. */
  async add(hostId: string): Promise<string> {
    checkHostId(hostId);
    const token = randomBytes(32).toString('base64url');
    await this.db.run(`INSERT INTO host_tokens (host_id, token_sha256, created_at, revoked_at) VALUES (?, ?, ?, NULL)
      ON CONFLICT (host_id) DO UPDATE SET token_sha256 = excluded.token_sha256, created_at = excluded.created_at, revoked_at = NULL`,
    [hostId, digest(token), Date.now()]);
    return token;
  }

  /** Returns false when the host was not enrolled. */
  async revoke(hostId: string): Promise<boolean> {
    return (await this.db.run('UPDATE host_tokens SET revoked_at = ? WHERE host_id = ? AND revoked_at IS NULL', [Date.now(), hostId])) > 0;
  }

  async list(): Promise<HostTokenInfo[]> {
    return (await this.db.all('SELECT host_id, created_at, revoked_at FROM host_tokens ORDER BY host_id'))
      .map((r) => ({ hostId: r.host_id as string, createdAt: r.created_at as number, revokedAt: r.revoked_at as number | null }));
  }

  /** Throws AUTH unless `token` is the live token of `hostId`. */
  async verify(hostId: string, token: string | undefined): Promise<void> {
    if (!token) throw authError(`host ${hostId} sent no token (enrol it with: kdump-receiver token add ${hostId})`, { host: hostId });
    const row = await this.db.get<{ token_sha256: Buffer; revoked_at: number | null }>(
      'SELECT token_sha256, revoked_at FROM host_tokens WHERE host_id = ?', [hostId]);
    // Hash and compare even for unknown hosts, so timing does not tell which hosts are enrolled.
    const expected = row?.token_sha256 ?? Buffer.alloc(32);
    const matches = timingSafeEqual(digest(token), expected);
    // One answer for unknown, revoked and wrong: the peer learns nothing of who is enrolled; the log says which it was.
    const reason = !row ? 'not enrolled' : row.revoked_at !== null ? 'token revoked' : !matches ? 'wrong token' : undefined;
    if (reason) throw authError(`token not accepted for host ${hostId}`, { host: hostId, reason });
  }
}
