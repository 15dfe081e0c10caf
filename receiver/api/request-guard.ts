/**
 * Which browser requests the API takes, before any route runs.
 *
 * Cross-site requests: the session cookie is SameSite=Strict, but a page on
 * another port of the same host is the same *site* and gets it sent, and an
 * HTML form can POST text/plain without asking. So a request that changes
 * state (anything but GET and HEAD) is refused when the browser says it comes
 * from elsewhere (Sec-Fetch-Site other than same-origin or none, or an Origin
 * other than this receiver's), and one with a body must be application/json,
 * which no form can send. Scripts send neither header and pass: they need an
 * operator token in Authorization anyway, which no other page can add.
 *
 * Host names (--open only): without tokens, a page on a name the attacker
 * controls and points at this receiver (DNS rebinding) could read and delete
 * dumps. An open receiver answers only to its own names. A closed one needs
 * no list: every API call needs a token or the cookie of the receiver's own
 * origin, which a rebinding page never has.
 */
import type http from 'node:http';
import { isIP } from 'node:net';
import { ApiError } from './api-error.js';

const READING = new Set(['GET', 'HEAD']);

export function checkStateChange(req: http.IncomingMessage): void {
  const method = req.method ?? 'GET';
  if (READING.has(method)) return;
  const site = req.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin' && site !== 'none') {
    throw new ApiError('FORBIDDEN', `${method} ${req.url} from another site (Sec-Fetch-Site: ${site}) is refused: use this receiver's own UI or a token in Authorization`);
  }
  const origin = req.headers.origin;
  if (origin !== undefined && originHost(origin) !== req.headers.host?.toLowerCase()) {
    throw new ApiError('FORBIDDEN', `${method} ${req.url} from origin ${origin} is refused: only this receiver's own pages may change anything`);
  }
  const hasBody = req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
  const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
  if (hasBody && type !== 'application/json') {
    throw new ApiError('UNSUPPORTED_MEDIA_TYPE', `${method} ${req.url} with a ${type || 'untyped'} body is refused: the API takes application/json`);
  }
}

function originHost(origin: string): string | undefined {
  try {
    return new URL(origin).host.toLowerCase();
  } catch {
    return undefined; // "null" (sandboxed frames, file: pages) matches nothing
  }
}

/**
 * The names an open receiver answers to: IP addresses (a rebinding page
 * always comes with a name), localhost, and `names` (its listen host,
 * hostname, --public-url's host, --allowed-host).
 */
export function hostChecker(names: Iterable<string>): (req: http.IncomingMessage) => void {
  const allowed = new Set(['localhost', ...[...names].map((n) => n.toLowerCase())]);
  return (req) => {
    const host = req.headers.host ?? '';
    const name = hostName(host);
    if (name !== undefined && (isIP(name) !== 0 || allowed.has(name))) return;
    throw new ApiError('FORBIDDEN', `this open receiver does not answer to host ${JSON.stringify(host.slice(0, 100))}: ` +
      `add it with --allowed-host (it answers to ${[...allowed].sort().join(', ')} and IP addresses)`);
  };
}

/** The name in a Host header, without port or IPv6 brackets; undefined when it is no host. */
function hostName(host: string): string | undefined {
  try {
    const name = new URL(`http://${host}/`).hostname.toLowerCase();
    return name.startsWith('[') ? name.slice(1, -1) : name;
  } catch {
    return undefined;
  }
}
