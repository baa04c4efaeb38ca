// The create/edit forms of every resource: field lists and the payloads they
// send. Edits send only the fields that changed, so read-only fields never go
// out and an unchanged form is a no-op.

export const PROTOCOLS = ['TCP', 'HTTP', 'HTTPS'];
export const ALGORITHMS = [
  ['ROUND_ROBIN', 'Round robin'],
  ['LEAST_CONNECTIONS', 'Least connections'],
  ['SOURCE_IP', 'Source IP'],
];
export const MONITOR_TYPES = ['PING', 'TCP', 'HTTP', 'HTTPS'];
const HTTP_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH', 'CONNECT', 'TRACE'];

/** Text as typed, trimmed; empty means "not given". */
const text = (v) => (typeof v === 'string' && v.trim() !== '' ? v.trim() : undefined);
/** An integer when the text is one; otherwise the text itself, so the API names the problem. */
const int = (v) => {
  const t = text(v);
  if (t === undefined) return undefined;
  return /^[-+]?\d+$/.test(t) ? Number(t) : t;
};
const drop = (obj) => Object.fromEntries(Object.entries(obj).filter(([, v]) => v !== undefined));

// --- checks before sending ----------------------------------------------------
// Each returns a message (worded as the API words it) or null. A form runs
// every check and shows every message next to its field at once; the API
// checks again and names every field it refuses the same way.

const MAX_TEXT = 255;
const isInt = (t) => /^[-+]?\d+$/.test(t);
const intIn = (lo, hi) => (v) => {
  const t = text(v);
  if (t === undefined) return null;
  return isInt(t) && Number(t) >= lo && Number(t) <= hi ? null : `must be an integer ${lo}..${hi}`;
};
const required = (check) => (v, all) => (text(v) === undefined ? 'is required' : check(v, all));
const maxText = (v) => (typeof v === 'string' && [...v].length > MAX_TEXT ? `must be at most ${MAX_TEXT} characters` : null);

/** The 4 numbers of a dotted IPv4 address, or null. */
function ipv4(t) {
  const parts = t.split('.');
  if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255)) return null;
  return parts.map(Number);
}
const isIpv6 = (t) => /^[0-9a-f:.]+$/i.test(t) && t.includes(':') && (() => {
  try { return new URL(`http://[${t}]/`).hostname.length > 2; } catch { return false; }
})();
/** An IP address (IPv4 or IPv6). */
export const ipAddress = (v) => {
  const t = text(v);
  if (t === undefined) return null;
  return ipv4(t) || isIpv6(t) ? null : 'must be an IP address';
};

/** Whether IPv4 `ip` is a host address of `cidr` (not its network or broadcast address). */
function inCidr(ip, cidr) {
  const [addr, bits] = String(cidr).split('/');
  const a = ipv4(ip);
  const n = ipv4(addr);
  if (!a || !n) return true; // IPv6 networks: the API decides.
  const num = (q) => q.reduce((x, o) => x * 256 + o, 0);
  const size = 2 ** (32 - Number(bits));
  const start = Math.floor(num(n) / size) * size;
  const x = num(a);
  return size <= 2 ? x >= start && x < start + size : x > start && x < start + size - 1;
}

const nameField = (placeholder) => ({ name: 'name', label: 'Name', optional: true, placeholder, check: maxText });
const nameFields = [
  nameField('e.g. web-frontend'),
  { name: 'description', label: 'Description', optional: true, type: 'textarea', check: maxText },
];
const enabledField = { name: 'enabled', label: 'Enabled', type: 'checkbox' };

/** Fields sent to the API whose cleared value is an empty string, not null. */
const STRING_FIELDS = new Set(['name', 'description', 'url_path', 'expected_codes']);

/**
 * The fields of `payload` that differ from `original`. An emptied field is
 * sent as '' (text) or null (numbers, references) so it is cleared.
 */
export function changes(payload, original, keys) {
  const out = {};
  for (const key of keys) {
    const now = payload[key];
    const before = original ? original[key] : undefined;
    const same = JSON.stringify(now ?? null) === JSON.stringify(before ?? null)
      || ((now === undefined || now === '') && (before === null || before === '' || before === undefined));
    if (same) continue;
    out[key] = now === undefined ? (STRING_FIELDS.has(key) ? '' : null) : now;
  }
  return out;
}

// --- load balancer ----------------------------------------------------------

/** The project an object belongs to (v1's tenant_id, v2's project_id); set at creation only. */
const projectField = {
  name: 'tenant_id', label: 'Project', optional: true, width: 'half', placeholder: 'e.g. team-web',
  help: 'The project (tenant) it belongs to; its listeners, pools and members inherit it.', check: maxText,
};

