// @ts-check
// The client of the HTTP API v1 (docs/api.md): fetch with the session cookie,
// errors as ApiError / AuthRequired, and the JSON shapes the views read. The
// shapes come from receiver/api (dump-view.ts is the contract); answers that
// have no TypeScript type there are declared here.

/** @typedef {import('../../api/dump-view.js').DumpSummaryView} DumpSummaryView */
/** @typedef {import('../../api/dump-view.js').GroupView} GroupView */
/** @typedef {import('../../api/dump-view.js').UploadView} UploadView */

/**
 * GET /api/v1/dumps.
 * @typedef {{ dumps: DumpSummaryView[], total: number, limit: number, offset: number }} DumpList
 */
/**
 * GET /api/v1/groups.
 * @typedef {{ groups: GroupView[] }} GroupList
 */
/**
 * GET /api/v1/groups/SIGNATURE: the group's fields and its (complete) dumps.
 * @typedef {GroupView & { dumps: DumpSummaryView[] }} GroupDetail
 */
/**
 * GET /api/v1/uploads.
 * @typedef {{ uploads: UploadView[] }} UploadList
 */
/**
 * GET /api/v1/whoami; `open`: serve --open, every request is admin.
 * @typedef {import('../../api/operator-auth.js').Operator & { open: boolean }} Whoami
 */
/**
 * Every error answer of the API.
 * @typedef {{ error: { code: import('../../api/api-error.js').ApiErrorCode, message: string } }} ApiErrorBody
 */

export const API = '/api/v1';

/** An error answer of the API: {"error": {"code", "message"}}, or a failure to reach it. */
export class ApiError extends Error {
  /**
   * @param {number} status HTTP status; 0 when the receiver could not be reached
   * @param {string} code the API's code, or the UI's own (HTTP_503, NETWORK, BAD_RESPONSE)
   * @param {string} message
   */
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** 401: the caller has no valid token; the UI asks for one. */
export class AuthRequired extends ApiError {}

/** @param {Response} res */
async function readError(res) {
  let code = `HTTP_${res.status}`;
  let message = res.statusText || `HTTP ${res.status}`;
  try {
    // An ApiErrorBody, or whatever a proxy in between answered.
    const body = /** @type {{ error?: Partial<ApiErrorBody['error']> | string | null } | null} */ (await res.json());
    if (body && typeof body.error === 'object' && body.error !== null) {
      if (body.error.code) code = String(body.error.code);
      if (body.error.message) message = String(body.error.message);
    } else if (body && typeof body.error === 'string') {
      message = body.error;
    }
  } catch {
    // Not JSON (a proxy's page, say): keep the status line.
  }
  return res.status === 401 ? new AuthRequired(res.status, code, message) : new ApiError(res.status, code, message);
}

/**
 * Calls the API; resolves with the parsed JSON (or text, or null for 204),
 * rejects with ApiError / AuthRequired. The caller says what it expects with
 * a cast to one of the types above.
 * @param {string} path under /api/v1
 * @param {{ method?: string, body?: unknown, as?: 'json' | 'text' }} [options]
 * @returns {Promise<unknown>}
 */
export async function api(path, { method = 'GET', body, as = 'json' } = {}) {
  let res;
  try {
    res = await fetch(API + path, {
      method,
      credentials: 'same-origin',
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (error) {
    throw new ApiError(0, 'NETWORK', `cannot reach the receiver (${/** @type {Error} */ (error).message})`);
  }
  if (!res.ok) throw await readError(res);
  if (res.status === 204) return null;
  if (as === 'text') return res.text();
  try {
    return /** @type {unknown} */ (await res.json());
  } catch {
    throw new ApiError(res.status, 'BAD_RESPONSE', `${method} ${API}${path} did not answer JSON`);
  }
}

/**
 * A query string of the parameters that have a value ('' when none has).
 * @param {Record<string, string | number | null | undefined>} params
 */
export const query = (params) => {
  const qs = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) if (value !== undefined && value !== null && value !== '') qs.set(key, String(value));
  const text = qs.toString();
  return text ? `?${text}` : '';
};

/**
 * Only the API's own paths become download links (never javascript: or another origin).
 * @param {unknown} link
 */
export const apiLink = (link) => (typeof link === 'string' && link.startsWith(`${API}/`) ? link : null);
