/**
 * Who is calling the API: an operator token from the Authorization header
 * (scripts) or from the session cookie the web UI gets by posting the token
 * once. The cookie holds the token itself, HttpOnly and SameSite=Strict, so
 * page scripts cannot read it and other sites cannot send it.
 */
import type http from 'node:http';
import { ApiError } from './api-error.js';
import type { OperatorRole, OperatorTokens } from '../catalog/operator-tokens.js';

export const SESSION_COOKIE = 'kdump_session';

export interface Operator {
  name: string;
  role: OperatorRole;
}

export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) {
      try {
        return decodeURIComponent(part.slice(eq + 1).trim());
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}

export function presentedToken(req: http.IncomingMessage): string | undefined {
  const authorization = req.headers.authorization;
  if (authorization) {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
    if (!match) throw new ApiError('UNAUTHENTICATED', 'Authorization header is not "Bearer TOKEN"');
    return match[1];
  }
  return cookieValue(req.headers.cookie, SESSION_COOKIE);
}

export interface AuthPolicy {
  tokens: OperatorTokens;
  /** Lab mode (serve --open): everyone is admin. */
  open: boolean;
}

export async function authenticate(req: http.IncomingMessage, policy: AuthPolicy): Promise<Operator> {
  if (policy.open) return { name: 'open', role: 'admin' };
  const token = presentedToken(req);
  if (!token) throw new ApiError('UNAUTHENTICATED', 'an operator token is needed (kdump-receiver operator add NAME)', { 'www-authenticate': 'Bearer' });
  const operator = await policy.tokens.lookup(token);
  if (!operator) throw new ApiError('UNAUTHENTICATED', 'unknown or revoked operator token', { 'www-authenticate': 'Bearer' });
  return operator;
}

export function requireAdmin(operator: Operator, action: string): void {
  if (operator.role !== 'admin') throw new ApiError('FORBIDDEN', `${action} needs an admin token; ${operator.name} has role ${operator.role}`);
}

export function sessionCookie(token: string, secure: boolean): string {
  return `${SESSION_COOKIE}=${encodeURIComponent(token)}; Path=/; HttpOnly; SameSite=Strict${secure ? '; Secure' : ''}`;
}

export function clearedSessionCookie(secure: boolean): string {
  return `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0${secure ? '; Secure' : ''}`;
}
