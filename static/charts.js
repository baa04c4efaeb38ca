// Traffic graphs over the last hour, drawn by uPlot (static/vendor/uplot,
// loaded as a classic script that defines window.uPlot). One chart per
// listener and one for the load balancer (the sum). A chart survives the
// page's re-renders: it is kept by key, moved into the new tree and given
// the new samples, so hovering and sizing are not lost every few seconds.
import { h, formatBytes } from './dom.js';

const charts = new Map();

/** Samples as uPlot's columns: time (s), bytes in/s, bytes out/s, connections/s, active. */
function columns(samples) {
  return [
    samples.map((s) => s.at_ms / 1000),
    samples.map((s) => s.bytes_in_per_sec),
    samples.map((s) => s.bytes_out_per_sec),
    samples.map((s) => s.connections_per_sec),
    samples.map((s) => s.active_connections),
  ];
}

const rate = (v) => (v === null || v === undefined ? '—' : `${formatBytes(Math.round(v))}/s`);
const count = (v) => (v === null || v === undefined ? '—' : (Math.round(v * 100) / 100).toLocaleString('en-US'));

function options(width) {
  return {
    width,
    height: 170,
    cursor: { drag: { x: false, y: false } },
    legend: { live: true },
    scales: { x: { time: true }, bytes: { range: (u, min, max) => [0, Math.max(max, 1024)] }, conns: { range: (u, min, max) => [0, Math.max(max, 1)] } },
    axes: [
      { stroke: '#64748b', grid: { stroke: 'rgba(100,116,139,.15)' } },
      { scale: 'bytes', stroke: '#64748b', size: 70, values: (u, vals) => vals.map((v) => formatBytes(v)), grid: { stroke: 'rgba(100,116,139,.15)' } },
      { scale: 'conns', side: 1, stroke: '#64748b', size: 50, grid: { show: false } },
    ],
    series: [
      {},
      { label: 'Bytes in', scale: 'bytes', stroke: '#2563eb', width: 1.5, fill: 'rgba(37,99,235,.08)', value: (u, v) => rate(v) },
      { label: 'Bytes out', scale: 'bytes', stroke: '#7c3aed', width: 1.5, value: (u, v) => rate(v) },
      { label: 'Connections/s', scale: 'conns', stroke: '#16a34a', width: 1.5, value: (u, v) => count(v) },
      { label: 'Active', scale: 'conns', stroke: '#ea580c', width: 1.5, dash: [4, 3], value: (u, v) => count(v) },
    ],
  };
}

/**
 * The chart element for `key` showing `history` ({interval_secs, samples}).
 * `data-points` and `data-last-*` on the element say what it draws (for
 * people inspecting it and for the browser test).
 */
export function trafficChart(key, title, history) {
  const samples = (history && history.samples) || [];
  let entry = charts.get(key);
  if (!entry) {
    const plotBox = h('div', { class: 'chart-plot' });
    const box = h('figure', { class: 'chart', dataset: { chart: key } },
      h('figcaption', { class: 'chart-title' }, title, h('span', { class: 'chart-note muted small' }, '')),
      plotBox,
      h('p', { class: 'chart-empty muted small' }, 'Collecting samples… the graph starts after two of them.'));
    entry = { box, plotBox, plot: null };
    charts.set(key, entry);
  }
  const { box } = entry;
  const last = samples[samples.length - 1];
  box.dataset.points = String(samples.length);
  box.dataset.lastConnections = last ? String(last.connections_per_sec) : '0';
  box.dataset.lastBytesOut = last ? String(last.bytes_out_per_sec) : '0';
  box.dataset.lastBytesIn = last ? String(last.bytes_in_per_sec) : '0';
  box.querySelector('.chart-empty').hidden = samples.length > 0;
  box.querySelector('.chart-note').textContent = history
    ? ` · last hour, a sample every ${history.interval_secs} s` : '';
  const data = columns(samples);
  if (!window.uPlot) return box;
  if (!entry.plot) {
    // Sized once it is in the page: uPlot needs a width.
    requestAnimationFrame(() => {
      if (entry.plot || !box.isConnected) return;
      entry.plot = new window.uPlot(options(Math.max(260, entry.plotBox.clientWidth)), entry.data, entry.plotBox);
    });
  } else {
    entry.plot.setData(data);
  }
  entry.data = data;
  return box;
}

/** Forget charts whose keys are not in `keep` (a listener deleted, another page). */
export function pruneCharts(keep) {
  for (const [key, entry] of charts) {
    if (!keep.has(key)) {
      if (entry.plot) entry.plot.destroy();
      charts.delete(key);
    }
  }
}

// Charts follow the page's width.
window.addEventListener('resize', () => {
  for (const entry of charts.values()) {
    if (entry.plot && entry.box.isConnected) entry.plot.setSize({ width: Math.max(260, entry.plotBox.clientWidth), height: 170 });
  }
});
