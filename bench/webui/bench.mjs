// Web UI benchmark: time to first render and frames per second while panning and zooming,
// for synthetic topologies of 1k, 10k and 100k nodes, in Debian's headless chromium against
// a real `skydive analyzer`.
//
// For each size: a fresh analyzer (release build, temporary history) receives the graph as
// one `Sync` on /ws/publisher (sent from the browser, which has a WebSocket client), then a
// new page opens the UI and we read:
//   - first render: performance.now() (from navigation start) when the first drawn frame of
//     the synced graph is on screen (the app's test hook, `state.firstRenderMs`): page load,
//     /ws/subscriber SyncReply transfer and parse, layout, cytoscape;
//   - pan fps: animation frames per second during 3 s of mouse drags over the graph;
//   - zoom fps: the same during mouse-wheel zooming in and out;
//   - what was drawn (nodes, links) and how much of the graph was aggregated;
//   - zooming with the wheel into the middle until a host fills the window: how long until
//     the groups there open (semantic zoom), what is drawn then, and the pan fps there.
//
// Usage (from the repository root; needs webui/node_modules and /usr/bin/chromium):
//   cargo build --release --bin skydive
//   node bench/webui/bench.mjs [--sizes 1000,10000,100000] [--budget N] [--runs 3]
// Prints a Markdown table (median of the runs, min–max).

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync, openSync } from 'node:fs';
import { tmpdir, cpus } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import net from 'node:net';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const require = createRequire(join(REPO, 'webui', 'package.json'));
const { chromium } = require('playwright-core');

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const SIZES = opt('sizes', '1000,10000,100000').split(',').map(Number);
const RUNS = Number(opt('runs', '3'));
const BUDGET = opt('budget', '');
const BIN = opt('bin', join(REPO, 'target', 'release', 'skydive'));
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const freePort = () => new Promise((ok) => {
  const s = net.createServer();
  s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => ok(port)); });
});

async function startAnalyzer() {
  const dir = mkdtempSync(join(tmpdir(), 'skydive-bench-ui-'));
  const port = await freePort();
  const log = openSync(join(dir, 'analyzer.log'), 'a');
  const proc = spawn(BIN, ['analyzer'], {
    env: {
      ...process.env, SKYDIVE_HOST_ID: 'bench-ui', SKYDIVE_ANALYZER_LISTEN: `127.0.0.1:${port}`,
      SKYDIVE_STORAGE_DATA_DIR: join(dir, 'data'), RUST_LOG: 'warn',
    },
    stdio: ['ignore', log, log],
  });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    try { if ((await fetch(`${url}/api`)).ok) break; } catch { /* not yet */ }
    if (i > 150) throw new Error(`the analyzer did not start (log: ${dir}/analyzer.log)`);
    await sleep(200);
  }
  return {
    url,
    async stop() { proc.kill('SIGTERM'); await new Promise((r) => proc.once('exit', r)); rmSync(dir, { recursive: true, force: true }); },
  };
}

/**
 * Runs in the browser: builds a topology of about `n` nodes — hosts, each with a Linux bridge
 * and namespaces holding `lo` and `eth0`, whose veth peers are bridge ports; bridges of
 * consecutive hosts joined by a VXLAN tunnel link — and publishes it as one Sync.
 */
