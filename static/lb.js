// The load balancer page: its summary, traffic graphs and events feed, and
// the tree listeners -> pool -> health monitor and members, with live stats,
// each member's last probe and the cause of its status, and every create,
// edit and delete form.
import * as api from './api.js';
import { pruneCharts, trafficChart } from './charts.js';
import { h, badge, confirmDelete, formatBytes, formatCount, isPending, openForm, toast } from './dom.js';
import * as forms from './forms.js';
import { PollingView } from './view.js';

const seeds = new Map();
/** Hands a just-created load balancer to its page so it shows at once (PENDING_CREATE). */
export function seedLoadBalancer(lb) { seeds.set(lb.id, lb); }

const yesNo = (v) => (v ? 'Yes' : 'No');
const label = (obj, fallback) => (obj && obj.name) || fallback;
const plural = (n, word) => `${n} ${word}${n === 1 ? '' : 's'}`;
const ALGORITHM_LABEL = Object.fromEntries(forms.ALGORITHMS);

export class LoadBalancerView extends PollingView {
  constructor(shell, id, listenerId) {
    super(shell);
    this.id = id;
    this.anchor = listenerId;
    this.target = listenerId;
    this.lb = seeds.get(id) || null;
    seeds.delete(id);
    this.listeners = [];
    this.networks = null;
    this.certificates = null;
    shell.setTitle('Load balancer');
  }

  start() {
    if (this.lb) { this.loaded = true; this.draw(); this.refreshSoon(100); } else super.start();
  }

  // --- data -----------------------------------------------------------------

  async load() {
    const p = api.paths;
    const [lb, networks] = await Promise.all([
      api.get(p.lb(this.id)),
      this.networks ? Promise.resolve(this.networks) : api.get(p.networks()).catch(() => null),
    ]);
    this.networks = networks;
    if (lb.provisioning_status === 'DELETED') {
      this.lb = lb;
      this.listeners = [];
      return;
    }
    // The v2 view of the same rows says what v1 bodies do not: each object's
    // project and whether a pool has a monitor (so no request is made for a
    // monitor that does not exist). Extras fail soft: the page works without.
    const soft = (promise) => promise.catch(() => null);
    const [listeners, v2lb, v2listeners, v2pools, history, events] = await Promise.all([
      api.get(p.listeners(this.id)),
      soft(api.getV2(p.v2Lb(this.id))),
      soft(api.getV2(p.v2Listeners(this.id))),
      soft(api.getV2(p.v2Pools(this.id))),
      soft(api.get(p.lbHistory(this.id))),
      soft(api.get(p.events(this.id))),
    ]);
    this.project = v2lb && v2lb.loadbalancer ? v2lb.loadbalancer.project_id : lb.tenant_id;
    this.history = history;
    this.events = events ? events.events : null;
    const projects = new Map();
    for (const l of (v2listeners && v2listeners.listeners) || []) projects.set(l.id, l.project_id);
    const v2pool = new Map(((v2pools && v2pools.pools) || []).map((pl) => [pl.id, pl]));
    for (const pl of v2pool.values()) projects.set(pl.id, pl.project_id);
    this.projects = projects;
    const trees = await Promise.all(listeners.map(async (listener) => {
      try {
        const [pools, stats, traffic] = await Promise.all([
          api.get(p.pools(this.id, listener.id)),
          api.get(p.stats(this.id, listener.id)).catch(() => null),
          soft(api.get(p.listenerHistory(this.id, listener.id))),
        ]);
        const pool = pools[0] || null;
        let members = [];
        let monitor = null;
        let health = new Map();
        if (pool) {
          const known = v2pool.get(pool.id);
          // Without the v2 view, fall back to asking (a 404 means none).
          const hasMonitor = known ? Boolean(known.healthmonitor_id) : true;
          const [m, hm, mh] = await Promise.all([
            api.get(p.members(this.id, listener.id, pool.id)),
            hasMonitor ? api.get(p.monitor(this.id, listener.id, pool.id)).catch((err) => {
              if (err instanceof api.ApiError && err.isNotFound) return null;
              throw err;
            }) : null,
            hasMonitor ? soft(api.get(p.memberHealth(this.id, listener.id, pool.id))) : null,
          ]);
          members = m;
          monitor = hm;
          health = new Map(((mh && mh.members) || []).map((e) => [e.member_id, e]));
        }
        return { listener, stats, traffic, pool, members, monitor, health };
      } catch (err) {
        // Deleted between the list and this read: it is simply gone.
        if (err instanceof api.ApiError && err.isNotFound) return null;
        throw err;
      }
    }));
    this.lb = lb;
    this.listeners = trees.filter(Boolean)
      .sort((a, b) => a.listener.protocol_port - b.listener.protocol_port || a.listener.id.localeCompare(b.listener.id));
  }

