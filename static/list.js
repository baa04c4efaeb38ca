// The load balancer list: every load balancer with its VIP, statuses and
// listener count, and the create form. An admin's project view narrows the
// list to one project and makes it the default of new load balancers.
import * as api from './api.js';
import * as auth from './auth.js';
import { h, badge, isPending, openForm, shortId, toast } from './dom.js';
import { loadBalancerCreate, loadBalancerFields } from './forms.js';
import { PollingView } from './view.js';
import { seedLoadBalancer } from './lb.js';

export class ListView extends PollingView {
  constructor(shell) {
    super(shell);
    this.lbs = [];
    this.counts = new Map();
    this.networks = null;
    this.showDeleted = false;
    shell.setTitle('Load balancers');
  }

  async load() {
    let [lbs, networks] = await Promise.all([
      api.get(api.paths.lbs()),
      this.networks ? Promise.resolve(this.networks) : api.get(api.paths.networks()).catch(() => null),
    ]);
    this.networks = networks;
    // An admin's token sees every project; the view keeps one. (v1 bodies
    // carry the project as tenant_id, the column v2's project_id shows.)
    const view = auth.session.view;
    if (view) lbs = lbs.filter((lb) => lb.tenant_id === view);
    const live = lbs.filter((lb) => lb.provisioning_status !== 'DELETED');
    const counts = await Promise.all(live.map((lb) => api.get(api.paths.listeners(lb.id))
      .then((ls) => ls.length).catch(() => null)));
    this.counts = new Map(live.map((lb, i) => [lb.id, counts[i]]));
    this.lbs = lbs;
  }

  pending() { return this.lbs.some((lb) => isPending(lb.provisioning_status)); }

  networkName(id) {
    const network = (this.networks || []).find((n) => n.id === id);
    return network ? network.name : null;
  }

  draw() {
    const deleted = this.lbs.filter((lb) => lb.provisioning_status === 'DELETED');
    const shown = this.lbs
      .filter((lb) => this.showDeleted || lb.provisioning_status !== 'DELETED')
      .sort((a, b) => (a.name || '').localeCompare(b.name || '') || a.id.localeCompare(b.id));

    const createButton = h('button', {
      type: 'button', class: 'btn btn-primary', dataset: { key: 'create-lb' }, onclick: () => this.openCreate(),
    }, h('span', { 'aria-hidden': 'true', class: 'plus' }, '+'), 'Create load balancer');

    const head = h('div', { class: 'page-head' },
      h('div', {},
        h('h1', {}, 'Load balancers'),
        h('p', { class: 'page-sub' }, `${this.lbs.length - deleted.length} load balancer${this.lbs.length - deleted.length === 1 ? '' : 's'}`,
          deleted.length ? ` · ${deleted.length} deleted` : '',
          auth.session.view ? ` · project ${auth.projectName(auth.session.view) || auth.session.view}` : '')),
      h('div', { class: 'page-actions' },
        deleted.length ? h('label', { class: 'toggle' },
          (() => {
            const box = h('input', { type: 'checkbox', dataset: { key: 'show-deleted' } });
            box.checked = this.showDeleted;
            box.addEventListener('change', () => { this.showDeleted = box.checked; this.draw(); });
            return box;
          })(), ' Show deleted') : null,
        createButton));

    if (shown.length === 0) {
      this.shell.render(head, h('section', { class: 'panel empty' },
        h('div', { class: 'empty-art', 'aria-hidden': 'true' }, '⇄'),
        h('h2', {}, 'No load balancers yet'),
        h('p', {}, 'A load balancer gets a virtual IP on a host network. Add listeners to accept traffic and pools of members to send it to.'),
        h('button', { type: 'button', class: 'btn btn-primary', dataset: { key: 'create-lb-empty' }, onclick: () => this.openCreate() }, 'Create your first load balancer')));
      return;
    }

    // An admin looking at every project sees whose each one is.
    const byProject = auth.session.isAdmin && !auth.session.view;
    const rows = shown.map((lb) => {
      const count = this.counts.get(lb.id);
      const network = this.networkName(lb.vip && lb.vip.network_id);
      return h('tr', { class: lb.provisioning_status === 'DELETED' ? 'row-deleted' : null, dataset: { lbId: lb.id } },
        h('td', { 'data-label': 'Name' },
          h('a', { class: 'row-link', href: `#/lb/${encodeURIComponent(lb.id)}`, dataset: { key: `open-${lb.id}` } }, lb.name || 'Unnamed load balancer'),
          lb.description ? h('div', { class: 'muted small clamp' }, lb.description) : null),
        h('td', { 'data-label': 'VIP' },
          h('span', { class: 'mono' }, (lb.vip && lb.vip.ip_address) || '—'),
          network ? h('div', { class: 'muted small' }, network) : null),
        h('td', { 'data-label': 'Provisioning' }, badge(lb.provisioning_status, 'provisioning')),
        h('td', { 'data-label': 'Operating' }, badge(lb.operating_status, 'operating')),
        byProject ? h('td', { 'data-label': 'Project' }, auth.projectName(lb.tenant_id) || lb.tenant_id || '—') : null,
        h('td', { 'data-label': 'Listeners', class: 'num' }, count === null || count === undefined ? '—' : String(count)),
        h('td', { 'data-label': 'ID' }, shortId(lb.id)));
    });

    this.shell.render(head, h('section', { class: 'card card-flush' },
      h('table', { class: 'table table-stack' },
        h('caption', { class: 'sr-only' }, 'Load balancers'),
        h('thead', {}, h('tr', {},
          h('th', { scope: 'col' }, 'Name'), h('th', { scope: 'col' }, 'VIP'),
          h('th', { scope: 'col' }, 'Provisioning'), h('th', { scope: 'col' }, 'Operating'),
          byProject ? h('th', { scope: 'col' }, 'Project') : null,
          h('th', { scope: 'col', class: 'num' }, 'Listeners'), h('th', { scope: 'col' }, 'ID'))),
        h('tbody', {}, rows))));
  }

  async openCreate() {
    if (!this.networks) this.networks = await api.get(api.paths.networks()).catch(() => null);
    const networks = this.networks || [];
    openForm({
      title: 'Create load balancer',
      intro: networks.length ? null : 'Could not load the host networks; the VIP needs one. Close this form and retry.',
      fields: loadBalancerFields(networks, false, auth.projectChoices()),
      values: { network_id: networks[0] && networks[0].id, enabled: true, tenant_id: auth.defaultProject() },
      submitLabel: 'Create',
      id: 'form-lb',
      onSubmit: async (values) => {
        const lb = await api.post(api.paths.lbs(), loadBalancerCreate(values));
        toast(`Load balancer ${lb.name || lb.id.slice(0, 8)} created`);
        seedLoadBalancer(lb);
        this.shell.navigate(`#/lb/${encodeURIComponent(lb.id)}`);
      },
    });
  }
}
