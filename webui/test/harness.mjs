// Test harness for the web UI's browser tests: a real `skydive allinone` on free loopback
// ports with its own history directory, Debian's chromium driven by playwright-core, and a
// network lab (namespaces, veths, a Linux bridge) under unique names that is removed even
// when a test fails or the process is interrupted.

import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, existsSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import net from 'node:net';
import { chromium } from 'playwright-core';

export const WEBUI = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const REPO = resolve(WEBUI, '..');
export const RESULTS = join(WEBUI, 'test-results');
export const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';

/** The flags that work on this machine's closed network (no background connections). */
export const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

export const isRoot = () => typeof process.getuid === 'function' && process.getuid() === 0;

/** Why the browser tests cannot run here, or null. */
export function cannotRun() {
  if (!existsSync(CHROMIUM)) return `${CHROMIUM} is missing (apt-get install chromium)`;
  if (!existsSync(join(WEBUI, 'node_modules', 'cytoscape'))) return 'webui/node_modules is missing (npm ci in webui/)';
  return null;
}

/** A free TCP port on 127.0.0.1. */
export function freePort() {
  return new Promise((ok, fail) => {
    const s = net.createServer();
    s.once('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const { port } = /** @type {net.AddressInfo} */ (s.address());
      s.close(() => ok(port));
    });
  });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls `fn` until it returns a truthy value, or throws with `what` after `timeoutMs`. */
export async function waitFor(what, fn, timeoutMs = 15000, everyMs = 100) {
  const t0 = Date.now();
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) { last = e; }
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${last.message})` : ''}`);
    await sleep(everyMs);
  }
}

/**
 * `skydive allinone` (or `analyzer`) on free ports. `bin` defaults to the debug build.
 */
export class Skydive {
  /**
   * @param {{command?: string, bin?: string, env?: Record<string, string>, config?: string}} [o]
   *   config: YAML written to a file passed with -c
   */
  static async start({ command = 'allinone', bin = process.env.SKYDIVE_BIN ?? join(REPO, 'target', 'debug', 'skydive'), env = {}, config } = {}) {
    if (!existsSync(bin)) throw new Error(`${bin} is missing: cargo build --bin skydive`);
    const s = new Skydive();
    s.dir = mkdtempSync(join(tmpdir(), 'skydive-webui-'));
    s.port = await freePort();
    s.agentPort = await freePort();
    s.hostId = `webui-test-${process.pid}`;
    s.log = join(s.dir, 'skydive.log');
    s.url = `http://127.0.0.1:${s.port}`;
    s.agentUrl = `http://127.0.0.1:${s.agentPort}`;
    const { openSync } = await import('node:fs');
    const out = openSync(s.log, 'a');
    const args = [command];
    if (config) {
      writeFileSync(join(s.dir, 'skydive.yml'), config);
      args.push('-c', join(s.dir, 'skydive.yml'));
    }
    s.proc = spawn(bin, args, {
      env: {
        ...process.env,
        SKYDIVE_HOST_ID: s.hostId,
        SKYDIVE_ANALYZER_LISTEN: `127.0.0.1:${s.port}`,
        SKYDIVE_AGENT_LISTEN: `127.0.0.1:${s.agentPort}`,
        SKYDIVE_STORAGE_DATA_DIR: join(s.dir, 'data'),
        RUST_LOG: process.env.RUST_LOG ?? 'info',
        ...env,
      },
      stdio: ['ignore', out, out],
    });
    s.exited = new Promise((r) => s.proc.once('exit', (code, sig) => r({ code, sig })));
    await waitFor(`${bin} ${command} to answer on ${s.url}`, async () => {
      if (s.proc.exitCode !== null) throw new Error(`skydive exited with ${s.proc.exitCode}; log: ${s.log}`);
      const r = await fetch(`${s.url}/api`);
      return r.ok;
    }, 30000, 200);
    return s;
  }

