// The polling life cycle shared by the screens: first load (spinner, then
// the page or an error panel with Retry), then refreshes that keep the last
// good page on screen and show a banner while the API cannot be reached.
import { h, errorPanel, isPending } from './dom.js';

/** Refresh interval while something is PENDING_* (ms). */
export const PENDING_INTERVAL_MS = 600;
/** Refresh interval when everything is settled (ms). */
export const SETTLED_INTERVAL_MS = 3000;
/** Refresh interval after a failed refresh (ms). */
const FAILED_INTERVAL_MS = 4000;

export class PollingView {
  constructor(shell) {
    this.shell = shell;
    this.stopped = false;
    this.timer = null;
    this.inflight = false;
    this.again = false;
    this.loaded = false;
    this.failed = false;
  }

  start() {
    this.shell.render(h('div', { class: 'loading', role: 'status' }, h('span', { class: 'spinner', 'aria-hidden': 'true' }), 'Loading…'));
    this.tick();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  /** Refresh after `ms`, sooner than the regular schedule. */
  refreshSoon(ms = 150) {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.tick(), ms);
  }

  /** Whether anything shown is still PENDING_* (subclasses override). */
  pending() { return false; }

  /** Statuses that make the view poll fast. */
  static anyPending(...statuses) { return statuses.some(isPending); }

  async tick() {
    clearTimeout(this.timer);
    if (this.stopped) return;
    if (this.inflight) { this.again = true; return; }
    this.inflight = true;
    let ok = false;
    try {
      await this.load();
      ok = true;
    } catch (err) {
      if (!this.stopped) this.fail(err);
    } finally {
      this.inflight = false;
    }
    if (this.stopped) return;
    if (ok) {
      this.loaded = true;
      this.failed = false;
      this.shell.clearConnectionProblem();
      this.draw();
    }
    if (this.done) return;
    if (this.again) { this.again = false; this.tick(); return; }
    const wait = this.failed ? FAILED_INTERVAL_MS : this.pending() ? PENDING_INTERVAL_MS : SETTLED_INTERVAL_MS;
    this.timer = setTimeout(() => this.tick(), wait);
  }

  fail(err) {
    this.failed = true;
    if (this.handleError && this.handleError(err)) return;
    const retry = () => { this.shell.clearConnectionProblem(); this.refreshSoon(0); };
    if (this.loaded) this.shell.showConnectionProblem(err, retry);
    else this.shell.render(errorPanel(err.isNetwork ? 'Cannot reach Ballast' : 'Could not load this page', err, retry,
      'This page retries by itself every few seconds.'));
  }
}