  handleError(err) {
    if (err instanceof api.ApiError && err.isNotFound && (!this.lb || err.message.includes(this.id) || !this.loaded)) {
      this.done = true;
      this.shell.clearConnectionProblem();
      this.shell.setTitle('Not found');
      this.shell.render(h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' }, h('a', { href: '#/' }, 'Load balancers')),
        h('section', { class: 'panel empty' },
          h('h1', {}, 'Load balancer not found'),
          h('p', {}, 'There is no load balancer ', h('code', {}, this.id), '. It may have been deleted and purged.'),
          h('a', { class: 'btn btn-primary', href: '#/' }, 'Back to load balancers')));
      return true;
    }
    return false;
  }

  pending() {
    return isPending(this.lb && this.lb.provisioning_status)
      || this.listeners.some((t) => isPending(t.listener.provisioning_status));
  }

  get locked() {
    const status = this.lb && this.lb.provisioning_status;
    return isPending(status) || status === 'DELETED';
  }

  /** After an accepted write: show the load balancer as busy and poll at once. */
  accepted(message) {
    if (this.lb && !isPending(this.lb.provisioning_status)) this.lb.provisioning_status = 'PENDING_UPDATE';
    toast(message);
    this.draw();
    this.refreshSoon(120);
  }

  /** The route named a listener (or none): highlight it and scroll to it once. */
  focusListener(listenerId) {
    this.target = listenerId || null;
    this.anchor = this.target;
    for (const card of document.querySelectorAll('.card-listener')) {
      card.classList.toggle('is-target', card.dataset.listenerId === this.target);
    }
    this.scrollToAnchor();
  }

  scrollToAnchor() {
    if (!this.anchor) return;
    const el = document.getElementById(`listener-${this.anchor}`);
    if (!el) return;
    el.scrollIntoView({ block: 'start' });
    el.focus({ preventScroll: true });
    this.anchor = null;
  }

  // --- rendering --------------------------------------------------------------

  button(text, key, onclick, { tone = '', small = true, lockable = true, labelText } = {}) {
    const disabled = lockable && this.locked;
    return h('button', {
      type: 'button',
      class: `btn${small ? ' btn-small' : ''}${tone ? ` btn-${tone}` : ''}`,
      dataset: { key },
      disabled,
      title: disabled ? 'Waiting for the load balancer to settle' : null,
      'aria-label': labelText || null,
      onclick,
    }, text);
  }