export function loadBalancerFields(networks, editing) {
  const fields = [...nameFields];
  if (!editing) {
    fields.push(projectField,
      {
        name: 'network_id', label: 'Network', type: 'select',
        options: networks.map((n) => [n.id, `${n.name} — ${n.cidr}`]),
        help: 'The host network the virtual IP is allocated from.',
        api: ['vip.network_id', 'vip'],
      },
      {
        name: 'ip_address', label: 'VIP address', optional: true, width: 'half',
        placeholder: 'next free address', help: 'Leave empty to take the next free address of the network.',
        api: ['vip.ip_address'],
        check: (v, all) => {
          const bad = ipAddress(v);
          if (bad) return bad;
          const network = networks.find((n) => n.id === all.network_id);
          return text(v) && network && !inCidr(text(v), network.cidr)
            ? `${text(v)} is not a host address of network ${network.name} (${network.cidr})` : null;
        },
      });
  }
  fields.push(enabledField);
  return fields;
}

export function loadBalancerCreate(v) {
  return drop({
    name: text(v.name),
    description: text(v.description),
    tenant_id: text(v.tenant_id),
    vip: drop({ network_id: text(v.network_id), ip_address: text(v.ip_address) }),
    enabled: v.enabled,
  });
}

export function loadBalancerUpdate(v, lb) {
  return changes({ name: text(v.name), description: text(v.description), enabled: v.enabled }, lb,
    ['name', 'description', 'enabled']);
}

// --- listener ---------------------------------------------------------------

export function listenerFields(certificates, editing) {
  const certOptions = [['', 'None — pass TLS through to members'],
    ...certificates.map((c) => [c.id, c.name || c.subject || c.id])];
  return [
    nameField('e.g. http-in'),
    { name: 'protocol', label: 'Protocol', type: 'select', options: PROTOCOLS, width: 'half', disabled: editing },
    { name: 'protocol_port', label: 'Port', type: 'number', width: 'half', placeholder: '80', check: required(intIn(1, 65535)) },
    {
      name: 'connection_limit', label: 'Connection limit', type: 'number', optional: true, width: 'half',
      placeholder: 'unlimited', help: 'Concurrent client connections; empty or -1 for unlimited.',
      check: (v) => {
        const t = text(v);
        return t === undefined || (isInt(t) && (Number(t) === -1 || Number(t) >= 1))
          ? null : 'must be -1 or null (unlimited) or an integer >= 1';
      },
    },
    {
      name: 'default_tls_container_id', label: 'TLS certificate', type: 'select', options: certOptions,
      showIf: (v) => v.protocol === 'HTTPS',
      help: 'With a certificate Ballast terminates TLS; without one it passes TLS through.',
    },
    nameFields[1],
    enabledField,
  ];
}

function listenerPayload(v) {
  return {
    name: text(v.name),
    description: text(v.description),
    protocol: text(v.protocol),
    protocol_port: int(v.protocol_port),
    connection_limit: int(v.connection_limit),
    default_tls_container_id: v.protocol === 'HTTPS' ? text(v.default_tls_container_id) : undefined,
    enabled: v.enabled,
  };
}

export const listenerCreate = (v) => drop(listenerPayload(v));
export const listenerUpdate = (v, listener) => changes(listenerPayload(v), listener,
  ['name', 'description', 'protocol_port', 'connection_limit', 'default_tls_container_id', 'enabled']);

// --- pool -------------------------------------------------------------------

export function poolFields(editing) {
  return [
    nameField('e.g. web-servers'),
    { name: 'protocol', label: 'Protocol', type: 'select', options: PROTOCOLS, width: 'half', disabled: editing },
    { name: 'lb_algorithm', label: 'Algorithm', type: 'select', options: ALGORITHMS, width: 'half' },
    {
      name: 'persistence', label: 'Session persistence', type: 'select', width: 'half',
      options: [['', 'None'], ['HTTP_COOKIE', 'HTTP cookie'], ['SOURCE_IP', 'Source IP']],
      api: ['session_persistence.type', 'session_persistence'],
    },
    {
      name: 'cookie_name', label: 'Cookie name', optional: true, width: 'half', placeholder: 'default name',
      showIf: (v) => v.persistence === 'HTTP_COOKIE', api: ['session_persistence.cookie_name'],
      check: (v) => {
        const t = text(v);
        return t === undefined || /^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,255}$/.test(t)
          ? null : 'must be a valid cookie name (an RFC 6265 token)';
      },
    },
    nameFields[1],
    enabledField,
  ];
}

export function poolValues(pool) {
  return {
    ...pool,
    persistence: pool.session_persistence ? pool.session_persistence.type : '',
    cookie_name: pool.session_persistence ? pool.session_persistence.cookie_name : '',
  };
}

function poolPayload(v) {
  const type = text(v.persistence);
  return {
    name: text(v.name),
    description: text(v.description),
    protocol: text(v.protocol),
    lb_algorithm: text(v.lb_algorithm),
    session_persistence: type
      ? drop({ type, cookie_name: type === 'HTTP_COOKIE' ? text(v.cookie_name) : undefined })
      : null,
    enabled: v.enabled,
  };
}