  async api(method, path, body) {
    const r = await fetch(`${this.url}${path}`, {
      method, body: body === undefined ? undefined : JSON.stringify(body),
      headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
    });
    const text = await r.text();
    let json = null;
    try { json = text ? JSON.parse(text) : null; } catch { /* not JSON */ }
    return { status: r.status, json, text };
  }

  async gremlin(q) {
    const r = await this.api('POST', '/api/topology', { GremlinQuery: q });
    if (r.status !== 200) throw new Error(`${q}: ${r.status} ${r.text}`);
    return r.json;
  }

  async stop() {
    if (this.proc && this.proc.exitCode === null) {
      this.proc.kill('SIGTERM');
      const t = setTimeout(() => this.proc.kill('SIGKILL'), 10000);
      await this.exited;
      clearTimeout(t);
    }
  }

  /** Removes the data directory (keeps it, with the log, when `keep`). */
  cleanup(keep = false) {
    if (!keep) rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Debian's chromium, a fresh profile, one page. */
export async function openBrowser() {
  const profile = mkdtempSync(join(tmpdir(), 'skydive-chromium-'));
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1400, height: 900 },
  });
  const page = ctx.pages()[0] ?? (await ctx.newPage());
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  // API errors the tests provoke are logged by the browser as failed loads: not page errors.
  page.on('console', (m) => { if (m.type() === 'error' && !/^Failed to load resource/.test(m.text())) errors.push(m.text()); });
  return {
    ctx, page, errors,
    async close() {
      await ctx.close().catch(() => {});
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/**
 * Opens `url` in `page`, and opens it again (up to 3 times in all) when the load lost a
 * request to `net::ERR_NETWORK_CHANGED`: the tests' labs add interfaces to this host's
 * namespace (veth ends, OVS ports, their IPv6 addresses appearing a moment later), and
 * Chromium aborts the requests in flight whenever the host's network changes. A module of
 * the UI lost that way leaves the page unbooted, through no fault of the UI.
 */
export async function load(page, url, opts = {}) {
  for (let attempt = 1; ; attempt++) {
    let changed = false;
    const onFail = (r) => { if (/ERR_NETWORK_CHANGED/.test(r.failure()?.errorText ?? '')) changed = true; };
    page.on('requestfailed', onFail);
    try {
      await page.goto(url, opts);
    } finally {
      page.off('requestfailed', onFail);
    }
    if (!changed || attempt === 3) return;
    console.error(`# ${url}: a request was lost to a network change of the host, loading again`);
  }
}

/** Saves a screenshot under webui/test-results/ (git-ignored). */
export async function screenshot(page, name) {
  mkdirSync(RESULTS, { recursive: true });
  const file = join(RESULTS, `${name.replace(/[^A-Za-z0-9_.-]+/g, '-').slice(0, 80)}.png`);
  await page.screenshot({ path: file }).catch(() => {});
  return file;
}

let labCounter = 0;
/** Every lab and OVS alive, removed on exit or signal if a test could not. */
const liveLabs = new Set();
const liveOvs = new Set();
function cleanupAll() {
  for (const o of liveOvs) o.stop();
  for (const l of liveLabs) l.cleanup();
}
process.once('exit', cleanupAll);
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.once(sig, () => { cleanupAll(); process.exit(130); });
}

function ip(...args) {
  return execFileSync('ip', args, { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
}

/**
 * Namespaces, veths and a Linux bridge under names unique to this process
 * (`skw<pid>x<n>…`, at most 15 characters for interfaces).
 *
 * Each namespace is also bind-mounted in `runPath`, a directory of the lab's own: an agent
 * given it as `agent.topology.netns.run_path` sees the lab's namespaces and not the others
 * of the machine (other tests and benchmarks may hold hundreds in /var/run/netns).
 */
export class Lab {
  constructor() {
    labCounter++;
    this.prefix = `skw${process.pid % 100000}x${labCounter}`;
    this.runPath = mkdtempSync(join(tmpdir(), 'skydive-webui-netns-'));
    /** @type {string[]} */
    this.namespaces = [];
    /** @type {string[]} */
    this.links = [];
    liveLabs.add(this);
  }

  name(suffix) { return `${this.prefix}${suffix}`; }

  netns(suffix) {
    const n = this.name(suffix);
    ip('netns', 'add', n);
    this.namespaces.push(n);
    ip('-n', n, 'link', 'set', 'lo', 'up');
    writeFileSync(join(this.runPath, n), '');
    execFileSync('mount', ['--bind', `/var/run/netns/${n}`, join(this.runPath, n)], { stdio: ['ignore', 'pipe', 'pipe'] });
    return n;
  }

  /** Removes namespace `n`'s mount from `runPath`. */
  unbind(n) {
    const m = join(this.runPath, n);
    try { execFileSync('umount', [m], { stdio: 'ignore' }); } catch { /* not mounted */ }
    rmSync(m, { force: true });
  }

  bridge(suffix) {
    const b = this.name(suffix);
    ip('link', 'add', b, 'type', 'bridge');
    this.links.push(b);
    ip('link', 'set', b, 'up');
    return b;
  }

  /** A veth from the host (plugged in `bridge`) to `eth0` in `ns`, with an address. */
  plug(ns, bridge, hostSuffix, addr) {
    const host = this.name(hostSuffix);
    ip('link', 'add', host, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns);
    this.links.push(host);
    ip('link', 'set', host, 'master', bridge, 'up');
    ip('-n', ns, 'link', 'set', 'eth0', 'up');
    if (addr) ip('-n', ns, 'addr', 'add', addr, 'dev', 'eth0');
    return host;
  }

  /**
   * A veth from the switch's namespace (a port of OVS bridge `bridge`; the host namespace if
   * `ovs` runs there) to `eth0` in `ns`. The userspace (`netdev`) datapath does not fill in
   * checksums a veth leaves to offload: ICMP crosses it, TCP would need
   * `ethtool -K eth0 tx off` in `ns` first (the tests only ping).
   */
  plugOvs(ns, ovs, bridge, hostSuffix, addr) {
    const host = this.name(hostSuffix);
    const inSwitch = ovs.netns ? ['-n', ovs.netns] : [];
    ip(...inSwitch, 'link', 'add', host, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns);
    // In the switch's namespace, the veth goes with it.
    if (!ovs.netns) this.links.push(host);
    ip(...inSwitch, 'link', 'set', host, 'up');
    ovs.vsctl('add-port', bridge, host);
    ip('-n', ns, 'link', 'set', 'eth0', 'up');
    if (addr) ip('-n', ns, 'addr', 'add', addr, 'dev', 'eth0');
    return host;
  }

  deleteNetns(n) {
    this.unbind(n);
    ip('netns', 'del', n);
    this.namespaces = this.namespaces.filter((x) => x !== n);
  }

  cleanup() {
    for (const l of this.links.reverse()) { try { ip('link', 'del', l); } catch { /* gone with its namespace */ } }
    for (const n of this.namespaces.reverse()) {
      this.unbind(n);
      try { ip('netns', 'del', n); } catch { /* already gone */ }
    }
    this.links = []; this.namespaces = [];
    rmSync(this.runPath, { recursive: true, force: true });
    liveLabs.delete(this);
  }
}

/**
 * A private Open vSwitch: ovsdb-server with its database, sockets and logs in a directory of
 * its own, and ovs-vswitchd (userspace `netdev` datapath) in a namespace of its own, as
 * `tests/lab` does: two vswitchd with netdev bridges in one namespace both want the
 * `ovs-netdev` tap, and the host namespace may hold another one already (a demo, another
 * test). Its bridges' taps and the veth ends plugged into them live there; the agent reaches
 * ovsdb-server over its unix socket, and opens its sFlow collectors in that namespace
 * (`agent.flow.sflow.netns`). Stopped on `stop()` or at exit.
 */
export class Ovs {
  /** Why OVS cannot run here, or null. */
  static unavailable() {
    for (const cmd of ['ovsdb-server', 'ovsdb-tool', 'ovs-vsctl', 'ovs-appctl', 'ovs-vswitchd']) {
      try { execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }); } catch { return `\`${cmd}\` is not installed (apt-get install openvswitch-switch)`; }
    }
    if (!existsSync('/usr/share/openvswitch/vswitch.ovsschema')) return 'the OVS schema /usr/share/openvswitch/vswitch.ovsschema is missing';
    return null;
  }

  /** @param {string} [netns] where ovs-vswitchd runs (a namespace under /var/run/netns); default: here */
  static start(netns) {
    const o = new Ovs();
    o.netns = netns ?? '';
    o.dir = mkdtempSync(join(tmpdir(), 'skydive-webui-ovs-'));
    liveOvs.add(o);
    const p = (f) => join(o.dir, f);
    o.run('ovsdb-tool', ['create', p('conf.db'), '/usr/share/openvswitch/vswitch.ovsschema']);
    o.run('ovsdb-server', [p('conf.db'), `--remote=punix:${p('db.sock')}`, `--pidfile=${p('ovsdb-server.pid')}`,
      `--unixctl=${p('ovsdb-server.ctl')}`, `--log-file=${p('ovsdb-server.log')}`, '-vconsole:off', '--detach']);
    o.vsctl('--no-wait', 'init');
    const vswitchd = ['ovs-vswitchd', `unix:${p('db.sock')}`, `--pidfile=${p('ovs-vswitchd.pid')}`, `--unixctl=${p('ovs-vswitchd.ctl')}`,
      `--log-file=${p('ovs-vswitchd.log')}`, '-vconsole:off', '--detach'];
    if (o.netns) o.run('ip', ['netns', 'exec', o.netns, ...vswitchd]);
    else o.run(vswitchd[0], vswitchd.slice(1));
    o.address = `unix://${p('db.sock')}`;
    return o;
  }

  run(cmd, args) {
    return execFileSync(cmd, args, {
      env: { ...process.env, OVS_RUNDIR: this.dir, OVS_LOGDIR: this.dir, OVS_DBDIR: this.dir, OVS_SYSCONFDIR: this.dir },
      stdio: ['ignore', 'pipe', 'pipe'],
    }).toString().trim();
  }

  vsctl(...args) {
    return this.run('ovs-vsctl', [`--db=unix:${join(this.dir, 'db.sock')}`, '--timeout=20', ...args]);
  }

  /** A netdev bridge. */
  bridge(name) {
    this.vsctl('add-br', name, '--', 'set', 'bridge', name, 'datapath_type=netdev');
    return name;
  }

  stop() {
    if (!this.dir) return;
    for (const [daemon, extra] of [['ovs-vswitchd', ['--cleanup']], ['ovsdb-server', []]]) {
      const pidFile = join(this.dir, `${daemon}.pid`);
      let pid = null;
      try { pid = Number(readFileSync(pidFile, 'utf8').trim()); } catch { /* not started */ }
      try { this.run('ovs-appctl', ['-t', join(this.dir, `${daemon}.ctl`), 'exit', ...extra]); } catch { /* gone */ }
      if (pid) {
        const t0 = Date.now();
        while (existsSync(`/proc/${pid}`) && Date.now() - t0 < 5000) execFileSync('sleep', ['0.05']);
        if (existsSync(`/proc/${pid}`)) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
      }
    }
    rmSync(this.dir, { recursive: true, force: true });
    this.dir = '';
    liveOvs.delete(this);
  }
}

/** Writes a note beside the screenshots (what was skipped and why). */
export function note(name, text) {
  mkdirSync(RESULTS, { recursive: true });
  writeFileSync(join(RESULTS, `${name}.txt`), `${text}\n`);
}
