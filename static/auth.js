// Signing in when Ballast runs `[auth] mode = "local"`: the sign-in page
// (user, password, project), the token kept in sessionStorage (gone with
// the tab), the header's user, project and sign-out (which revokes the
// token), and an admin's project view. With `[auth] mode = "none"` no call
// answers 401, so none of this ever shows and the UI works without a token.
import * as api from './api.js';
import { h, toast } from './dom.js';

const TOKEN_KEY = 'ballast.token';
const VIEW_KEY = 'ballast.project-view';
const TOKENS = '/v3/auth/tokens';
/** Keystone's preamble of every 401; the rest says what was wrong. */
const KEYSTONE_PREFIX = /^The request you have made requires authentication:\s*/;

/** Who is signed in. Without identity every field stays empty. */
export const session = {
  /** The token sent as X-Auth-Token, or null. */
  token: null,
  /** {id, name} of the token's user; kept after sign-out to fill the form. */
  user: null,
  /** {id, name} of the token's project; kept after sign-out likewise. */
  project: null,
  /** Role names on that project (implied ones included). */
  roles: [],
  /** When the token expires (ms since the epoch), if known. */
  expiresAt: null,
  /** An admin's list of every project: [{id, name}], or null. */
  projects: null,
  /** An admin's project view: the project id the lists show; null is all. */
  view: null,
  get signedIn() { return Boolean(this.token); },
  get isAdmin() { return this.signedIn && this.roles.includes('admin'); },
};

// sessionStorage can be switched off; the session then lasts the page.
const stored = {
  get(key) { try { return sessionStorage.getItem(key); } catch { return null; } },
  set(key, value) {
    try {
      if (value === null) sessionStorage.removeItem(key);
      else sessionStorage.setItem(key, value);
    } catch { /* kept in memory only */ }
  },
};

/** Takes a token and the Keystone body that describes it. */
function adopt(token, body) {
  const t = (body && body.token) || {};
  session.token = token;
  session.user = t.user ? { id: t.user.id, name: t.user.name } : session.user;
  session.project = t.project ? { id: t.project.id, name: t.project.name } : null;
  session.roles = (t.roles || []).map((r) => r.name);
  session.expiresAt = t.expires_at ? Date.parse(t.expires_at) : null;
  session.view = session.isAdmin ? stored.get(VIEW_KEY) || null : null;
  stored.set(TOKEN_KEY, token);
  api.setToken(token);
}

/** Drops the token (the user and project names stay, to fill the form again). */
export function forget() {
  session.token = null;
  session.roles = [];
  session.expiresAt = null;
  session.projects = null;
  session.view = null;
  stored.set(TOKEN_KEY, null);
  stored.set(VIEW_KEY, null);
  api.setToken(null);
}

/**
 * At start-up: takes the token this tab kept, if it is still valid
 * (GET /v3/auth/tokens). An unknown, expired or revoked one is dropped.
 * When the API cannot be reached the token is kept and checked again
 * once it can.
 */
export async function resume() {
  const token = stored.get(TOKEN_KEY);
  if (!token) return;
  api.setToken(token);
  session.token = token;
  try {
    const { data } = await api.exchange('GET', TOKENS, undefined, { headers: { 'X-Subject-Token': token }, quiet401: true });
    adopt(token, data);
    await loadProjects();
  } catch (err) {
    if (!(err instanceof api.ApiError) || !err.isNetwork) forget();
  }
}

/** An admin's projects for the project view (soft: the view is optional). */
async function loadProjects() {
  if (!session.isAdmin) return;
  try {
    const data = await api.requestAt('GET', '/v3/projects');
    session.projects = ((data && data.projects) || [])
      .map((p) => ({ id: p.id, name: p.name }))
      .sort((a, b) => a.name.localeCompare(b.name));
  } catch {
    session.projects = null;
  }
  if (session.view && session.projects && !session.projects.some((p) => p.id === session.view)) session.view = null;
}

/** Keystone's password login, scoped to a project by name. */
export async function signIn(user, password, project) {
  const body = {
    auth: {
      identity: { methods: ['password'], password: { user: { name: user, domain: { id: 'default' }, password } } },
      scope: { project: { name: project, domain: { id: 'default' } } },
    },
  };
  const { data, headers } = await api.exchange('POST', TOKENS, body, { token: null, quiet401: true });
  const token = headers.get('X-Subject-Token');
  if (!token) throw new api.ApiError(500, 'The sign-in answer carried no token (X-Subject-Token).');
  adopt(token, data);
  await loadProjects();
}

/**
 * Revokes the token (DELETE /v3/auth/tokens) and forgets it. Resolves to a
 * warning when the API could not be told, else null.
 */
export async function signOut() {
  const token = session.token;
  let warning = null;
  if (token) {
    try {
      await api.exchange('DELETE', TOKENS, undefined, { headers: { 'X-Subject-Token': token }, quiet401: true });
    } catch (err) {
      // 401/404: already expired or revoked, which is what was asked.
      if (!(err instanceof api.ApiError) || !(err.isUnauthorized || err.isNotFound)) {
        warning = `The token could not be revoked (${err.message}); it stays valid until it expires.`;
      }
    }
  }
  forget();
  return warning;
}

/** The name of project `id` when this session knows it, else null. */
export function projectName(id) {
  if (!id) return null;
  if (session.project && session.project.id === id) return session.project.name;
  const known = (session.projects || []).find((p) => p.id === id);
  return known ? known.name : null;
}

/**
 * The projects a new load balancer may go to: undefined without identity
 * (any text, as the API takes it), the whole list for an admin, and none
 * for anyone else (the token's project, which the API applies).
 */
