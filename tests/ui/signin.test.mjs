// Browser test of the web UI's sign-in, against a Ballast in
// `[auth] mode = "local"` (bootstrapped, with one member user):
//
//   UI_TEST_ADMIN=user:password:project UI_TEST_MEMBER=user:password:project \
//     node tests/ui/signin.test.mjs BASE_URL [SCREENSHOT_DIR]
//
// Signs in (a wrong password first, then by keyboard alone), checks the
// header and that every API call carries the token, creates a load
// balancer, is sent back to sign-in when the token is revoked, signs out
// (the token then answers 401), and switches an admin's project view.
// Exits 0 when every step passed; otherwise prints the failing step and exits 1.
import { args, assert, begin, openBrowser, randomHost, run } from './harness.mjs';

const { base, shotDir } = args('signin.test.mjs', 120000);
const account = (name) => {
  const [user, password, project] = (process.env[name] || '').split(':');
  if (!user || !password || !project) {
    console.error(`FAIL: ${name} must be user:password:project`);
    process.exit(2);
  }
  return { user, password, project };
};
const admin = account('UI_TEST_ADMIN');
const member = account('UI_TEST_MEMBER');

/** A token of `who` from the API itself (Keystone's password login). */
async function login(who) {
  const res = await fetch(`${base}/v3/auth/tokens`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ auth: {
      identity: { methods: ['password'], password: { user: { name: who.user, domain: { id: 'default' }, password: who.password } } },
      scope: { project: { name: who.project, domain: { id: 'default' } } },
    } }),
  });
  assert(res.status === 201, `the API signs ${who.user} in (answered ${res.status})`);
  return res.headers.get('x-subject-token');
}
/** The status of GET `path` with `token`. */
const statusWith = async (path, token) => (await fetch(`${base}${path}`, { headers: { 'x-auth-token': token } })).status;

// A VIP chosen at random in the first host network (see ui.test.mjs).
const probe = await login(member);
const networks = await (await fetch(`${base}/v1/networks`, { headers: { 'x-auth-token': probe } })).json();
if (!Array.isArray(networks) || !networks.length) {
  console.error('FAIL: GET /v1/networks listed no host network');
  process.exit(1);
}
const vip = randomHost(networks[0].cidr);