  draw() {
    const lb = this.lb;
    if (!lb) return;
    const name = label(lb, 'Unnamed load balancer');
    this.shell.setTitle(name);
    const network = (this.networks || []).find((n) => n.id === (lb.vip && lb.vip.network_id));
    const deleted = lb.provisioning_status === 'DELETED';

    const summary = h('section', { class: 'card card-summary', 'aria-labelledby': 'lb-title' },
      h('div', { class: 'card-head' },
        h('div', { class: 'title-block' },
          h('p', { class: 'eyebrow' }, 'Load balancer'),
          h('h1', { id: 'lb-title' }, name),
          lb.description ? h('p', { class: 'muted' }, lb.description) : null),
        statuses(lb),
        deleted ? null : h('div', { class: 'actions' },
          this.button('Edit', 'edit-lb', () => this.editLoadBalancer(), { labelText: 'Edit load balancer' }),
          this.button('Delete', 'delete-lb', () => this.deleteLoadBalancer(), { tone: 'danger-ghost', labelText: 'Delete load balancer' }))),
      h('dl', { class: 'facts facts-summary' },
        fact('VIP address', h('span', { class: 'mono strong' }, (lb.vip && lb.vip.ip_address) || '—')),
        fact('Network', network ? `${network.name} (${network.cidr})` : h('code', { class: 'id' }, (lb.vip && lb.vip.network_id) || '—')),
        fact('Enabled', yesNo(lb.enabled)),
        fact('Listeners', String(this.listeners.length)),
        fact('Project', projectText(this.project)),
        fact('ID', h('code', { class: 'id' }, lb.id), 'fact-wide'),
        fact('VIP port', h('code', { class: 'id' }, (lb.vip && lb.vip.port_id) || '—'), 'fact-wide')));

    const notices = [];
    if (isPending(lb.provisioning_status)) {
      notices.push(h('div', { class: 'notice notice-pending', role: 'status' },
        h('span', { class: 'spinner spinner-small', 'aria-hidden': 'true' }),
        'Applying changes… this page updates by itself when they are done.'));
    } else if (lb.provisioning_status === 'ERROR') {
      notices.push(h('div', { class: 'notice notice-bad', role: 'status' },
        'The last change failed to apply (status ERROR). Edit or delete objects to retry; the server log has the cause.'));
    } else if (deleted) {
      notices.push(h('div', { class: 'notice', role: 'status' },
        'This load balancer has been deleted. It stays visible here until housekeeping purges it.'));
    }

    const keep = new Set(['lb']);
    for (const t of this.listeners) keep.add(`listener-${t.listener.id}`);
    pruneCharts(keep);
    const trafficSection = deleted ? null : h('section', { class: 'section', 'aria-labelledby': 'traffic-title' },
      h('div', { class: 'section-head' }, h('h2', { id: 'traffic-title' }, 'Traffic')),
      h('div', { class: 'card' }, trafficChart('lb', 'All listeners', this.history)));

    const listenersSection = deleted ? null : h('section', { class: 'section', 'aria-labelledby': 'listeners-title' },
      h('div', { class: 'section-head' },
        h('h2', { id: 'listeners-title' }, 'Listeners'),
        this.button('+ Add listener', 'add-listener', () => this.createListener(), { small: false, tone: 'primary' })),
      this.listeners.length
        ? this.listeners.map((tree) => this.listenerCard(tree))
        : h('div', { class: 'panel empty empty-small' },
          h('p', {}, 'No listeners yet. A listener accepts client connections on a port of the VIP.')));

    this.shell.render(
      h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' },
        h('a', { href: '#/' }, 'Load balancers'), h('span', { 'aria-hidden': 'true' }, '›'),
        h('span', { 'aria-current': 'page' }, name)),
      summary, notices, trafficSection, listenersSection, this.eventsSection());
    this.scrollToAnchor();
  }

  /** The newest events of this load balancer: status changes with their cause, job results. */
  eventsSection() {
    if (!this.events) return null;
    const when = (at) => new Date(at * 1000);
    return h('section', { class: 'section', 'aria-labelledby': 'events-title' },
      h('div', { class: 'section-head' },
        h('h2', { id: 'events-title' }, 'Events'),
        h('span', { class: 'muted small' }, 'Newest first; the last 200 are kept.')),
      this.events.length
        ? h('ol', { class: 'card events' }, this.events.slice(0, 50).map((e) => h('li', { class: `event event-${e.kind}`, dataset: { kind: e.kind } },
          h('time', { class: 'event-time mono small', datetime: when(e.at).toISOString(), title: when(e.at).toLocaleString() }, clock(e.at)),
          h('span', { class: 'event-subject' }, e.subject),
          h('span', { class: `event-message${/^(OFFLINE|ERROR)|failed/.test(e.message) ? ' event-bad' : ''}` }, e.message))))
        : h('div', { class: 'panel empty empty-small' }, h('p', {}, 'Nothing has happened yet.')));
  }

  listenerCard(tree) {
    const { listener, stats, pool } = tree;
    const title = `${listener.protocol} :${listener.protocol_port}`;
    const cert = listener.default_tls_container_id;
    return h('article', {
      class: `card card-listener${listener.id === this.target ? ' is-target' : ''}`, id: `listener-${listener.id}`, tabindex: '-1',
      'aria-label': `Listener ${title}${listener.name ? ` ${listener.name}` : ''}`, dataset: { listenerId: listener.id },
    },
      h('div', { class: 'card-head' },
        h('div', { class: 'title-block' },
          h('h3', {},
            h('span', { class: `proto proto-${listener.protocol.toLowerCase()}` }, listener.protocol),
            h('span', { class: 'mono' }, `:${listener.protocol_port}`),
            listener.name ? h('span', { class: 'title-name' }, listener.name) : null,
            h('a', { class: 'anchor', href: `#/lb/${encodeURIComponent(this.id)}/listener/${encodeURIComponent(listener.id)}`, 'aria-label': `Link to listener ${title}`, title: 'Link to this listener' }, '#')),
          listener.description ? h('p', { class: 'muted small' }, listener.description) : null),
        statuses(listener),
        h('div', { class: 'actions' },
          this.button('Edit', `edit-listener-${listener.id}`, () => this.editListener(tree), { labelText: `Edit listener ${title}` }),
          this.button('Delete', `delete-listener-${listener.id}`, () => this.deleteListener(tree), { tone: 'danger-ghost', labelText: `Delete listener ${title}` }))),
      h('dl', { class: 'facts facts-inline' },
        fact('Connection limit', listener.connection_limit === null || listener.connection_limit === undefined || listener.connection_limit < 0 ? 'Unlimited' : formatCount(listener.connection_limit)),
        listener.protocol === 'HTTPS' ? fact('TLS', cert ? h('span', {}, 'Terminated · ', h('code', { class: 'id', title: cert }, cert.slice(0, 8))) : 'Passthrough') : null,
        fact('Enabled', yesNo(listener.enabled)),
        fact('Project', projectText(this.projects && this.projects.get(listener.id)))),
      h('div', { class: 'stats', 'aria-label': `Traffic of listener ${title}`, role: 'group' },
        stat('Bytes in', stats ? formatBytes(stats.bytes_in) : '—', 'bytes_in'),
        stat('Bytes out', stats ? formatBytes(stats.bytes_out) : '—', 'bytes_out'),
        stat('Active connections', stats ? formatCount(stats.active_connections) : '—', 'active_connections'),
        stat('Total connections', stats ? formatCount(stats.total_connections) : '—', 'total_connections')),
      trafficChart(`listener-${listener.id}`, `Traffic of ${title}`, tree.traffic),
      pool ? this.poolBlock(tree) : h('div', { class: 'subpanel subpanel-empty' },
        h('p', {}, h('strong', {}, 'No pool. '), withoutPool(listener)),
        this.button('+ Add pool', `add-pool-${listener.id}`, () => this.createPool(tree), { labelText: `Add pool to listener ${title}` })));
  }

  poolBlock(tree) {
    const { listener, pool, members, monitor } = tree;
    const persistence = pool.session_persistence
      ? (pool.session_persistence.type === 'HTTP_COOKIE'
        ? `HTTP cookie${pool.session_persistence.cookie_name ? ` “${pool.session_persistence.cookie_name}”` : ''}`
        : 'Source IP')
      : 'None';
    const poolName = label(pool, 'Pool');
    return h('div', { class: 'subpanel', dataset: { poolId: pool.id } },
      h('div', { class: 'sub-head' },
        h('div', { class: 'title-block' },
          h('h4', {}, h('span', { class: 'eyebrow-inline' }, 'Pool'), pool.name || h('span', { class: 'muted' }, 'unnamed'))),
        statuses(pool),
        h('div', { class: 'actions' },
          this.button('Edit', `edit-pool-${pool.id}`, () => this.editPool(tree), { labelText: `Edit pool ${poolName}` }),
          this.button('Delete', `delete-pool-${pool.id}`, () => this.deletePool(tree), { tone: 'danger-ghost', labelText: `Delete pool ${poolName}` }))),
      h('dl', { class: 'facts facts-inline' },
        fact('Protocol', pool.protocol),
        fact('Algorithm', ALGORITHM_LABEL[pool.lb_algorithm] || pool.lb_algorithm),
        fact('Persistence', persistence),
        fact('Enabled', yesNo(pool.enabled)),
        fact('Project', projectText(this.projects && this.projects.get(pool.id)))),
      this.monitorRow(tree),
      h('div', { class: 'members' },
        h('div', { class: 'members-head' },
          h('h5', {}, 'Members ', h('span', { class: 'count' }, String(members.length))),
          this.button('+ Add member', `add-member-${pool.id}`, () => this.createMember(tree), { labelText: `Add member to pool ${poolName}` })),
        members.length ? h('table', { class: 'table table-stack table-members' },
          h('caption', { class: 'sr-only' }, `Members of pool ${poolName}`),
          h('thead', {}, h('tr', {},
            h('th', { scope: 'col' }, 'Address'), h('th', { scope: 'col', class: 'num' }, 'Port'),
            h('th', { scope: 'col', class: 'num' }, 'Weight'), h('th', { scope: 'col' }, 'Enabled'),
            h('th', { scope: 'col' }, 'Status'), h('th', { scope: 'col' }, 'Last probe'),
            h('th', { scope: 'col', class: 'col-actions' }, h('span', { class: 'sr-only' }, 'Actions')))),
          h('tbody', {}, members
            .slice()
            .sort((a, b) => a.ip_address.localeCompare(b.ip_address, 'en', { numeric: true }) || a.protocol_port - b.protocol_port)
            .map((member) => {
              const addr = `${member.ip_address}:${member.protocol_port}`;
              return h('tr', { dataset: { memberId: member.id, member: addr }, class: member.enabled ? null : 'row-disabled' },
                h('td', { 'data-label': 'Address', class: 'mono' }, member.ip_address),
                h('td', { 'data-label': 'Port', class: 'num mono' }, String(member.protocol_port)),
                h('td', { 'data-label': 'Weight', class: 'num' }, h('span', { class: 'weight' }, String(member.weight))),
                h('td', { 'data-label': 'Enabled' }, yesNo(member.enabled)),
                h('td', { 'data-label': 'Status' }, member.provisioning_status && isPending(member.provisioning_status)
                  ? badge(member.provisioning_status, 'provisioning') : badge(member.operating_status, 'operating'),
                  memberCause(member, tree.health.get(member.id))),
                h('td', { 'data-label': 'Last probe', class: 'member-probe' }, lastProbe(tree.health.get(member.id))),
                h('td', { class: 'col-actions' }, h('div', { class: 'actions' },
                  this.button('Edit', `edit-member-${member.id}`, () => this.editMember(tree, member), { labelText: `Edit member ${addr}` }),
                  this.button('Delete', `delete-member-${member.id}`, () => this.deleteMember(tree, member), { tone: 'danger-ghost', labelText: `Delete member ${addr}` }))));
            })))
          : h('p', { class: 'muted small members-empty' }, 'No members yet. Add the servers this pool sends traffic to.')));
  }

  monitorRow(tree) {
    const { pool, monitor } = tree;
    const poolName = label(pool, 'Pool');
    if (!monitor) {
      return h('div', { class: 'monitor monitor-none' },
        h('span', { class: 'monitor-icon', 'aria-hidden': 'true' }, '♡'),
        h('p', {}, h('strong', {}, 'No health monitor. '), 'Enabled members count as ONLINE.'),
        this.button('+ Add health monitor', `add-monitor-${pool.id}`, () => this.createMonitor(tree), { labelText: `Add health monitor to pool ${poolName}` }));
    }
    const http = monitor.type === 'HTTP' || monitor.type === 'HTTPS';
    return h('div', { class: `monitor${monitor.enabled ? '' : ' monitor-disabled'}` },
      h('span', { class: 'monitor-icon', 'aria-hidden': 'true' }, '♥'),
      h('p', {},
        h('strong', {}, `${monitor.type} health monitor`),
        http ? h('span', { class: 'mono small' }, ` ${monitor.http_method || 'GET'} ${monitor.url_path || '/'} → ${monitor.expected_codes || '200'}`) : null,
        h('span', { class: 'muted small monitor-timing' },
          `every ${monitor.delay} s, timeout ${monitor.timeout} s · rise ${monitor.rise_threshold} / fall ${monitor.fall_threshold}${monitor.enabled ? '' : ' · disabled'}`)),
      h('div', { class: 'actions' },
        this.button('Edit', `edit-monitor-${pool.id}`, () => this.editMonitor(tree), { labelText: `Edit health monitor of pool ${poolName}` }),
        this.button('Delete', `delete-monitor-${pool.id}`, () => this.deleteMonitor(tree), { tone: 'danger-ghost', labelText: `Delete health monitor of pool ${poolName}` })));
  }

  // --- actions -----------------------------------------------------------------

  editLoadBalancer() {
    openForm({
      title: 'Edit load balancer', id: 'form-lb-edit',
      intro: 'The VIP cannot be changed after creation.',
      fields: forms.loadBalancerFields([], true),
      values: this.lb,
      onSubmit: async (values) => {
        const body = forms.loadBalancerUpdate(values, this.lb);
        if (!Object.keys(body).length) return;
        this.lb = await api.put(api.paths.lb(this.id), body);
        this.accepted('Load balancer updated');
      },
    });
  }

  deleteLoadBalancer() {
    const pools = this.listeners.filter((t) => t.pool);
    const members = pools.reduce((n, t) => n + t.members.length, 0);
    const monitors = pools.filter((t) => t.monitor).length;
    const consequences = [`its VIP ${(this.lb.vip && this.lb.vip.ip_address) || ''}`.trim()];
    if (this.listeners.length) consequences.push(`${plural(this.listeners.length, 'listener')}: ${this.listeners.map((t) => `${t.listener.protocol} :${t.listener.protocol_port}`).join(', ')}`);
    if (pools.length) consequences.push(plural(pools.length, 'pool'));
    if (members) consequences.push(plural(members, 'member'));
    if (monitors) consequences.push(plural(monitors, 'health monitor'));
    confirmDelete({
      title: 'Delete load balancer?',
      message: `Delete load balancer “${label(this.lb, this.id)}”? This also deletes:`,
      consequences,
      confirmLabel: 'Delete load balancer',
      action: async () => {
        await api.del(api.paths.lb(this.id));
        toast('Load balancer deleted');
        this.shell.navigate('#/');
      },
    });
  }

  async loadCertificates() {
    if (this.certificates === null) {
      this.certificates = await api.get(api.paths.certificates()).catch(() => []);
    }
    return this.certificates;
  }

  async createListener() {
    const certificates = await this.loadCertificates();
    openForm({
      title: 'Add listener', id: 'form-listener', submitLabel: 'Create listener',
      fields: forms.listenerFields(certificates, false),
      values: { protocol: 'HTTP', enabled: true, default_tls_container_id: '' },
      onSubmit: async (values) => {
        const listener = await api.post(api.paths.listeners(this.id), forms.listenerCreate(values));
        this.listeners.push({ listener, stats: null, traffic: null, pool: null, members: [], monitor: null, health: new Map() });
        this.accepted(`Listener ${listener.protocol} :${listener.protocol_port} created`);
      },
    });
  }

  async editListener(tree) {
    const certificates = await this.loadCertificates();
    const { listener } = tree;
    openForm({
      title: `Edit listener ${listener.protocol} :${listener.protocol_port}`, id: 'form-listener-edit',
      fields: forms.listenerFields(certificates, true),
      values: { ...listener, default_tls_container_id: listener.default_tls_container_id || '' },
      onSubmit: async (values) => {
        const body = forms.listenerUpdate(values, listener);
        if (!Object.keys(body).length) return;
        tree.listener = await api.put(api.paths.listener(this.id, listener.id), body);
        this.accepted('Listener updated');
      },
    });
  }

  deleteListener(tree) {
    const { listener, pool, members, monitor } = tree;
    const consequences = [];
    if (pool) consequences.push(`its pool “${label(pool, pool.id.slice(0, 8))}”`);
    if (members.length) consequences.push(`${plural(members.length, 'member')} of that pool`);
    if (monitor) consequences.push('the pool’s health monitor');
    const title = `${listener.protocol} :${listener.protocol_port}`;
    confirmDelete({
      title: 'Delete listener?',
      message: `Delete listener ${title}${listener.name ? ` “${listener.name}”` : ''}? Port ${listener.protocol_port} stops accepting connections.${consequences.length ? ' This also deletes:' : ''}`,
      consequences,
      confirmLabel: 'Delete listener',
      action: async () => {
        await api.del(api.paths.listener(this.id, listener.id));
        this.listeners = this.listeners.filter((t) => t !== tree);
        this.accepted(`Listener ${title} deleted`);
      },
    });
  }

  createPool(tree) {
    const { listener } = tree;
    openForm({
      title: `Add pool to ${listener.protocol} :${listener.protocol_port}`, id: 'form-pool', submitLabel: 'Create pool',
      intro: 'A listener has at most one pool. Its protocol must match the listener’s (an HTTPS listener that terminates TLS may use an HTTP pool).',
      fields: forms.poolFields(false),
      values: {
        protocol: listener.protocol === 'HTTPS' && listener.default_tls_container_id ? 'HTTP' : listener.protocol,
        lb_algorithm: 'ROUND_ROBIN', persistence: '', enabled: true,
      },
      onSubmit: async (values) => {
        tree.pool = await api.post(api.paths.pools(this.id, listener.id), forms.poolCreate(values));
        tree.members = [];
        tree.monitor = null;
        this.accepted('Pool created');
      },
    });
  }

  editPool(tree) {
    const { listener, pool } = tree;
    openForm({
      title: `Edit pool ${label(pool, '')}`.trim(), id: 'form-pool-edit',
      fields: forms.poolFields(true),
      values: forms.poolValues(pool),
      onSubmit: async (values) => {
        const body = forms.poolUpdate(values, pool);
        if (!Object.keys(body).length) return;
        tree.pool = await api.put(api.paths.pool(this.id, listener.id, pool.id), body);
        this.accepted('Pool updated');
      },
    });
  }

  deletePool(tree) {
    const { listener, pool, members, monitor } = tree;
    const consequences = [];
    if (members.length) consequences.push(`${plural(members.length, 'member')}: ${members.map((m) => `${m.ip_address}:${m.protocol_port}`).join(', ')}`);
    if (monitor) consequences.push(`its ${monitor.type} health monitor`);
    confirmDelete({
      title: 'Delete pool?',
      message: `Delete pool “${label(pool, pool.id.slice(0, 8))}” of listener ${listener.protocol} :${listener.protocol_port}? The listener refuses connections until it has a pool again.${consequences.length ? ' This also deletes:' : ''}`,
      consequences,
      confirmLabel: 'Delete pool',
      action: async () => {
        await api.del(api.paths.pool(this.id, listener.id, pool.id));
        tree.pool = null;
        tree.members = [];
        tree.monitor = null;
        this.accepted('Pool deleted');
      },
    });
  }

  createMonitor(tree) {
    const { listener, pool } = tree;
    openForm({
      title: 'Add health monitor', id: 'form-monitor', submitLabel: 'Create monitor',
      intro: `Probes every member of pool “${label(pool, pool.id.slice(0, 8))}”. Members that fail take no new connections.`,
      fields: forms.monitorFields(),
      values: { ...forms.monitorDefaults, type: pool.protocol === 'TCP' ? 'TCP' : pool.protocol },
      onSubmit: async (values) => {
        tree.monitor = await api.post(api.paths.monitor(this.id, listener.id, pool.id), forms.monitorCreate(values));
        this.accepted('Health monitor created');
      },
    });
  }

  editMonitor(tree) {
    const { listener, pool, monitor } = tree;
    openForm({
      title: 'Edit health monitor', id: 'form-monitor-edit',
      fields: forms.monitorFields(),
      values: { ...forms.monitorDefaults, ...monitor },
      onSubmit: async (values) => {
        const body = forms.monitorUpdate(values, monitor);
        if (!Object.keys(body).length) return;
        tree.monitor = await api.put(api.paths.monitor(this.id, listener.id, pool.id), body);
        this.accepted('Health monitor updated');
      },
    });
  }

  deleteMonitor(tree) {
    const { listener, pool, monitor } = tree;
    confirmDelete({
      title: 'Delete health monitor?',
      message: `Delete the ${monitor.type} health monitor of pool “${label(pool, pool.id.slice(0, 8))}”? Members are no longer probed and count as ONLINE while enabled.`,
      confirmLabel: 'Delete monitor',
      action: async () => {
        await api.del(api.paths.monitor(this.id, listener.id, pool.id));
        tree.monitor = null;
        this.accepted('Health monitor deleted');
      },
    });
  }

  createMember(tree) {
    const { listener, pool } = tree;
    openForm({
      title: `Add member to ${label(pool, 'pool')}`, id: 'form-member', submitLabel: 'Add member',
      fields: forms.memberFields(false),
      values: { weight: 1, enabled: true },
      onSubmit: async (values) => {
        const member = await api.post(api.paths.members(this.id, listener.id, pool.id), forms.memberCreate(values));
        tree.members = [...tree.members, member];
        this.accepted(`Member ${member.ip_address}:${member.protocol_port} added`);
      },
    });
  }

  editMember(tree, member) {
    const { listener, pool } = tree;
    openForm({
      title: `Edit member ${member.ip_address}:${member.protocol_port}`, id: 'form-member-edit',
      fields: forms.memberFields(true),
      values: member,
      onSubmit: async (values) => {
        const body = forms.memberUpdate(values, member);
        if (!Object.keys(body).length) return;
        const updated = await api.put(api.paths.member(this.id, listener.id, pool.id, member.id), body);
        tree.members = tree.members.map((m) => (m.id === member.id ? updated : m));
        this.accepted(`Member ${updated.ip_address}:${updated.protocol_port} updated`);
      },
    });
  }

  deleteMember(tree, member) {
    const { listener, pool } = tree;
    const addr = `${member.ip_address}:${member.protocol_port}`;
    confirmDelete({
      title: 'Delete member?',
      message: `Remove member ${addr} from pool “${label(pool, pool.id.slice(0, 8))}”? It takes no new connections once the change applies.`,
      confirmLabel: 'Delete member',
      action: async () => {
        await api.del(api.paths.member(this.id, listener.id, pool.id, member.id));
        tree.members = tree.members.filter((m) => m.id !== member.id);
        this.accepted(`Member ${addr} deleted`);
      },
    });
  }
}