function publish(n) {
  const PER_NS = 4; // the namespace, its lo and eth0, and the host-side veth
  const NS_PER_HOST = 333;
  const perHost = 2 + NS_PER_HOST * PER_NS;
  const hosts = Math.max(1, Math.round(n / perHost));
  const nsPerHost = Math.max(1, Math.round((n / hosts - 2) / PER_NS));
  const nodes = [], edges = [];
  const node = (id, name, type, extra = {}) => nodes.push({ ID: id, Metadata: { Name: name, Type: type, ...extra } });
  const edge = (id, p, c, md) => edges.push({ ID: id, Parent: p, Child: c, Metadata: md });
  for (let h = 0; h < hosts; h++) {
    const H = `h${h}`;
    node(H, `host-${h}`, 'host');
    node(`${H}-br`, 'br0', 'bridge', { MTU: 1500 });
    edge(`${H}-o-br`, H, `${H}-br`, { RelationType: 'ownership' });
    if (h > 0) edge(`${H}-tun`, `h${h - 1}-br`, `${H}-br`, { RelationType: 'layer2', Type: 'vxlan' });
    for (let s = 0; s < nsPerHost; s++) {
      const S = `${H}-ns${s}`;
      node(S, `pod-${h}-${s}`, 'netns', { Path: `/var/run/netns/pod-${s}` });
      node(`${S}-lo`, 'lo', 'device', { MTU: 65536, State: 'UP' });
      node(`${S}-eth0`, 'eth0', 'veth', { MTU: 1500, State: 'UP', IPV4: [`10.${h % 256}.${s >> 8}.${s & 255}/16`] });
      node(`${S}-veth`, `veth${h}x${s}`, 'veth', { MTU: 1500, State: 'UP' });
      edge(`${S}-o`, H, S, { RelationType: 'ownership' });
      edge(`${S}-o-lo`, S, `${S}-lo`, { RelationType: 'ownership' });
      edge(`${S}-o-eth0`, S, `${S}-eth0`, { RelationType: 'ownership' });
      edge(`${S}-o-veth`, H, `${S}-veth`, { RelationType: 'ownership' });
      edge(`${S}-l2`, `${H}-br`, `${S}-veth`, { RelationType: 'layer2' });
      edge(`${S}-peer`, `${S}-veth`, `${S}-eth0`, { RelationType: 'layer2', Type: 'veth' });
    }
  }
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://${location.host}/ws/publisher?x-client-type=bench&x-host-id=bench`);
    ws.onerror = () => reject(new Error('publisher connection failed'));
    ws.onmessage = (ev) => {
      const m = JSON.parse(ev.data);
      if (m.Type === 'Error') reject(new Error(JSON.stringify(m.Obj)));
      if (m.Type === 'SyncReply' && m.UUID === 'done') { ws.close(); resolve({ nodes: nodes.length, edges: edges.length }); }
    };
    ws.onopen = () => {
      ws.send(JSON.stringify({ Namespace: 'Graph', Type: 'Sync', UUID: 'sync', Obj: { Nodes: nodes, Edges: edges } }));
      // Answered once the Sync is applied.
      ws.send(JSON.stringify({ Namespace: 'Graph', Type: 'SyncRequest', UUID: 'done', Obj: {} }));
    };
  });
}

/** Animation frames per second while `action` runs (in the page's own clock). */
async function fps(page, action) {
  await page.evaluate(() => {
    window.__frames = 0; window.__counting = true;
    const tick = () => { if (!window.__counting) return; window.__frames++; requestAnimationFrame(tick); };
    window.__t0 = performance.now();
    requestAnimationFrame(tick);
  });
  await action();
  return page.evaluate(() => { window.__counting = false; return (window.__frames * 1000) / (performance.now() - window.__t0); });
}

