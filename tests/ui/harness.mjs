// What every browser scenario of Ballast's web UI shares: the command
// line (BASE_URL [SCREENSHOT_DIR]) and a bound on the whole run, named steps,
// headless Debian chromium through playwright-core with the page's script
// errors collected, screenshots, and random VIP addresses.
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';

/** Time one step may wait for the page (ms). */
export const STEP_TIMEOUT_MS = 15000;

let guard = null;

/**
 * The scenario's arguments; exits with usage when BASE_URL is missing.
 * From here on the whole run is bounded by `wholeMs`.
 */
export function args(script, wholeMs) {
  guard = setTimeout(() => { console.error('FAIL: the whole UI test took longer than', wholeMs, 'ms'); process.exit(1); }, wholeMs);
  const base = (process.argv[2] || '').replace(/\/$/, '');
  const shotDir = process.argv[3] || 'target/ui-screenshots';
  if (!base) {
    console.error(`usage: node ${script} BASE_URL [SCREENSHOT_DIR]`);
    process.exit(2);
  }
  fs.mkdirSync(shotDir, { recursive: true });
  return { base, shotDir };
}

let step = 'start';
export const log = (msg) => console.log(`ui-test: ${msg}`);
/** Names the step that runs now (the failure message names it). */
export function begin(name) { step = name; log(name); }
export function assert(cond, message) { if (!cond) throw new Error(`assertion failed: ${message}`); }

/** A random integer in lo..=hi. */
export function rand(lo, hi) { return lo + Math.floor(Math.random() * (hi - lo + 1)); }

/** A random host address of an IPv4 CIDR (never its first two or last). */
export function randomHost(cidr) {
  const [addr, bits] = cidr.split('/');
  const start = addr.split('.').reduce((n, octet) => n * 256 + Number(octet), 0);
  const size = 2 ** (32 - Number(bits));
  const n = start + rand(2, Math.max(2, size - 2));
  return [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join('.');
}

/**
 * Launches chromium and opens one page. Resolves to {browser, page,
 * pageErrors, shot(name, opts)}; `pageErrors` collects script errors (not
 * the "Failed to load resource" lines of 4xx answers a test provokes).
 */
export async function openBrowser(shotDir) {
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
    if (msg.type() === 'error' && !/Failed to load resource/.test(msg.text())) pageErrors.push(msg.text());
  });
  const shot = async (name, opts = {}) => {
    // Toasts are transient; keep them out of the pictures.
    await page.evaluate(() => { document.getElementById('toasts').replaceChildren(); return document.fonts && document.fonts.ready; });
    await page.screenshot({ path: path.join(shotDir, `${name}.png`), ...opts });
  };
  return { browser, page, pageErrors, shot };
}

/**
 * Runs `steps()`; on failure takes a last screenshot (`failureShot`), then
 * `cleanup()`, and exits 1 naming the failing step; prints "all steps
 * passed" otherwise.
 */
export async function run({ shot, failureShot = '99-failure', cleanup }, steps) {
  let failed = null;
  try {
    await steps();
  } catch (err) {
    failed = err;
    if (shot) await shot(failureShot, { fullPage: true }).catch(() => {});
  }
  await cleanup();
  clearTimeout(guard);
  if (failed) {
    console.error(`FAIL at step "${step}": ${failed.message || failed}`);
    process.exit(1);
  }
  log('all steps passed');
}