/** What a listener without a pool really does with a client. */
function withoutPool(listener) {
  const http = listener.protocol === 'HTTP' || (listener.protocol === 'HTTPS' && listener.default_tls_container_id);
  return http
    ? `It accepts connections and answers every request with 503 Service Unavailable until it has a pool with members.`
    : 'It accepts connections and closes them at once until it has a pool with members.';
}

/** A project id, or "none" for an object made without one. */
function projectText(project) {
  return project ? h('code', { class: 'id', title: project }, project.length > 16 ? `${project.slice(0, 16)}…` : project)
    : h('span', { class: 'muted' }, 'none');
}

/** A time of day (HH:MM:SS) of Unix seconds. */
function clock(at) {
  return new Date(at * 1000).toLocaleTimeString('en-GB', { hour12: false });
}

/** How long ago Unix seconds `at` was: "12 s ago", "4 min ago", "2 h ago". */
function ago(at) {
  const s = Math.max(0, Math.round(Date.now() / 1000 - at));
  if (s < 90) return `${s} s ago`;
  if (s < 5400) return `${Math.round(s / 60)} min ago`;
  return `${Math.round(s / 3600)} h ago`;
}

/** Why a member that is down is down, and since when. */
function memberCause(member, health) {
  if (!health || !health.monitored || !health.cause) return null;
  if (health.status !== 'OFFLINE' && health.status !== 'ERROR') return null;
  return h('p', { class: 'member-cause small' },
    h('span', { class: 'cause-text' }, health.cause),
    health.since ? h('span', { class: 'muted' }, ` · since ${clock(health.since)} (${ago(health.since)})`) : null);
}