const { browser, page, pageErrors, shot } = await openBrowser(shotDir);
// Every API call the page makes, with the token it carried.
const calls = [];
page.on('request', (req) => {
  const url = new URL(req.url());
  if (/^\/v[123](\.0)?\//.test(url.pathname)) calls.push({ path: `${req.method()} ${url.pathname}`, token: req.headers()['x-auth-token'] || null });
});
const dialog = () => page.locator('dialog[open]');
const signInHeading = () => page.getByRole('heading', { name: 'Sign in to Ballast', level: 1 });
const storedToken = () => page.evaluate(() => sessionStorage.getItem('ballast.token'));
const session = page.locator('#session');

await run({
  shot,
  failureShot: '99-signin-failure',
  cleanup: () => browser.close(),
}, async () => {
  begin('without a token the page asks to sign in');
  await page.goto(`${base}/#/`);
  await signInHeading().waitFor();
  assert(await session.isHidden(), 'the header shows no session');
  for (const label of ['User name', 'Password', 'Project']) {
    assert(await page.getByLabel(label, { exact: true }).count() === 1, `the ${label} input is labelled`);
  }
  assert(await page.getByLabel('Password', { exact: true }).getAttribute('type') === 'password', 'the password is masked');
  await shot('11-signin');

  begin('a wrong password keeps the page, says why and stores nothing');
  await page.getByLabel('User name', { exact: true }).fill(member.user);
  await page.getByLabel('Password', { exact: true }).fill('not-the-password');
  await page.getByLabel('Project', { exact: true }).fill(member.project);
  await page.getByRole('button', { name: 'Sign in' }).click();
  const refusal = page.locator('.signin-form .form-error:not([hidden])');
  await refusal.waitFor();
  assert(/not valid/.test(await refusal.innerText()), `the refusal says why: ${await refusal.innerText()}`);
  assert(await storedToken() === null, 'no token is stored');
  assert(await page.getByLabel('Password', { exact: true }).inputValue() === '', 'the wrong password is cleared');
  assert(await page.evaluate(() => document.activeElement && document.activeElement.id) === 'signin-password', 'focus is back on the password');

  begin('signing in with the keyboard alone');
  await page.getByLabel('User name', { exact: true }).focus();
  await page.keyboard.press('Control+A');
  await page.keyboard.type(member.user);
  await page.keyboard.press('Tab');
  await page.keyboard.type(member.password);
  await page.keyboard.press('Tab');
  assert(await page.evaluate(() => document.activeElement.id) === 'signin-project', 'Tab moves from password to project');
  await page.keyboard.press('Control+A');
  await page.keyboard.type(member.project);
  const firstCall = calls.length;
  await page.keyboard.press('Enter');
  await page.getByRole('heading', { name: 'Load balancers', level: 1 }).waitFor();

  begin('the header shows the user, role and project, and every call carries the token');
  const userBox = session.locator('[data-session="user"]');
  await userBox.waitFor();
  const userText = await userBox.innerText();
  assert(userText.includes(member.user) && userText.includes('member'), `the header names the user and role: ${userText}`);
  const projectText = await session.locator('[data-session="project"]').innerText();
  assert(projectText.includes(member.project), `the header names the project: ${projectText}`);
  const token = await storedToken();
  assert(token && token.length >= 32, 'the token is kept in sessionStorage');
  await page.waitForResponse((res) => new URL(res.url()).pathname === '/v1/loadbalancers');
  const after = calls.slice(firstCall).filter((c) => c.path !== 'POST /v3/auth/tokens');
  assert(after.length > 0, 'the page called the API');
  assert(after.every((c) => c.token === token), `every call carried X-Auth-Token: ${after.filter((c) => c.token !== token).map((c) => c.path).join(', ')}`);
  await shot('12-signed-in');

  begin('a member creates a load balancer in their own project');
  await page.getByRole('button', { name: /Create (your first )?load balancer/ }).first().click();
  assert(await dialog().getByLabel(/^Project/).count() === 0, 'a member is not asked for a project');
  await dialog().getByLabel(/^Name/).fill('team-lb');
  await dialog().getByLabel('VIP address').fill(vip);
  await dialog().getByRole('button', { name: 'Create' }).click();
  await page.waitForURL(/#\/lb\/[0-9a-f-]{36}$/);
  const lbHash = new URL(page.url()).hash;
  await page.getByRole('heading', { name: 'team-lb', level: 1 }).waitFor();
  await page.locator('.card-summary .badge[data-kind="provisioning"][data-status="ACTIVE"]').waitFor();
  const project = await page.locator('.card-summary .fact', { hasText: 'Project' }).locator('dd').innerText();
  assert(project.trim() === member.project, `the load balancer is in the member's project: ${project}`);

  begin('a reload keeps the session');
  await page.reload();
  await page.getByRole('heading', { name: 'team-lb', level: 1 }).waitFor();
  assert((await userBox.innerText()).includes(member.user), 'still signed in after a reload');

  begin('a revoked token sends the page back to sign-in, which returns to where it was');
  const revoked = await fetch(`${base}/v3/auth/tokens`, { method: 'DELETE', headers: { 'x-auth-token': token, 'x-subject-token': token } });
  assert(revoked.status === 204, `the token is revoked out of band (answered ${revoked.status})`);
  await signInHeading().waitFor();
  const notice = await page.locator('.signin-form .notice').innerText();
  assert(/session has ended/.test(notice), `the page says why: ${notice}`);
  assert(await storedToken() === null, 'the revoked token is forgotten');
  assert(await session.isHidden(), 'the header shows no session');
  assert(await page.getByLabel('User name', { exact: true }).inputValue() === member.user, 'the user name is kept');
  assert(await page.getByLabel('Project', { exact: true }).inputValue() === member.project, 'the project is kept');
  assert(await page.evaluate(() => document.activeElement.id) === 'signin-password', 'focus waits on the password');
  await shot('13-session-ended');
  await page.keyboard.type(member.password);
  await page.keyboard.press('Enter');
  await page.getByRole('heading', { name: 'team-lb', level: 1 }).waitFor();
  assert(new URL(page.url()).hash === lbHash, 'signing in again returns to the same page');

  begin('signing out revokes the token');
  const second = await storedToken();
  assert(second && second !== token, 'a new token was issued');
  assert(await statusWith('/v1/loadbalancers', second) === 200, 'the new token works');
  await session.getByRole('button', { name: 'Sign out' }).click();
  await signInHeading().waitFor();
  assert(/signed out/.test(await page.locator('.signin-form .notice').innerText()), 'the page says you signed out');
  assert(await storedToken() === null, 'the token is forgotten');
  assert(await statusWith('/v1/loadbalancers', second) === 401, 'the signed-out token answers 401');

  begin('an admin sees every project and picks a project view');
  await page.getByLabel('User name', { exact: true }).fill(admin.user);
  await page.getByLabel('Password', { exact: true }).fill(admin.password);
  await page.getByLabel('Project', { exact: true }).fill(admin.project);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'team-lb', level: 1 }).waitFor();
  const adminUser = await session.locator('[data-session="user"]').innerText();
  assert(adminUser.includes(admin.user) && adminUser.includes('admin'), `the header names the admin: ${adminUser}`);
  assert((await session.locator('[data-session="project"]').innerText()).includes(admin.project), 'the header names the admin\'s project');
  const view = session.getByLabel('Project view');
  const options = await view.locator('option').allInnerTexts();
  assert(options[0] === 'All projects' && options.includes(admin.project) && options.includes(member.project), `the view lists every project: ${options.join(', ')}`);
  await page.goto(`${base}/#/`);
  const row = page.locator('tr', { hasText: 'team-lb' });
  await row.waitFor();
  const owner = await row.locator('td[data-label="Project"]').innerText();
  assert(owner.trim() === member.project, `across all projects each row names its project: ${owner}`);
  await view.selectOption({ label: admin.project });
  await page.getByRole('heading', { name: 'No load balancers yet' }).waitFor();
  await view.selectOption({ label: member.project });
  await row.waitFor();
  assert((await page.locator('.page-sub').innerText()).includes(`project ${member.project}`), 'the list says which project it shows');
  await page.getByRole('button', { name: 'Create load balancer' }).click();
  const projectSelect = dialog().getByLabel(/^Project/);
  const picked = await projectSelect.evaluate((el) => el.options[el.selectedIndex].textContent);
  assert(picked === member.project, `a new load balancer goes to the viewed project by default: ${picked}`);
  await page.keyboard.press('Escape');
  await dialog().waitFor({ state: 'detached' });
  await shot('14-admin-project-view');

  begin('the header fits a phone screen');
  await page.setViewportSize({ width: 390, height: 844 });
  await page.evaluate(() => window.scrollTo(0, 0));
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert(overflow <= 0, `no horizontal scrolling on a phone (overflow ${overflow}px)`);
  assert(await session.getByRole('button', { name: 'Sign out' }).isVisible(), 'sign-out is reachable on a phone');
  await shot('15-signed-in-phone');
  await page.setViewportSize({ width: 1280, height: 860 });

  begin('the admin signs out and the token is revoked');
  const adminToken = await storedToken();
  await session.getByRole('button', { name: 'Sign out' }).focus();
  await page.keyboard.press('Enter');
  await signInHeading().waitFor();
  assert(await statusWith('/v1/loadbalancers', adminToken) === 401, 'the admin\'s token answers 401');

  assert(pageErrors.length === 0, `no script errors in the page: ${pageErrors.join(' | ')}`);
});