async function measure(browser, url, n) {
  const ctx = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  const page = await ctx.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${url}/${BUDGET ? `?budget=${BUDGET}` : ''}`);
  await page.waitForFunction(() => window.__skydive?.state.firstRenderMs != null, null, { timeout: 120000 });
  const first = await page.evaluate(() => ({
    ms: window.__skydive.state.firstRenderMs,
    syncToFrame: window.__skydive.state.firstSyncRenderMs,
    stats: window.__skydive.view.stats(),
  }));
  if (first.stats.nodes < n * 0.9) throw new Error(`the UI holds ${first.stats.nodes} nodes, expected ~${n}`);
  await sleep(500);
  const box = await page.locator('#cy').boundingBox();
  const cx = box.x + box.width / 2, cy = box.y + box.height / 2;
  // One long drag, back and forth, as a person pans: the frames drawn while it moves.
  const pan = await fps(page, async () => {
    const t0 = Date.now();
    await page.mouse.move(cx, cy);
    await page.mouse.down();
    for (let i = 0; Date.now() - t0 < 3000; i++) {
      const a = (i % 80) / 80 * 2 * Math.PI;
      await page.mouse.move(cx + Math.sin(a) * 300, cy + Math.sin(2 * a) * 150);
    }
    await page.mouse.up();
  });
  const zoom = await fps(page, async () => {
    const t0 = Date.now();
    let dir = 1;
    await page.mouse.move(cx, cy);
    while (Date.now() - t0 < 3000) {
      for (let i = 0; i < 10; i++) await page.mouse.wheel(0, dir * 120);
      dir = -dir;
    }
  });
  // Zoom into the middle of the graph with the wheel, a few notches at a time, until groups
  // open there (semantic zoom). Timed from the last notch to the frame that shows them
  // (including the 180 ms the UI waits for the wheel to stop).
  await page.evaluate(() => window.__skydive.view.fit());
  await sleep(300);
  // Aim at the collapsed group nearest the middle of the window.
  const aim = await page.evaluate(([w, h]) => {
    const { cy, view } = window.__skydive;
    let best = null, bestD = Infinity;
    for (const [id, n] of view.shownNodes) {
      if (n.kind !== 'collapsed') continue;
      const p = cy.getElementById(id).renderedPosition();
      const d = (p.x - w / 2) ** 2 + (p.y - h / 2) ** 2;
      if (d < bestD) { bestD = d; best = p; }
    }
    return best;
  }, [box.width, box.height]);
  if (aim) await page.mouse.move(box.x + aim.x, box.y + aim.y);
  let openMs = null;
  for (let step = 0; aim && step < 15 && openMs === null; step++) {
    const before = await page.evaluate(() => JSON.stringify(window.__skydive.view.stats()));
    for (let i = 0; i < 3; i++) await page.mouse.wheel(0, -240);
    const t0 = Date.now();
    try {
      // Opening a group may close others off screen: any change of what is drawn.
      await page.waitForFunction((n) => JSON.stringify(window.__skydive.view.stats()) !== n, before, { timeout: 3000, polling: 'raf' });
      openMs = Date.now() - t0;
    } catch { /* nothing opened at this zoom: closer */ }
  }
  await sleep(400);
  const after = await page.evaluate(() => window.__skydive.view.stats());
  const panIn = await fps(page, async () => {
    const t0 = Date.now();
    await page.mouse.move(cx, cy);
    await page.mouse.down();
    for (let i = 0; Date.now() - t0 < 3000; i++) {
      const a = (i % 80) / 80 * 2 * Math.PI;
      await page.mouse.move(cx + Math.sin(a) * 300, cy + Math.sin(2 * a) * 150);
    }
    await page.mouse.up();
  });
  await ctx.close();
  if (errors.length) throw new Error(`page errors: ${errors.join('; ')}`);
  return { first: first.ms, syncToFrame: first.syncToFrame, stats: first.stats, pan, zoom, after, openMs, panIn };
}

const med = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };
const range = (xs, d = 0) => `${Math.min(...xs).toFixed(d)}–${Math.max(...xs).toFixed(d)}`;

if (!existsSync(BIN)) { console.error(`${BIN} is missing: cargo build --release --bin skydive`); process.exit(1); }
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: CHROMIUM_ARGS });
const rows = [];
try {
  for (const n of SIZES) {
    const an = await startAnalyzer();
    try {
      const pub = await browser.newPage();
      await pub.goto(`${an.url}/api`);
      const t0 = Date.now();
      const sent = await pub.evaluate(publish, n);
      const publishMs = Date.now() - t0;
      await pub.close();
      const runs = [];
      for (let r = 0; r < RUNS; r++) runs.push(await measure(browser, an.url, n));
      const s = runs[0].stats, a = runs[0].after;
      rows.push({
        n: sent.nodes, edges: sent.edges, publishMs,
        first: runs.map((x) => x.first), sync: runs.map((x) => x.syncToFrame),
        pan: runs.map((x) => x.pan), zoom: runs.map((x) => x.zoom),
        drawn: `${s.drawnNodes} nodes / ${s.drawnEdges} links (${s.collapsed} collapsed groups)`,
        after: `${a.drawnNodes} / ${a.drawnEdges}`,
        open: runs.map((x) => x.openMs).filter((x) => x !== null),
        panIn: runs.map((x) => x.panIn),
      });
      console.error(`${sent.nodes} nodes: first render ${med(runs.map((x) => x.first)).toFixed(0)} ms, pan ${med(runs.map((x) => x.pan)).toFixed(0)} fps, zoom ${med(runs.map((x) => x.zoom)).toFixed(0)} fps`);
    } finally {
      await an.stop();
    }
  }
} finally {
  await browser.close();
}

console.log(`\nWeb UI, ${new Date().toISOString().slice(0, 16)}Z, ${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}), chromium headless (software rendering), 1400×900, budget ${BUDGET || 'default'}, ${RUNS} runs each (median, min–max):\n`);
console.log('| nodes | edges | first render | of which sync→frame | pan | wheel zoom | drawn at first render | zooming into a group: it opens in | then drawn | pan there |');
console.log('|---|---|---|---|---|---|---|---|---|---|');
for (const r of rows) {
  const open = r.open.length ? `${med(r.open).toFixed(0)} ms (${range(r.open)})` : 'nothing to open';
  console.log(`| ${r.n.toLocaleString('en-US')} | ${r.edges.toLocaleString('en-US')} | **${med(r.first).toFixed(0)} ms** (${range(r.first)}) | ${med(r.sync).toFixed(0)} ms | **${med(r.pan).toFixed(0)} fps** (${range(r.pan)}) | ${med(r.zoom).toFixed(0)} fps (${range(r.zoom)}) | ${r.drawn} | ${open} | ${r.after} | ${med(r.panIn).toFixed(0)} fps (${range(r.panIn)}) |`);
}
