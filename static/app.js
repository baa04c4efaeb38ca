// Entry point: the hash router, the connection indicator, the session box
// and the screens (load balancer list, load balancer page, and sign-in when
// the API answers 401). Each screen polls the API while it is shown:
// quickly while something is PENDING_*, every few seconds otherwise.
import * as api from './api.js';
import * as auth from './auth.js';
import { h, closeDialogs, errorPanel, toast } from './dom.js';
import { ListView } from './list.js';
import { LoadBalancerView } from './lb.js';

const main = document.getElementById('main');
const bannerSlot = document.getElementById('banner');

/** Parses the hash into a route: {name, params}. */
function parseRoute(hash) {
  const parts = hash.replace(/^#\/?/, '').split('/').filter(Boolean).map(decodeURIComponent);
  if (parts.length === 0) return { name: 'lbs' };
  if (parts[0] === 'lb' && parts[1] && parts.length <= 4) {
    return { name: 'lb', params: { id: parts[1], listenerId: parts[2] === 'listener' ? parts[3] : null } };
  }
  return { name: 'notfound', params: { path: hash } };
}

/** Shared by the screens: rendering into <main>, the retry banner, navigation. */
export const shell = {
  render(...nodes) {
    // Re-rendering must not steal keyboard focus: remember the focused
    // control's key and focus its successor in the new tree.
    const active = document.activeElement;
    const key = active && main.contains(active) ? active.dataset.key : null;
    main.replaceChildren(...nodes);
    if (key) {
      const again = main.querySelector(`[data-key="${CSS.escape(key)}"]`);
      if (again) again.focus({ preventScroll: true });
    }
  },
  showConnectionProblem(err, onRetry) {
    bannerSlot.replaceChildren(h('div', { class: 'banner banner-bad', role: 'alert' },
      h('div', { class: 'container banner-inner' },
        h('span', {}, h('strong', {}, 'Lost contact with the API. '), err.message, ' Retrying automatically.'),
        h('button', { type: 'button', class: 'btn btn-small', onclick: onRetry }, 'Retry now'))));
  },
  clearConnectionProblem() { bannerSlot.replaceChildren(); },
  navigate(hash) {
    if (location.hash === hash) route();
    else location.hash = hash;
  },
  setTitle(title) { document.title = title ? `${title} · Ballast` : 'Ballast'; },
};

let current = null;
let lastKey = null;
/** Set while the API refuses us (401): every route shows the sign-in page. */
let signIn = null;

function route() {
  if (signIn) {
    // The hash stays as it is, so signing in lands where the user was.
    if (current instanceof auth.SignInView) return;
    closeDialogs();
    if (current) current.stop();
    shell.clearConnectionProblem();
    lastKey = null;
    current = new auth.SignInView(shell, { notice: signIn.notice, onSignedIn: signedIn });
    current.start();
    return;
  }
  const r = parseRoute(location.hash);
  const key = r.name === 'lb' ? `lb:${r.params.id}` : r.name;
  // A listener anchor within the same load balancer only scrolls.
  if (current && key === lastKey && current.focusListener) {
    current.focusListener(r.params && r.params.listenerId);
    return;
  }
  closeDialogs();
  if (current) current.stop();
  shell.clearConnectionProblem();
  lastKey = key;
  for (const link of document.querySelectorAll('[data-nav]')) {
    if (link.dataset.nav === 'lbs') link.setAttribute('aria-current', r.name === 'lbs' ? 'page' : 'false');
  }
  if (r.name === 'lbs') current = new ListView(shell);
  else if (r.name === 'lb') current = new LoadBalancerView(shell, r.params.id, r.params.listenerId);
  else {
    current = null;
    shell.setTitle('Not found');
    shell.render(h('section', { class: 'panel empty' },
      h('h1', {}, 'Page not found'),
      h('p', {}, 'Nothing lives at ', h('code', {}, r.params.path), '.'),
      h('a', { class: 'btn btn-primary', href: '#/' }, 'Go to load balancers')));
    return;
  }
  current.start();
}

// Header indicator: whether the last API call reached the server.
const conn = document.getElementById('conn');
api.onConnectivity((online) => {
  conn.classList.toggle('conn-ok', online);
  conn.classList.toggle('conn-bad', !online);
  conn.querySelector('.conn-text').textContent = online ? 'Connected' : 'Offline';
});

/** Shows the sign-in page in place of the current screen, saying why. */
function requireSignIn(notice) {
  auth.forget();
  drawSession();
  if (signIn) return;
  signIn = { notice };
  route();
}

function signedIn() {
  signIn = null;
  drawSession();
  route();
}

/** Draws the current screen again from scratch (an admin's project view changed). */
function reload() {
  lastKey = null;
  if (current) current.stop();
  current = null;
  route();
}

function drawSession() {
  auth.renderSession({
    onViewChange: reload,
    onSignOut: (warning) => {
      if (warning) toast(warning, 'bad');
      requireSignIn('You have signed out.');
    },
  });
}

// Any 401 (no token, or one that expired or was revoked) asks to sign in;
// with `[auth] mode = "none"` none ever comes.
api.onUnauthorized(() => requireSignIn(auth.session.signedIn
  ? 'Your session has ended (the token expired or was revoked). Sign in again.'
  : null));
// A token kept while the API was unreachable is checked once it answers.
api.onConnectivity(async (online) => {
  if (online && auth.session.signedIn && !auth.session.user) {
    await auth.resume();
    drawSession();
  }
});

window.addEventListener('hashchange', route);
window.addEventListener('error', (event) => {
  // A bug must never leave a blank page: show it, with a way out.
  if (!main.childElementCount) {
    main.replaceChildren(errorPanel('Something went wrong', event.error || event.message, () => location.reload()));
  }
});
await auth.resume();
drawSession();
route();
