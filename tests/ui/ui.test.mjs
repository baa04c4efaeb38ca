// Browser test of Ballast's web UI: drives headless Debian chromium through
// playwright-core against a running Ballast.
//
//   node tests/ui/ui.test.mjs BASE_URL [SCREENSHOT_DIR]
//
// Exits 0 when every step passed; otherwise prints the failing step and exits 1.
// Member servers are real HTTP servers on 127.0.0.1 started here.
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';

const base = (process.argv[2] || '').replace(/\/$/, '');
const shotDir = process.argv[3] || 'target/ui-screenshots';
if (!base) {
  console.error('usage: node ui.test.mjs BASE_URL [SCREENSHOT_DIR]');
  process.exit(2);
}
fs.mkdirSync(shotDir, { recursive: true });

const STEP_TIMEOUT_MS = 15000;
const WHOLE_TEST_MS = 150000;
const guard = setTimeout(() => { console.error('FAIL: the whole UI test took longer than', WHOLE_TEST_MS, 'ms'); process.exit(1); }, WHOLE_TEST_MS);

let step = 'start';
const log = (msg) => console.log(`ui-test: ${msg}`);
function begin(name) { step = name; log(name); }
function assert(cond, message) { if (!cond) throw new Error(`assertion failed: ${message}`); }

/** A member server that answers with its own name. */
function startMember(name) {
  return new Promise((resolve) => {
    const server = http.createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(`${name}\n`);
    });
    server.listen(0, '127.0.0.1', () => resolve({ server, port: server.address().port }));
  });
}

const rand = (lo, hi) => lo + Math.floor(Math.random() * (hi - lo + 1));

/** A random host address of an IPv4 CIDR (never its first two or last). */
function randomHost(cidr) {
  const [addr, bits] = cidr.split('/');
  const start = addr.split('.').reduce((n, octet) => n * 256 + Number(octet), 0);
  const size = 2 ** (32 - Number(bits));
  const n = start + rand(2, Math.max(2, size - 2));
  return [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join('.');
}

// A VIP address chosen at random in the first host network, so Ballasts
// running in parallel on one range never share a VIP:port.
const networks = await (await fetch(`${base}/v1/networks`)).json();
if (!Array.isArray(networks) || !networks.length) {
  console.error('FAIL: GET /v1/networks listed no host network');
  process.exit(1);
}
const vip = randomHost(networks[0].cidr);
const listenerPort = rand(20000, 39999);

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run'],
});
const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
const page = await context.newPage();
page.setDefaultTimeout(STEP_TIMEOUT_MS);
const pageErrors = [];
page.on('pageerror', (err) => pageErrors.push(String(err)));
page.on('console', (msg) => {
  // 4xx/5xx answers the test provokes log "Failed to load resource"; only
  // real script errors count.
  if (msg.type() === 'error' && !/Failed to load resource/.test(msg.text())) pageErrors.push(msg.text());
});

// Every 404 the page itself asks for: a refresh must not fail on purpose
// (e.g. GET .../health_monitor of a pool that has none).
const notFound = [];
page.on('response', (res) => { if (res.status() === 404) notFound.push(res.url()); });
// Writes the page sends (a form with mistakes must send none).
const writes = [];
page.on('request', (req) => { if (req.method() !== 'GET') writes.push(`${req.method()} ${req.url()}`); });
// UI_TEST_DOCS_DIR=docs refreshes the README's pictures of the graphs and a member's cause.
const docsDir = process.env.UI_TEST_DOCS_DIR || null;

const members = [await startMember('member-a'), await startMember('member-b')];
const shot = async (name, opts = {}) => {
  // Toasts are transient; keep them out of the pictures.
  await page.evaluate(() => { document.getElementById('toasts').replaceChildren(); return document.fonts && document.fonts.ready; });
  await page.screenshot({ path: path.join(shotDir, `${name}.png`), ...opts });
};
const dialog = () => page.locator('dialog[open]');
const badge = (scope, kind, status) => scope.locator(`.badge[data-kind="${kind}"][data-status="${status}"]`).first();
const lbProvisioning = (status) => badge(page.locator('.card-summary'), 'provisioning', status);

async function waitForLbActive() {
  await lbProvisioning('ACTIVE').waitFor();
}

