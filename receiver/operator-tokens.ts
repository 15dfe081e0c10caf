/**
 * Operators' tokens for the HTTP API and web UI, kept apart from host tokens:
 * a host token lets a machine upload its own dumps, an operator token lets a
 * person or script read (role read) or also delete (role admin) everyone's.
 * As with host tokens only the SHA-256 of the random token is stored; lookup is
 * by that hash, which reveals nothing a caller could use (the token is 32
 * random bytes, so there is no near miss to time).
 */
import { createHash, randomBytes } from 'node:crypto';
import type Database from 'better-sqlite3';
import { badInput } from '../shared/errors.js';

export type OperatorRole = 'read' | 'admin';
export const OPERATOR_ROLES: readonly OperatorRole[] = ['read', 'admin'];

export interface OperatorInfo {
  name: string;
  role: OperatorRole;
  createdAt: number;
  revokedAt: number | null;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS operator_tokens (
  name TEXT PRIMARY KEY,
  role TEXT NOT NULL CHECK (role IN ('read', 'admin')),
  token_sha256 BLOB NOT NULL UNIQUE,
  created_at INTEGER NOT NULL,
  revoked_at INTEGER
);`;

const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;
const digest = (token: string) => createHash('sha256').update(token, 'utf8').digest();

export class OperatorTokens {
  constructor(private readonly db: Database.Database) {
    if (!db.readonly) db.exec(SCHEMA);
  }

  /** Adds NAME (or replaces its token and role); returns the new token, which is not stored anywhere. */
  add(name: string, role: OperatorRole): string {
    if (!NAME_PATTERN.test(name)) throw badInput(`operator name ${JSON.stringify(name)}: use 1-64 of letters, digits, . _ @ -`);
    if (!OPERATOR_ROLES.includes(role)) throw badInput(`operator role ${JSON.stringify(role)}: read or admin`);
    const token = randomBytes(32).toString('base64url');
    this.db.prepare(`INSERT INTO operator_tokens (name, role, token_sha256, created_at, revoked_at) VALUES (?, ?, ?, ?, NULL)
      ON CONFLICT (name) DO UPDATE SET role = excluded.role, token_sha256 = excluded.token_sha256, created_at = excluded.created_at, revoked_at = NULL`)
      .run(name, role, digest(token), Date.now());
    return token;
  }

  /** Returns false when NAME had no live token. */
  revoke(name: string): boolean {
    return this.db.prepare('UPDATE operator_tokens SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL').run(Date.now(), name).changes > 0;
  }

  list(): OperatorInfo[] {
    return (this.db.prepare('SELECT name, role, created_at, revoked_at FROM operator_tokens ORDER BY name').all() as Array<Record<string, unknown>>)
      .map((r) => ({ name: r.name as string, role: r.role as OperatorRole, createdAt: r.created_at as number, revokedAt: r.revoked_at as number | null }));
  }

  /** The live operator holding `token`, if any. */
  lookup(token: string): { name: string; role: OperatorRole } | undefined {
    if (token.length === 0 || token.length > 256) return undefined;
    const row = this.db.prepare('SELECT name, role FROM operator_tokens WHERE token_sha256 = ? AND revoked_at IS NULL').get(digest(token)) as
      { name: string; role: OperatorRole } | undefined;
    return row && { name: row.name, role: row.role };
  }
}