export function poolCreate(v) {
  const payload = drop(poolPayload(v));
  if (payload.session_persistence === null) delete payload.session_persistence;
  return payload;
}
export function poolUpdate(v, pool) {
  const payload = poolPayload(v);
  const original = { ...pool };
  if (original.session_persistence) original.session_persistence = drop(original.session_persistence);
  return changes(payload, original, ['name', 'description', 'lb_algorithm', 'session_persistence', 'enabled']);
}

// --- health monitor -----------------------------------------------------------

const isHttp = (v) => v.type === 'HTTP' || v.type === 'HTTPS';

export function monitorFields() {
  return [
    { name: 'type', label: 'Type', type: 'select', options: MONITOR_TYPES, width: 'half' },
    { name: 'delay', label: 'Interval (s)', type: 'number', width: 'half', placeholder: '5', help: 'Seconds between probes.', check: required(intIn(1, 86400)) },
    {
      name: 'timeout', label: 'Timeout (s)', type: 'number', width: 'half', placeholder: '3', help: 'At most the interval.',
      check: required((v, all) => intIn(1, 86400)(v) || (intIn(1, 86400)(all.delay) === null && text(all.delay) && Number(text(v)) > Number(text(all.delay))
        ? 'must not be greater than delay' : null)),
    },
    { name: 'fall_threshold', label: 'Fall threshold', type: 'number', width: 'half', placeholder: '3', help: 'Failures before OFFLINE (1–10).', check: required(intIn(1, 10)) },
    { name: 'rise_threshold', label: 'Rise threshold', type: 'number', width: 'half', placeholder: '2', help: 'Successes before ONLINE (1–10).', check: required(intIn(1, 10)) },
    { name: 'http_method', label: 'HTTP method', type: 'select', options: HTTP_METHODS, width: 'half', showIf: isHttp },
    {
      name: 'url_path', label: 'URL path', width: 'half', placeholder: '/health', showIf: isHttp,
      check: (v) => {
        const t = text(v);
        return t === undefined || (t.startsWith('/') && !/\s/.test(t) && t.length <= 2048)
          ? null : 'must be a path starting with / (no spaces, at most 2048 characters)';
      },
    },
    {
      name: 'expected_codes', label: 'Expected codes', width: 'half', placeholder: '200', help: 'e.g. 200, 200,202 or 200-204', showIf: isHttp,
      check: (v) => {
        const t = text(v);
        return t === undefined || /^\d{3}(-\d{3})?(,\d{3}(-\d{3})?)*$/.test(t) ? null : 'must be codes like 200, 200,202 or 200-204';
      },
    },
    enabledField,
  ];
}

export const monitorDefaults = {
  type: 'HTTP', delay: 5, timeout: 3, fall_threshold: 3, rise_threshold: 2,
  http_method: 'GET', url_path: '/', expected_codes: '200', enabled: true,
};

function monitorPayload(v) {
  const http = isHttp(v);
  return {
    type: text(v.type),
    delay: int(v.delay),
    timeout: int(v.timeout),
    fall_threshold: int(v.fall_threshold),
    rise_threshold: int(v.rise_threshold),
    http_method: http ? text(v.http_method) : undefined,
    url_path: http ? text(v.url_path) : undefined,
    expected_codes: http ? text(v.expected_codes) : undefined,
    enabled: v.enabled,
  };
}

export const monitorCreate = (v) => drop(monitorPayload(v));
export function monitorUpdate(v, monitor) {
  const payload = monitorPayload(v);
  const keys = ['type', 'delay', 'timeout', 'fall_threshold', 'rise_threshold', 'enabled'];
  if (isHttp(v)) keys.push('http_method', 'url_path', 'expected_codes');
  return changes(payload, monitor, keys);
}

// --- member -------------------------------------------------------------------

export function memberFields(editing) {
  return [
    {
      name: 'ip_address', label: 'IP address', width: 'half', placeholder: 'e.g. 10.0.0.21', disabled: editing,
      help: editing ? 'The address cannot be changed; add a new member instead.' : null,
      check: required(ipAddress),
    },
    { name: 'protocol_port', label: 'Port', type: 'number', width: 'half', placeholder: '8080', check: required(intIn(1, 65535)) },
    {
      name: 'weight', label: 'Weight', type: 'number', width: 'half', placeholder: '1',
      help: '0–256; 0 takes no new connections.', check: intIn(0, 256),
    },
    enabledField,
  ];
}

function memberPayload(v) {
  return {
    ip_address: text(v.ip_address),
    protocol_port: int(v.protocol_port),
    weight: int(v.weight),
    enabled: v.enabled,
  };
}

export const memberCreate = (v) => drop(memberPayload(v));
export const memberUpdate = (v, member) => changes(memberPayload(v), member, ['protocol_port', 'weight', 'enabled']);
