/**
 * Operators' tokens for the HTTP API and web UI, kept apart from host tokens:
 * a host token lets a machine upload its own dumps, an operator token lets a
 * person or script read (role read) or also delete (role admin) everyone's.
 * As with host tokens only the SHA-256 of the random token is stored; lookup is
 * by that hash, which reveals nothing a caller could use (the token is 32
 * random bytes, so there is no near miss to time).
 */
import { createHash, randomBytes } from 'node:crypto';
import type { SqlDriver } from './sql/driver.js';
import { sqlDialect, type SqlDialect } from './sql/dialect.js';
import { badInput } from '../../shared/errors.js';

export type OperatorRole = 'read' | 'admin';
export const OPERATOR_ROLES: readonly OperatorRole[] = ['read', 'admin'];

export interface OperatorInfo {
  name: string;
  role: OperatorRole;
  createdAt: number;
  revokedAt: number | null;
}

const schema = ({ int, bytes }: SqlDialect) => `
CREATE TABLE IF NOT EXISTS operator_tokens (
  name TEXT PRIMARY KEY,
  role TEXT NOT NULL CHECK (role IN ('read', 'admin')),
  token_sha256 ${bytes} NOT NULL UNIQUE,
  created_at ${int} NOT NULL,
  revoked_at ${int}
);`;

const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;
const digest = (token: string) => createHash('sha256').update(token, 'utf8').digest();

export class OperatorTokens {
  constructor(private readonly db: SqlDriver) {}

  async createSchema(): Promise<void> {
    await this.db.exec(schema(sqlDialect(this.db.dialect)));
  }

  /** Adds NAME (or replaces its token and role); returns the new token, which is not stored anywhere. */
  async add(name: string, role: OperatorRole): Promise<string> {
    if (!NAME_PATTERN.test(name)) throw badInput(`operator name ${JSON.stringify(name)}: use 1-64 of letters, digits, . _ @ -`);
    if (!OPERATOR_ROLES.includes(role)) throw badInput(`operator role ${JSON.stringify(role)}: read or admin`);
    const token = randomBytes(32).toString('base64url');
    await this.db.run(`INSERT INTO operator_tokens (name, role, token_sha256, created_at, revoked_at) VALUES (?, ?, ?, ?, NULL)
      ON CONFLICT (name) DO UPDATE SET role = excluded.role, token_sha256 = excluded.token_sha256, created_at = excluded.created_at, revoked_at = NULL`,
    [name, role, digest(token), Date.now()]);
    return token;
  }

  /** Returns false when NAME had no live token. */
  async revoke(name: string): Promise<boolean> {
    return (await this.db.run('UPDATE operator_tokens SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL', [Date.now(), name])) > 0;
  }

  async list(): Promise<OperatorInfo[]> {
    return (await this.db.all('SELECT name, role, created_at, revoked_at FROM operator_tokens ORDER BY name'))
      .map((r) => ({ name: r.name as string, role: r.role as OperatorRole, createdAt: r.created_at as number, revokedAt: r.revoked_at as number | null }));
  }

  /** The live operator holding `token`, if any. */
  async lookup(token: string): Promise<{ name: string; role: OperatorRole } | undefined> {
    if (token.length === 0 || token.length > 256) return undefined;
    const row = await this.db.get<{ name: string; role: OperatorRole }>(
      'SELECT name, role FROM operator_tokens WHERE token_sha256 = ? AND revoked_at IS NULL', [digest(token)]);
    return row && { name: row.name, role: row.role };
  }
}