/** The member's last probe: type, result, latency, time. */
function lastProbe(health) {
  if (!health || !health.monitored) return h('span', { class: 'muted small' }, 'not probed');
  const probe = health.last_probe;
  if (!probe) return h('span', { class: 'muted small' }, 'waiting for the first probe');
  return h('span', { class: `probe probe-${probe.result} small`, title: probe.detail || '' },
    `${probe.type} ${probe.result} · ${probe.latency_ms} ms · ${clock(probe.at)}`);
}

/** The object's status badges, each with a caption saying which status it is. */
function statuses(obj) {
  const item = (caption, status, kind) => h('div', { class: 'status-item' },
    h('span', { class: 'status-caption', 'aria-hidden': 'true' }, caption), badge(status, kind));
  return h('div', { class: 'badges' },
    obj.provisioning_status ? item('Provisioning', obj.provisioning_status, 'provisioning') : null,
    item('Operating', obj.operating_status, 'operating'));
}

function fact(term, value, extra) {
  return h('div', { class: extra ? `fact ${extra}` : 'fact' }, h('dt', {}, term), h('dd', {}, value));
}

function stat(term, value, key) {
  return h('div', { class: 'stat', dataset: { stat: key } }, h('div', { class: 'stat-value' }, value), h('div', { class: 'stat-label' }, term));
}

