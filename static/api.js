// Thin client of Ballast's public /v1 API. Every failure becomes an ApiError
// carrying the API's faultstring (or a network message), never a raw throw.

/** An error from the API (status >= 400) or from the network (status 0). */
export class ApiError extends Error {
  constructor(status, message, faultcode, errors) {
    super(message);
    this.status = status;
    this.faultcode = faultcode || (status >= 500 || status === 0 ? 'Server' : 'Client');
    /** Every invalid field the API named: [{field, message}] (Ballast's extension). */
    this.errors = Array.isArray(errors) ? errors : [];
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

/** Performs one request under /v1; resolves to the parsed JSON body (or null). */
export function request(method, path, body) {
  return requestAt(method, '/v1' + path, body);
}

/** Performs one request on any API path (the v2 look-ups). */
export async function requestAt(method, url, body) {
  const init = { method, headers: { Accept: 'application/json' } };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(url, init);
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
    throw new ApiError(response.status, message, data && data.faultcode, data && data.errors);
  }
  return data;
}

export const get = (path) => request('GET', path);
export const post = (path, body) => request('POST', path, body);
export const put = (path, body) => request('PUT', path, body);
export const del = (path) => request('DELETE', path);

/** GET on the v2 API (`/v2/lbaas/...`): what v1 bodies lack (project, monitor ids). */
export const getV2 = (path) => requestAt('GET', '/v2' + path);

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
  // Ballast's extension routes beside /v1 (never fields of the v1 bodies).
  lbHistory: (lb) => `/loadbalancers/${enc(lb)}/history`,
  listenerHistory: (lb, l) => `/loadbalancers/${enc(lb)}/listeners/${enc(l)}/history`,
  events: (lb) => `/loadbalancers/${enc(lb)}/events`,
  memberHealth: (lb, l, p) => `/loadbalancers/${enc(lb)}/listeners/${enc(l)}/pools/${enc(p)}/member_health`,
  // v2 look-ups, relative to /v2.
  v2Lb: (lb) => `/lbaas/loadbalancers/${enc(lb)}`,
  v2Listeners: (lb) => `/lbaas/listeners?loadbalancer_id=${enc(lb)}`,
  v2Pools: (lb) => `/lbaas/pools?loadbalancer_id=${enc(lb)}`,
};