let failed = null;
try {
  begin('the list opens on an empty Ballast with a create button');
  await page.goto(`${base}/`);
  await page.getByRole('heading', { name: 'Load balancers', level: 1 }).waitFor();
  await page.getByRole('heading', { name: 'No load balancers yet' }).waitFor();
  await shot('01-list-empty');

  begin('statuses are recorded as they change, on one page load');
  await page.evaluate(() => {
    window.__sameDocument = true;
    window.__seen = [];
    const record = () => {
      for (const el of document.querySelectorAll('.badge[data-kind="provisioning"]')) {
        const s = el.dataset.status;
        if (window.__seen[window.__seen.length - 1] !== s) window.__seen.push(s);
      }
    };
    new MutationObserver(record).observe(document.body, { childList: true, subtree: true });
  });

  begin('create a load balancer through the form');
  await page.getByRole('button', { name: 'Create load balancer' }).first().click();
  await dialog().getByLabel(/^Name/).fill('web-frontend');
  await dialog().getByLabel('Description').fill('Public web tier');
  const networkOptions = await dialog().getByLabel('Network').locator('option').count();
  assert(networkOptions >= 1, 'the network select lists the host networks');
  await dialog().getByLabel('VIP address').fill(vip);
  await dialog().getByLabel(/^Project/).fill('team-web');
  await dialog().getByRole('button', { name: 'Create' }).click();
  await page.waitForURL(/#\/lb\/[0-9a-f-]{36}$/);
  const lbId = page.url().split('/').pop();
  await page.getByRole('heading', { name: 'web-frontend', level: 1 }).waitFor();
  await waitForLbActive();
  const vipText = await page.locator('.card-summary .fact', { hasText: 'VIP address' }).locator('dd').innerText();
  assert(vipText.trim() === vip, `VIP shows ${vip}, got ${vipText}`);

  begin('the PENDING load balancer turned ACTIVE without a reload');
  const seen = await page.evaluate(() => ({ same: window.__sameDocument === true, seen: window.__seen }));
  assert(seen.same, 'the page was not reloaded');
  assert(seen.seen.includes('PENDING_CREATE'), `PENDING_CREATE was shown (saw ${seen.seen.join(',')})`);
  assert(seen.seen.indexOf('ACTIVE') > seen.seen.indexOf('PENDING_CREATE'), `ACTIVE followed PENDING_CREATE (saw ${seen.seen.join(',')})`);

  begin('the load balancer page shows its project');
  const project = await page.locator('.card-summary .fact', { hasText: 'Project' }).locator('dd').innerText();
  assert(project.trim() === 'team-web', `the summary shows the project: ${project}`);

  begin('an invalid listener port is caught next to the field before sending, and the form is kept');
  await page.getByRole('button', { name: '+ Add listener' }).click();
  await dialog().getByLabel(/^Name/).fill('http-in');
  await dialog().getByLabel('Protocol').selectOption('HTTP');
  await dialog().getByLabel('Port', { exact: true }).fill('70000');
  const writesBefore = writes.length;
  await dialog().getByRole('button', { name: 'Create listener' }).click();
  const portError = dialog().locator('.field-error:not([hidden])');
  await portError.first().waitFor();
  const errorText = await portError.first().innerText();
  assert(errorText === 'must be an integer 1..65535', `the message sits next to the port: ${errorText}`);
  assert(writes.length === writesBefore, `nothing was sent: ${writes.slice(writesBefore).join(', ')}`);
  assert(await dialog().getByLabel('Port', { exact: true }).inputValue() === '70000', 'the port input is kept');
  assert(await dialog().getByLabel(/^Name/).inputValue() === 'http-in', 'the name input is kept');
  assert(await dialog().getByLabel('Port', { exact: true }).getAttribute('aria-invalid') === 'true', 'the port input is marked invalid');
  await shot('03-listener-form-error');

  begin('fixing the port creates the listener, which reaches ACTIVE');
  await dialog().getByLabel('Port', { exact: true }).fill(String(listenerPort));
  await dialog().getByRole('button', { name: 'Create listener' }).click();
  await dialog().waitFor({ state: 'detached' });
  const listenerCard = page.locator('.card-listener', { hasText: `:${listenerPort}` });
  await badge(listenerCard, 'provisioning', 'ACTIVE').waitFor();
  await waitForLbActive();
  const listenerId = await listenerCard.getAttribute('data-listener-id');
  await listenerCard.locator('.fact', { hasText: 'Project' }).locator('dd', { hasText: 'team-web' }).waitFor();

  begin('create a pool');
  await listenerCard.getByRole('button', { name: /^Add pool/ }).click();
  await dialog().getByLabel(/^Name/).fill('web-servers');
  await dialog().getByLabel('Algorithm').selectOption('ROUND_ROBIN');
  await dialog().getByRole('button', { name: 'Create pool' }).click();
  await dialog().waitFor({ state: 'detached' });
  await listenerCard.getByRole('heading', { name: /web-servers/ }).waitFor();
  await waitForLbActive();

  begin('a member form with three bad fields shows three messages at once and sends nothing');
  await listenerCard.getByRole('button', { name: /^Add member/ }).click();
  await dialog().getByLabel('IP address').fill('999.1.1.1');
  await dialog().getByLabel('Port', { exact: true }).fill('70000');
  await dialog().getByLabel('Weight').fill('300');
  const writesBeforeMember = writes.length;
  await dialog().getByRole('button', { name: 'Add member' }).click();
  const memberErrors = dialog().locator('.field-error:not([hidden])');
  await memberErrors.nth(2).waitFor();
  const shown = await memberErrors.allInnerTexts();
  assert(shown.length === 3, `three messages, one per field: ${shown.join(' | ')}`);
  assert(shown.includes('must be an IP address') && shown.includes('must be an integer 1..65535') && shown.includes('must be an integer 0..256'),
    `each field says what is wrong: ${shown.join(' | ')}`);
  assert(await dialog().locator('[aria-invalid="true"]').count() === 3, 'the three inputs are marked invalid');
  assert(await dialog().locator('.form-error').isHidden(), 'no message is repeated above the fields');
  assert(writes.length === writesBeforeMember, `nothing was sent: ${writes.slice(writesBeforeMember).join(', ')}`);
  await shot('03c-member-form-errors');
  await dialog().getByRole('button', { name: 'Cancel' }).click();
  await dialog().waitFor({ state: 'detached' });

  begin('create two members');
  for (const [i, member] of members.entries()) {
    await listenerCard.getByRole('button', { name: /^Add member/ }).click();
    await dialog().getByLabel('IP address').fill('127.0.0.1');
    await dialog().getByLabel('Port', { exact: true }).fill(String(member.port));
    await dialog().getByLabel('Weight').fill(String(i + 1));
    await dialog().getByRole('button', { name: 'Add member' }).click();
    await dialog().waitFor({ state: 'detached' });
    await listenerCard.locator(`tr[data-member="127.0.0.1:${member.port}"]`).waitFor();
    await waitForLbActive();
  }
  for (const member of members) {
    await badge(listenerCard.locator(`tr[data-member="127.0.0.1:${member.port}"]`), 'operating', 'ONLINE').waitFor();
  }
  await badge(listenerCard, 'provisioning', 'ACTIVE').waitFor();
  // UI_TEST_DOCS_SCREENSHOT=docs/screenshot-lb.png refreshes the README's picture.
  if (process.env.UI_TEST_DOCS_SCREENSHOT) {
    await shot('03b-lb-page-members');
    await page.screenshot({ path: process.env.UI_TEST_DOCS_SCREENSHOT, fullPage: true });
  }

  begin('a pool without a monitor is refreshed without a failing request');
  // Two more refreshes of the page (each reads the listeners) while the pool has no monitor.
  for (let i = 0; i < 2; i += 1) {
    await page.waitForResponse((res) => /\/v1\/loadbalancers\/[^/]+\/listeners$/.test(new URL(res.url()).pathname));
  }
  assert(notFound.length === 0, `no request answered 404: ${notFound.join(', ')}`);
  assert(await listenerCard.getByText('No health monitor').isVisible(), 'the pool shows it has no monitor');

  begin('add a TCP health monitor');
  await listenerCard.getByRole('button', { name: /^Add health monitor/ }).click();
  await dialog().getByLabel('Type').selectOption('TCP');
  await dialog().getByLabel('Interval (s)').fill('2');
  await dialog().getByLabel('Timeout (s)').fill('1');
  assert(await dialog().getByLabel('URL path').isHidden(), 'HTTP fields are hidden for a TCP monitor');
  await dialog().getByRole('button', { name: 'Create monitor' }).click();
  await dialog().waitFor({ state: 'detached' });
  await listenerCard.getByText('TCP health monitor').waitFor();
  await waitForLbActive();

  begin('traffic through the VIP shows in the listener stats');
  let served = 0;
  for (let i = 0; i < 6; i += 1) {
    const res = await fetch(`http://${vip}:${listenerPort}/`);
    if (res.ok && /member-[ab]/.test(await res.text())) served += 1;
  }
  assert(served === 6, `all 6 requests through ${vip}:${listenerPort} were answered by a member (got ${served})`);
  await page.waitForFunction((id) => {
    const el = document.querySelector(`[data-listener-id="${id}"] [data-stat="total_connections"] .stat-value`);
    return el && Number(el.textContent.replace(/,/g, '')) >= 1;
  }, listenerId, { timeout: STEP_TIMEOUT_MS });
  const bytesOut = await listenerCard.locator('[data-stat="bytes_out"] .stat-value').innerText();
  assert(/^\d+(\.\d+)? (B|KiB|MiB)$/.test(bytesOut), `bytes out is human-readable: ${bytesOut}`);
  await shot('04-lb-page', { fullPage: true });

  begin('the traffic graphs draw and move with traffic');
  const chart = listenerCard.locator(`[data-chart="listener-${listenerId}"]`);
  const lbChart = page.locator('[data-chart="lb"]');
  await chart.locator('canvas').waitFor();
  await lbChart.locator('canvas').waitFor();
  const drawn = await chart.evaluate((el) => ({ points: Number(el.dataset.points), pixels: el.querySelector('canvas').toDataURL() }));
  // Keep requests flowing through the VIP until the next samples show them
  // (over kept-alive connections: bytes move, new connections need not).
  const pump = setInterval(() => { fetch(`http://${vip}:${listenerPort}/`).then((r) => r.text()).catch(() => {}); }, 50);
  try {
    await page.waitForFunction(({ id, before }) => {
      const el = document.querySelector(`[data-chart="listener-${id}"]`);
      const lbEl = document.querySelector('[data-chart="lb"]');
      return el && lbEl && Number(el.dataset.points) > before.points + 1
        && Number(el.dataset.lastBytesIn) > 0 && Number(el.dataset.lastBytesOut) > 0
        && Number(lbEl.dataset.lastBytesOut) > 0
        && el.querySelector('canvas').toDataURL() !== before.pixels;
    }, { id: listenerId, before: drawn }, { timeout: 20000 });
  } finally {
    clearInterval(pump);
  }
  const legend = await chart.locator('.u-legend').innerText();
  assert(/Connections\/s/.test(legend) && /Bytes in/.test(legend) && /Active/.test(legend), `the legend names the series: ${legend}`);
  await page.evaluate(() => window.scrollTo(0, 0));
  await shot('09-graphs', { fullPage: true });
  if (docsDir) await page.locator('#traffic-title').locator('xpath=..').locator('xpath=..').screenshot({ path: path.join(docsDir, 'screenshot-graphs.png') });

  begin('a member that goes down shows its last probe and the cause, since when');
  members[1].server.close();
  const downRow = listenerCard.locator(`tr[data-member="127.0.0.1:${members[1].port}"]`);
  await badge(downRow, 'operating', 'OFFLINE').waitFor({ timeout: 20000 });
  const cause = await downRow.locator('.member-cause').innerText();
  assert(/connect failed/i.test(cause) && /consecutive failure/.test(cause) && /since \d\d:\d\d:\d\d/.test(cause),
    `the row says why and since when: ${cause}`);
  const probe = await downRow.locator('.member-probe').innerText();
  assert(/^TCP failure · \d+ ms · \d\d:\d\d:\d\d$/.test(probe.trim()), `the last probe shows type, result, latency and time: ${probe}`);
  const upProbe = await listenerCard.locator(`tr[data-member="127.0.0.1:${members[0].port}"] .member-probe`).innerText();
  assert(/^TCP success/.test(upProbe.trim()), `the live member's last probe succeeded: ${upProbe}`);
  const feed = page.locator('.events');
  await feed.locator('.event', { hasText: `member 127.0.0.1:${members[1].port}` }).filter({ hasText: 'OFFLINE' }).first().waitFor();
  assert(await feed.locator('.event', { hasText: 'CreateLoadBalancer' }).count() === 1, 'the feed lists the load balancer\'s creation');
  await shot('10-member-cause', { fullPage: true });
  if (docsDir) await listenerCard.screenshot({ path: path.join(docsDir, 'screenshot-member-cause.png') });

  begin('edit a member weight');
  const firstRow = listenerCard.locator(`tr[data-member="127.0.0.1:${members[0].port}"]`);
  await firstRow.getByRole('button', { name: 'Edit' }).click();
  assert(await dialog().getByLabel('IP address').isDisabled(), 'the member address is read-only');
  await dialog().getByLabel('Weight').fill('5');
  await shot('05-member-edit');
  await dialog().getByRole('button', { name: 'Save' }).click();
  await dialog().waitFor({ state: 'detached' });
  await firstRow.locator('.weight', { hasText: /^5$/ }).waitFor();
  await waitForLbActive();

  begin('the list shows the load balancer with its VIP, badges and listener count');
  await page.goto(`${base}/#/`);
  const row = page.locator(`tr[data-lb-id="${lbId}"]`);
  await row.waitFor();
  await badge(row, 'provisioning', 'ACTIVE').waitFor();
  assert((await row.locator('td[data-label="VIP"]').innerText()).includes(vip), 'the list shows the VIP');
  assert((await row.locator('td[data-label="Listeners"]').innerText()).trim() === '1', 'the list counts one listener');
  await shot('02-list');

  begin('the back button returns to the load balancer page');
  await row.getByRole('link', { name: 'web-frontend' }).click();
  await page.getByRole('heading', { name: 'web-frontend', level: 1 }).waitFor();
  await page.goBack();
  await page.getByRole('heading', { name: 'Load balancers', level: 1 }).waitFor();
  await page.goForward();
  await page.getByRole('heading', { name: 'web-frontend', level: 1 }).waitFor();

  begin('a deep link opens the right page after a reload');
  await page.goto(`${base}/#/lb/${lbId}/listener/${listenerId}`);
  await page.reload();
  await page.getByRole('heading', { name: 'web-frontend', level: 1 }).waitFor();
  await page.locator(`#listener-${listenerId}.is-target`).waitFor();

  begin('a phone-sized screen shows the same page readably');
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(`${base}/#/lb/${lbId}`);
  await page.getByRole('heading', { name: 'web-frontend', level: 1 }).waitFor();
  await badge(listenerCard, 'provisioning', 'ACTIVE').waitFor();
  await page.evaluate(() => window.scrollTo(0, 0));
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert(overflow <= 0, `no horizontal scrolling on a phone (overflow ${overflow}px)`);
  await shot('06-lb-page-phone', { fullPage: true });
  await page.setViewportSize({ width: 1280, height: 860 });

  begin('the keyboard opens a form and Escape closes it');
  await page.getByRole('button', { name: '+ Add listener' }).focus();
  await page.keyboard.press('Enter');
  await dialog().waitFor();
  const focused = await page.evaluate(() => document.activeElement && document.activeElement.closest('dialog') !== null);
  assert(focused, 'focus moved into the dialog');
  await page.keyboard.press('Escape');
  await dialog().waitFor({ state: 'detached' });

  begin('delete the listener after confirming the cascade');
  await listenerCard.getByRole('button', { name: 'Delete' }).first().click();
  const confirmText = await dialog().innerText();
  assert(/web-servers/.test(confirmText) && /2 members/.test(confirmText) && /health monitor/.test(confirmText),
    `the confirmation names the pool, its 2 members and the monitor: ${confirmText}`);
  await shot('07-confirm-delete');
  await dialog().getByRole('button', { name: 'Cancel' }).click();
  await dialog().waitFor({ state: 'detached' });
  assert(await listenerCard.count() === 1, 'cancel keeps the listener');
  await listenerCard.getByRole('button', { name: 'Delete' }).first().click();
  await dialog().getByRole('button', { name: 'Delete listener' }).click();
  await dialog().waitFor({ state: 'detached' });
  await listenerCard.waitFor({ state: 'detached' });
  await page.getByText('No listeners yet').waitFor();
  await waitForLbActive();
  const after = await page.evaluate(async (u) => (await fetch(u)).status, `${base}/v1/loadbalancers/${lbId}/listeners/${listenerId}`);
  assert(after === 404, `the API no longer has the listener (GET answered ${after})`);

  begin('an API outage shows a message with Retry, and Retry recovers');
  await page.route('**/v1/**', (route) => route.abort('connectionrefused'));
  await page.goto(`${base}/#/`);
  await page.reload();
  await page.getByRole('heading', { name: 'Cannot reach Ballast' }).waitFor();
  await page.locator('#conn.conn-bad').waitFor();
  await shot('08-api-unreachable');
  await page.unroute('**/v1/**');
  await page.getByRole('button', { name: 'Retry' }).click();
  await page.locator(`tr[data-lb-id="${lbId}"]`).waitFor();

  begin('an unknown load balancer says so instead of a blank page');
  await page.goto(`${base}/#/lb/00000000-0000-4000-8000-000000000000`);
  await page.getByRole('heading', { name: 'Load balancer not found' }).waitFor();

  assert(pageErrors.length === 0, `no script errors in the page: ${pageErrors.join(' | ')}`);
} catch (err) {
  failed = err;
  await shot('99-failure', { fullPage: true }).catch(() => {});
}

await browser.close();
for (const member of members) member.server.close();
clearTimeout(guard);
if (failed) {
  console.error(`FAIL at step "${step}": ${failed.message || failed}`);
  process.exit(1);
}
log('all steps passed');
