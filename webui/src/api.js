// @ts-check
/**
 * The REST API (docs/api.md): every call goes through `request`, which turns any failure
 * (network, HTTP status, Skydive's `{"error": "…"}` body) into an `ApiError` whose message
 * names the route, so panels can show it as is.
 * Must not: touch the DOM.
 */

export class ApiError extends Error {
  /**
   * @param {number} status HTTP status, 0 when the analyzer could not be reached
   * @param {string} message what the API said
   * @param {string} route e.g. "POST /api/capture"
   */
  constructor(status, message, route) {
    super(`${route}: ${status ? `${status} ` : ''}${message}`);
    this.status = status;
    this.detail = message;
    this.route = route;
    const m = /\(column (\d+)\)/.exec(message);
    /** 1-based column of a Gremlin error, if the message has one @type {number | null} */
    this.column = m ? Number(m[1]) : null;
  }
}

/**
 * @param {string} method @param {string} path @param {any} [body]
 * @param {{signal?: AbortSignal}} [opts]
 * @returns {Promise<any>} the decoded JSON answer (null when empty)
 */
export async function request(method, path, body, opts = {}) {
  const route = `${method} ${path}`;
  /** @type {Response} */
  let r;
  try {
    r = await fetch(path, {
      method,
      headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: opts.signal,
    });
  } catch (e) {
    if (e instanceof DOMException && e.name === 'AbortError') throw e;
    throw new ApiError(0, `cannot reach the analyzer (${e instanceof Error ? e.message : e})`, route);
  }
  const text = await r.text();
  if (!r.ok) {
    let msg = text.trim() || r.statusText;
    try {
      const j = JSON.parse(text);
      if (j && typeof j.error === 'string') msg = j.error;
    } catch { /* plain text error */ }
    throw new ApiError(r.status, msg, route);
  }
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    throw new ApiError(r.status, `the answer is not JSON: ${text.slice(0, 200)}`, route);
  }
}

/** A Gremlin query (POST /api/topology). @param {string} query @param {{signal?: AbortSignal}} [opts] */
export function gremlin(query, opts) {
  return request('POST', '/api/topology', { GremlinQuery: query }, opts);
}

/** Quotes a string for a Gremlin query. @param {string} s */
export function quote(s) {
  return `'${String(s).replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/** `G` or `G.At(t)` for the time the UI shows. @param {number | null} time epoch ms */
export function graphAt(time) {
  return time === null ? 'G' : `G.At(${Math.floor(time / 1000)})`;
}