export function projectChoices() {
  if (!session.signedIn) return undefined;
  if (!session.isAdmin) return [];
  const projects = session.projects || (session.project ? [session.project] : []);
  return projects.map((p) => [p.id, p.name]);
}

/** The project a new load balancer goes to by default (the view's, else the token's). */
export function defaultProject() {
  return session.view || (session.project && session.project.id) || undefined;
}

const clock = (ms) => new Date(ms).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });

/**
 * Draws the header's session box: project (an admin's project view), user
 * and the sign-out button. `onViewChange()` runs after an admin picks
 * another view; `onSignOut(warning)` after signing out.
 */
export function renderSession({ onViewChange, onSignOut }) {
  const box = document.getElementById('session');
  if (!box) return;
  if (!session.signedIn) {
    box.replaceChildren();
    box.hidden = true;
    return;
  }
  const project = h('div', { class: 'session-item', dataset: { session: 'project' } },
    h('span', { class: 'session-label' }, 'Project'),
    h('span', { class: 'session-value' }, (session.project && session.project.name) || 'none'));
  let view = null;
  if (session.isAdmin && session.projects && session.projects.length) {
    const select = h('select', { id: 'project-view', class: 'session-select' },
      h('option', { value: '' }, 'All projects'),
      session.projects.map((p) => h('option', { value: p.id }, p.name)));
    select.value = session.view || '';
    select.addEventListener('change', () => {
      session.view = select.value || null;
      stored.set(VIEW_KEY, session.view);
      onViewChange();
    });
    view = h('div', { class: 'session-item' }, h('label', { for: 'project-view', class: 'session-label' }, 'Project view'), select);
  }
  const role = ['admin', 'member', 'reader'].find((r) => session.roles.includes(r)) || null;
  const user = h('div', {
    class: 'session-item', dataset: { session: 'user' },
    title: session.expiresAt ? `Signed in until ${clock(session.expiresAt)}` : null,
  },
  h('span', { class: 'session-label' }, 'User'),
  h('span', { class: 'session-value' }, (session.user && session.user.name) || '…'),
  role ? h('span', { class: 'session-role' }, role) : null);
  const out = h('button', { type: 'button', class: 'btn btn-small btn-topbar' }, 'Sign out');
  out.addEventListener('click', async () => {
    out.disabled = true;
    onSignOut(await signOut());
  });
  box.replaceChildren(...[project, view, user, out].filter(Boolean));
  box.hidden = false;
}

/** The sign-in page, shown in place of any screen while a 401 stands. */
export class SignInView {
  /** `notice`: why the page shows (signed out, session ended); `onSignedIn()` after success. */
  constructor(shell, { notice, onSignedIn }) {
    this.shell = shell;
    this.notice = notice;
    this.onSignedIn = onSignedIn;
    this.stopped = false;
    shell.setTitle('Sign in');
  }

  start() {
    const field = (name, label, attrs) => {
      const id = `signin-${name}`;
      const input = h('input', { id, name, type: 'text', required: true, spellcheck: 'false', autocapitalize: 'none', ...attrs });
      return { input, row: h('div', { class: 'field' }, h('label', { for: id }, label), input) };
    };
    const user = field('user', 'User name', { autocomplete: 'username' });
    const password = field('password', 'Password', { type: 'password', autocomplete: 'current-password' });
    const project = field('project', 'Project', { autocomplete: 'off' });
    user.input.value = (session.user && session.user.name) || '';
    project.input.value = (session.project && session.project.name) || '';
    const errorBox = h('div', { class: 'form-error', role: 'alert', hidden: true });
    const submit = h('button', { type: 'submit', class: 'btn btn-primary btn-block' }, 'Sign in');
    const form = h('form', { class: 'signin-form', novalidate: true, 'aria-labelledby': 'signin-title' },
      h('h1', { id: 'signin-title' }, 'Sign in to Ballast'),
      h('p', { class: 'page-sub' }, 'This Ballast requires a user name and password. Your session ends when you sign out or close the tab.'),
      this.notice ? h('p', { class: 'notice', role: 'status' }, this.notice) : null,
      errorBox,
      h('div', { class: 'fields' }, user.row, password.row, project.row),
      submit);
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      if (submit.disabled) return;
      const values = { user: user.input.value.trim(), password: password.input.value, project: project.input.value.trim() };
      const missing = [[user, values.user], [password, values.password], [project, values.project]].filter(([, v]) => !v);
      for (const f of [user, password, project]) f.input.removeAttribute('aria-invalid');
      if (missing.length) {
        for (const [f] of missing) f.input.setAttribute('aria-invalid', 'true');
        errorBox.textContent = `Enter ${missing.map(([f]) => f.row.querySelector('label').textContent.toLowerCase()).join(', ')}.`;
        errorBox.hidden = false;
        missing[0][0].input.focus();
        return;
      }
      submit.disabled = true;
      submit.classList.add('is-busy');
      form.setAttribute('aria-busy', 'true');
      errorBox.hidden = true;
      try {
        await signIn(values.user, values.password, values.project);
        if (this.stopped) return;
        toast(`Signed in as ${values.user}`);
        this.onSignedIn();
      } catch (err) {
        if (this.stopped) return;
        const message = err instanceof Error ? err.message.replace(KEYSTONE_PREFIX, '') : String(err);
        errorBox.replaceChildren(h('strong', {}, 'Not signed in: '), message);
        errorBox.hidden = false;
        password.input.value = '';
        password.input.focus();
      } finally {
        submit.disabled = false;
        submit.classList.remove('is-busy');
        form.removeAttribute('aria-busy');
      }
    });
    this.shell.render(h('section', { class: 'panel signin' }, form));
    const first = [user, password, project].find((f) => !f.input.value) || password;
    first.input.focus();
  }

  stop() { this.stopped = true; }
}
