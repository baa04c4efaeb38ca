// Thin client of Ballast's public /v1 API. Every failure becomes an ApiError
// carrying the API's faultstring (or a network message), never a raw throw.

/** An error from the API (status >= 400) or from the network (status 0). */
export class ApiError extends Error {
  constructor(status, message, faultcode) {
    super(message);
    this.status = status;
    this.faultcode = faultcode || (status >= 500 || status === 0 ? 'Server' : 'Client');
  }
  get isNetwork() { return this.status === 0; }
  get isNotFound() { return this.status === 404; }
}

const listeners = new Set();
/** Subscribe to connectivity changes: fn(true|false). */
export function onConnectivity(fn) { listeners.add(fn); }
let lastOnline = null;
function setOnline(online) {
  if (online === lastOnline) return;
  lastOnline = online;
  for (const fn of listeners) fn(online);
}

/** Performs one request; resolves to the parsed JSON body (or null). */
export async function request(method, path, body) {
  const init = { method, headers: { Accept: 'application/json' } };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch('/v1' + path, init);
  } catch (err) {
    setOnline(false);
    throw new ApiError(0, 'Cannot reach the Ballast API (' + (err && err.message ? err.message : 'network error') + ').');
  }
  setOnline(true);
  const text = await response.text().catch(() => '');
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch { data = null; }
  }
  if (!response.ok) {
    const message = data && typeof data.faultstring === 'string' && data.faultstring
      ? data.faultstring
      : `The API answered ${response.status} ${response.statusText || ''}`.trim() + '.';
    throw new ApiError(response.status, message, data && data.faultcode);
  }
  return data;
}

export const get = (path) => request('GET', path);
export const post = (path, body) => request('POST', path, body);
export const put = (path, body) => request('PUT', path, body);
export const del = (path) => request('DELETE', path);

/** Like get, but a 404 resolves to null (e.g. a pool without a monitor). */
export async function getOptional(path) {
  try { return await get(path); } catch (err) {
    if (err instanceof ApiError && err.isNotFound) return null;
    throw err;
  }
}

// URL builders, one per resource, so the nesting lives in one place.
const enc = encodeURIComponent;
export const paths = {
  networks: () => '/networks',
  certificates: () => '/certificates',
  lbs: () => '/loadbalancers',
  lb: (lb) => `/loadbalancers/${enc(lb)}`,
  listeners: (lb) => `/loadbalancers/${enc(lb)}/listeners`,
  listener: (lb, l) => `/loadbalancers/${enc(lb)}/listeners/${enc(l)}`,
  stats: (lb, l) => `/loadbalancers/${enc(lb)}/listeners/${enc(l)}/stats`,
  pools: (lb, l) => `/loadbalancers/${enc(lb)}/listeners/${enc(l)}/pools`,
  pool: (lb, l, p) => `/loadbalancers/${enc(lb)}/listeners/${enc(l)}/pools/${enc(p)}`,
  monitor: (lb, l, p) => `/loadbalancers/${enc(lb)}/listeners/${enc(l)}/pools/${enc(p)}/health_monitor`,
  members: (lb, l, p) => `/loadbalancers/${enc(lb)}/listeners/${enc(l)}/pools/${enc(p)}/members`,
  member: (lb, l, p, m) => `/loadbalancers/${enc(lb)}/listeners/${enc(l)}/pools/${enc(p)}/members/${enc(m)}`,
};
