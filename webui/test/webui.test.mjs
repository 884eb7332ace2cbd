// Browser tests of the web UI against a real `skydive allinone` and a real network lab.
// Run: npm test (in webui/), or scripts/test.d/webui.sh. The lab tests need root (they make
// network namespaces); without it they are skipped with a message, the rest still runs.
// Screenshots of each test end up in webui/test-results/.
//
// Assertions read the app's test hook (window.__skydive: cytoscape, model, state) and the DOM
// panels, never pixels.

import { describe, test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { Skydive, Lab, Ovs, openBrowser, load, screenshot, waitFor, sleep, isRoot, cannotRun, note, RESULTS } from './harness.mjs';

const why = cannotRun();
const NEED_ROOT = isRoot() ? false : 'needs root to build network namespaces (run scripts/test.sh as root)';

describe('web UI', { skip: why ?? false }, () => {
  /** @type {Skydive} */ let sd;
  /** @type {Awaited<ReturnType<typeof openBrowser>>} */ let br;
  /** @type {import('playwright-core').Page} */ let page;
  /** @type {Lab | null} */ let lab = null;
  /** @type {Ovs | null} */ let ovs = null;
  /** why there is no OVS bridge in the lab, or null @type {string | null} */
  let noOvs = 'needs root';
  const names = {};

  before(async () => {
    if (isRoot()) {
      lab = new Lab();
      names.br = lab.bridge('br');
      names.nsA = lab.netns('a');
      names.nsB = lab.netns('b');
      names.vA = lab.plug(names.nsA, names.br, 'va', '10.231.0.1/24');
      names.vB = lab.plug(names.nsB, names.br, 'vb', '10.231.0.2/24');
      // Skydive's seed walkthrough: an OVS bridge with two "VMs" on its ports.
      noOvs = Ovs.unavailable();
      if (!noOvs) {
        names.sw = lab.netns('sw');
        ovs = Ovs.start(names.sw);
        names.ovsbr = ovs.bridge(lab.name('ovs'));
        names.vm1 = lab.netns('m1');
        names.vm2 = lab.netns('m2');
        lab.plugOvs(names.vm1, ovs, names.ovsbr, 'p1', '10.231.1.1/24');
        lab.plugOvs(names.vm2, ovs, names.ovsbr, 'p2', '10.231.1.2/24');
      }
    }
    // The lab's namespaces only (lab.runPath); the ovsdb probe on the private OVS, and
    // ovssflow collectors where its vswitchd runs.
    const config = !lab ? undefined : [
      'agent:',
      '  topology:',
      `    netns: {run_path: ${lab.runPath}}`,
      ...(ovs ? ['    probes: [ovsdb]', '  flow:', `    sflow: {netns: ${names.sw}}`, 'ovs:', `  ovsdb: ${ovs.address}`] : []),
      '',
    ].join('\n');
    sd = await Skydive.start({ config });
    br = await openBrowser();
    page = br.page;
    // Generous: the first load of a debug build on a busy machine (shared with builds).
    await load(page, sd.url, { timeout: 90000 });
    await page.waitForFunction(() => window.__skydive?.state.syncs > 0, null, { timeout: 60000 });
  });

  afterEach(async (t) => {
    if (page) await screenshot(page, t.name);
  });

  after(async () => {
    await br?.close();
    await sd?.stop();
    ovs?.stop();
    lab?.cleanup();
    if (sd) {
      const { copyFileSync, mkdirSync } = await import('node:fs');
      mkdirSync(RESULTS, { recursive: true });
      try { copyFileSync(sd.log, `${RESULTS}/skydive.log`); } catch { /* no log */ }
      sd.cleanup();
    }
  });

  /** Evaluates in the page. */
  const js = (fn, arg) => page.evaluate(fn, arg);

  /** The ID of the node with this Name (and Type), as the UI's model has it. */
  const idOf = (name, type) => js(([n, t]) => {
    for (const x of window.__skydive.model.nodes.values()) {
      if (x.Metadata?.Name === n && (!t || x.Metadata?.Type === t)) return x.ID;
    }
    return null;
  }, [name, type]);

  /** Whether a node is drawn as itself (not hidden in a collapsed group). */
  const drawn = (id) => js((i) => window.__skydive.view.visibleFor(i) === i && window.__skydive.cy.getElementById(i).nonempty(), id);

  const waitDrawn = async (name, type) => {
    const id = await waitFor(`${type} ${name} in the UI`, () => idOf(name, type), 20000);
    await waitFor(`${name} drawn`, () => drawn(id), 10000);
    return id;
  };

  test('serves the UI and its libraries, on the analyzer and the agent', async () => {
    for (const base of [sd.url, sd.agentUrl]) {
      const r = await fetch(`${base}/`);
      assert.equal(r.status, 200, `${base}/`);
      assert.match(r.headers.get('content-type') ?? '', /text\/html/);
      assert.match(await r.text(), /importmap/);
      const lib = await fetch(`${base}/ui/vendor/cytoscape/dist/cytoscape.esm.min.mjs`);
      assert.equal(lib.status, 200);
      assert.match(lib.headers.get('content-type') ?? '', /javascript/);
      const app = await fetch(`${base}/ui/app.js`);
      assert.equal(app.headers.get('cache-control'), 'no-cache');
      const again = await fetch(`${base}/ui/app.js`, { headers: { 'If-None-Match': app.headers.get('etag') ?? '' } });
      assert.equal(again.status, 304);
      const dev = await fetch(`${base}/ui/vendor/playwright-core/package.json`);
      assert.equal(dev.status, 404, 'dev dependencies are not served');
    }
    assert.equal(await page.locator('#boot-error').isVisible(), false);
    assert.equal(await page.locator('#conn').textContent(), 'connected');
    assert.deepEqual(br.errors, [], 'no error in the page');
    const host = await waitDrawn(sd.hostId, 'host');
    assert.ok(await js((id) => window.__skydive.cy.getElementById(id).hasClass('group'), host), 'the host is an open group holding its interfaces');

    // The agent's own UI shows its host's graph, from the agent's /ws/subscriber.
    // (Pages in the background get no animation frames: each page is brought to the front
    // before it is used, and polled on a timer.)
    const agentPage = await br.ctx.newPage();
    try {
      await agentPage.bringToFront();
      await load(agentPage, sd.agentUrl);
      await agentPage.waitForFunction((h) => [...(window.__skydive?.model.nodes.values() ?? [])].some((n) => n.Metadata.Type === 'host' && n.Metadata.Name === h), sd.hostId, { timeout: 20000, polling: 200 });
      assert.match(await agentPage.locator('#service').textContent(), /agent/);
      await screenshot(agentPage, 'agent-ui');
    } finally {
      await agentPage.close();
      await page.bringToFront();
    }
  });

  test('draws the lab: namespaces holding their interfaces, the bridge and its veths', { skip: NEED_ROOT }, async () => {
    const nsA = await waitDrawn(names.nsA, 'netns');
    const nsB = await waitDrawn(names.nsB, 'netns');
    const bridge = await waitDrawn(names.br, 'bridge');
    const vA = await waitDrawn(names.vA, 'veth');
    // eth0 inside namespace A is drawn inside its group.
    const inner = await waitFor('eth0 of namespace A', () => js((ns) => {
      const m = window.__skydive.model;
      for (const c of m.childrenOf(ns)) if (m.nodes.get(c).Metadata.Name === 'eth0') return c;
      return null;
    }, nsA));
    // Drawn inside its namespace's frame.
    await waitFor('eth0 drawn inside its namespace', () => js(([i, ns]) => {
      const { cy, view } = window.__skydive;
      const p = cy.getElementById(i).position(), f = cy.getElementById(ns);
      const bb = { x1: f.position().x - f.data('w') / 2, x2: f.position().x + f.data('w') / 2, y1: f.position().y - f.data('h') / 2, y2: f.position().y + f.data('h') / 2 };
      return view.shownNodes.get(i)?.parent === ns && f.hasClass('group') && p.x > bb.x1 && p.x < bb.x2 && p.y > bb.y1 && p.y < bb.y2;
    }, [inner, nsA]));
    assert.ok(await js((id) => window.__skydive.cy.getElementById(id).hasClass('group'), nsB));
    // The veth pair crosses namespaces: one edge, styled as veth; the bridge links to its port.
    await waitFor('the veth edge drawn', () => js(([a, b]) => window.__skydive.cy.edges().some((e) => {
      const ends = [e.source().id(), e.target().id()];
      return ends.includes(a) && ends.includes(b) && e.data('rel') === 'veth';
    }), [vA, inner]));
    await waitFor('the bridge linked to its port', () => js(([a, b]) => window.__skydive.cy.edges().some((e) => {
      const ends = [e.source().id(), e.target().id()];
      return ends.includes(a) && ends.includes(b) && e.data('rel') === 'layer2';
    }), [bridge, vA]));
  });

  test('a namespace added now appears live, and nothing else moves', { skip: NEED_ROOT }, async () => {
    const nsA = await waitDrawn(names.nsA, 'netns');
    const before = await js((id) => ({ syncs: window.__skydive.state.syncs, pos: window.__skydive.cy.getElementById(id).position() }), nsA);
    names.nsC = lab.netns('c');
    names.vC = lab.plug(names.nsC, names.br, 'vc', '10.231.0.3/24');
    const nsC = await waitDrawn(names.nsC, 'netns');
    await waitFor('its veth drawn', () => idOf(names.vC, 'veth').then((id) => id && drawn(id)));
    const afterwards = await js((id) => ({ syncs: window.__skydive.state.syncs, pos: window.__skydive.cy.getElementById(id).position() }), nsA);
    assert.equal(afterwards.syncs, before.syncs, 'came as live events, not a new sync');
    assert.deepEqual(afterwards.pos, before.pos, 'an existing namespace did not move');
    assert.ok(nsC);
  });

  test('clicking a node shows its metadata, counters and captures', async () => {
    const name = lab ? names.vA : 'lo';
    const id = await waitDrawn(name, lab ? 'veth' : undefined);
    await js((i) => window.__skydive.view.reveal(i), id);
    await sleep(400);
    const box = await page.locator('#cy').boundingBox();
    const p = await js((i) => window.__skydive.cy.getElementById(i).renderedPosition(), id);
    await page.mouse.click(box.x + p.x, box.y + p.y);
    await waitFor('the node panel', async () => (await page.locator('#tab-node h2').textContent()) === name);
    assert.equal(await js(() => window.__skydive.state.selected?.id), id);
    const tree = await page.locator('#tab-node section.metadata').textContent();
    for (const key of ['Name', 'Type', 'MTU', 'IfIndex']) assert.ok(tree.includes(key), `metadata shows ${key}`);
    await waitFor('counters', () => page.locator('#tab-node section.counters svg.sparkline').count());
    assert.match(await page.locator('#tab-node section.counters').textContent(), /RxBytes/);
    assert.match(await page.locator('#tab-node section.node-captures h3').textContent(), /Captures \(\d+\)/);
    // A nested branch opens and stays open across live updates.
    const n = await page.locator('#tab-node section.metadata details').count();
    if (n > 0) {
      await page.locator('#tab-node section.metadata details > summary').first().click();
      await waitFor('the branch open', async () => (await page.locator('#tab-node section.metadata details').first().getAttribute('open')) === '');
      // The node's next update redraws the panel: the branch stays open.
      await js(() => window.__skydive.renderPanelKeepingScroll());
      assert.equal(await page.locator('#tab-node section.metadata details').first().getAttribute('open'), '');
    }
  });

  test('double-clicking a group collapses it into a box that counts its nodes, and back', async () => {
    const target = lab ? await waitDrawn(names.nsA, 'netns') : await waitDrawn(sd.hostId, 'host');
    const count = await js((id) => window.__skydive.model.descendantCount(id), target);
    const dbl = async (/** @type {number} */ attempt) => {
      const box = await page.locator('#cy').boundingBox();
      // The group's label sits on its top edge: double-click just inside the frame, in one
      // corner per attempt (a link of a crowded host may run over one of them).
      const bb = await js((id) => window.__skydive.cy.getElementById(id).renderedBoundingBox({ includeLabels: false }), target);
      const [x, y] = [[bb.x1 + 6, bb.y1 + 6], [bb.x1 + 6, bb.y2 - 6], [bb.x2 - 6, bb.y2 - 6], [bb.x2 - 6, bb.y1 + 6]][attempt % 4];
      await page.mouse.dblclick(box.x + x, box.y + y);
    };
    // A double click is two clicks within 500 ms of each other; on a loaded machine the
    // second one can reach the page later than that: try again (a real user would too).
    const toggled = async (cls) => {
      for (let i = 0; i < 4; i++) {
        await dbl(i);
        try {
          return await waitFor(cls, () => js(([id, c]) => window.__skydive.cy.getElementById(id).hasClass(c), [target, cls]), 2000);
        } catch { /* the clicks were too far apart */ }
      }
      throw new Error(`the group did not become ${cls} after 4 double clicks`);
    };
    await toggled('collapsed');
    const label = await js((id) => window.__skydive.cy.getElementById(id).data('label'), target);
    assert.match(label, new RegExp(`${count} nodes?`));
    assert.equal(await js((id) => window.__skydive.cy.getElementById(id).hasClass('group'), target), false);
    await toggled('group');
  });

  test('search highlights by name, and a Gremlin query restricts the view through the subscription', async () => {
    const name = lab ? names.nsA : sd.hostId;
    const id = await waitDrawn(name);
    await page.fill('#search input[name=q]', name);
    await page.selectOption('#search select[name=mode]', 'highlight');
    await page.press('#search input[name=q]', 'Enter');
    await waitFor('highlighted', () => js((i) => window.__skydive.cy.getElementById(i).hasClass('hl-search'), id));
    assert.match(await page.locator('#search-info').textContent(), /match/);

    const total = await js(() => window.__skydive.model.nodes.size);
    await page.fill('#search input[name=q]', "G.V().Has('Type', 'host')");
    await page.selectOption('#search select[name=mode]', 'restrict');
    await page.press('#search input[name=q]', 'Enter');
    await waitFor('the filtered subscription', () => js(() => window.__skydive.state.filter === "G.V().Has('Type', 'host')" && window.__skydive.state.connection === 'open'));
    await waitFor('only hosts', () => js(() => [...window.__skydive.model.nodes.values()].every((n) => n.Metadata.Type === 'host')));
    assert.ok(await js(() => window.__skydive.model.nodes.size) < total);

    // A query that does not parse: the analyzer's message is shown, the view stays.
    await page.fill('#search input[name=q]', "G.V().Hass('Type')");
    await page.press('#search input[name=q]', 'Enter');
    await waitFor('the error', async () => /Hass/.test(await page.locator('#search-info').textContent()));
    assert.ok(await page.locator('#search-info.error').count());

    await page.click('#search button[name=clear]');
    await waitFor('everything back', () => js((t) => window.__skydive.state.filter === '' && window.__skydive.model.nodes.size >= t, total));
  });

  test('the Gremlin console shows tables and JSON, and underlines the column of an error', async () => {
    await page.click('#tabbtn-console');
    const q = page.locator('#tab-console textarea.query');
    await q.fill("G.V().Has('Type', 'host')");
    await page.click('#tab-console button.primary');
    await waitFor('a table of nodes', () => page.locator('#tab-console table.grid tbody tr').count());
    assert.match(await page.locator('#tab-console table.grid').textContent(), new RegExp(sd.hostId));
    await page.selectOption('#tab-console .toolbar select >> nth=0', 'json');
    assert.match(await page.locator('#tab-console pre.json').textContent(), /"Metadata"/);
    await page.selectOption('#tab-console .toolbar select >> nth=0', 'table');

    await q.fill("G.V().Hass('Name')");
    await page.click('#tab-console button.primary');
    await waitFor('the error', () => page.locator('#tab-console .console-error .error').count());
    const msg = await page.locator('#tab-console .console-error .error').textContent();
    assert.match(msg, /\(column 7\)/);
    assert.equal(await page.locator('#tab-console mark.err-at').textContent(), 'Hass');
  });

  test('the Flows tab lists the flows of the selected node, or says why it cannot', async () => {
    const id = await waitDrawn(lab ? names.br : sd.hostId);
    await js((i) => window.__skydive.select(i, 'node'), id);
    await page.click('#tabbtn-flows');
    await waitFor('the flow table or an error', async () => (await page.locator('#tab-flows table.flows thead th').count()) > 0
      || (await page.locator('#tab-flows .error').count()) > 0);
    const err = await page.locator('#tab-flows .error').count();
    if (err) assert.match(await page.locator('#tab-flows .error').textContent(), /POST \/api\/topology/);
    else assert.match(await page.locator('#tab-flows table.flows thead').textContent(), /RTT/);
  });

  /** Three flows in Skydive's shape (docs/flows.md), for the table and the matrix. */
  const FLOWS = [
    { UUID: 'f1', TrackingID: 't-ping', LayersPath: 'Ethernet/IPv4/ICMPv4', Application: 'ICMPv4',
      Link: { Protocol: 'ETHERNET', A: '02:00:00:00:00:01', B: '02:00:00:00:00:02' },
      Network: { Protocol: 'IPV4', A: '10.0.0.1', B: '10.0.0.2' }, ICMP: { Type: 'ECHO' },
      Metric: { ABPackets: 5, ABBytes: 490, BAPackets: 5, BABytes: 490, Start: Date.now() - 9000, Last: Date.now() - 4000, RTT: 310000 } },
    { UUID: 'f2', TrackingID: 't-http', LayersPath: 'Ethernet/IPv4/TCP', Application: 'TCP',
      Link: { Protocol: 'ETHERNET', A: '02:00:00:00:00:01', B: '02:00:00:00:00:03' },
      Network: { Protocol: 'IPV4', A: '10.0.0.1', B: '10.0.0.3' }, Transport: { Protocol: 'TCP', A: 40000, B: 80 },
      Metric: { ABPackets: 20, ABBytes: 2000, BAPackets: 30, BABytes: 90000, Start: Date.now() - 8000, Last: Date.now() - 1000, RTT: 1200000 } },
    { UUID: 'f3', TrackingID: 't-dns', LayersPath: 'Ethernet/IPv4/UDP/DNS', Application: 'DNS',
      Link: { Protocol: 'ETHERNET', A: '02:00:00:00:00:02', B: '02:00:00:00:00:03' },
      Network: { Protocol: 'IPV4', A: '10.0.0.2', B: '10.0.0.3' }, Transport: { Protocol: 'UDP', A: 5353, B: 53 },
      Metric: { ABPackets: 1, ABBytes: 80, BAPackets: 1, BABytes: 120, Start: Date.now() - 3000, Last: Date.now() - 3000 } },
  ];

  test('the flow table sorts, filters, and highlights where a TrackingID was seen', async () => {
    await page.click('#tabbtn-flows');
    await page.uncheck('#tab-flows .toolbar input[type=checkbox]');
    // The table's logic on known flows (the flows of a real capture: the capture test).
    await js((flows) => { const f = window.__skydive.flows; clearTimeout(f.timer); f.flows = flows; f.error = null; f.renderTable(); }, FLOWS);
    const firstA = () => page.locator('#tab-flows table.flows tbody tr').first().locator('td').nth(2).textContent();
    await page.click('#tab-flows th:has-text("A→B bytes")');
    assert.equal(await page.getAttribute('#tab-flows th:has-text("A→B bytes")', 'aria-sort'), 'descending');
    assert.equal(await firstA(), '10.0.0.1:40000');
    await page.click('#tab-flows th:has-text("A→B bytes")');
    assert.equal(await firstA(), '10.0.0.2:5353');
    await page.fill('#tab-flows input[type=search]', 'tcp :80');
    assert.equal(await page.locator('#tab-flows table.flows tbody tr[data-uuid]').count(), 1);
    await page.fill('#tab-flows input[type=search]', '');
    assert.equal(await page.locator('#tab-flows table.flows tbody tr[data-uuid]').count(), 3);
    assert.match(await page.locator('#tab-flows table.flows tbody').textContent(), /1\.20 ms/);
    await page.locator('#tab-flows tr[data-uuid="f2"]').hover();
    await waitFor('the TrackingID asked for', () => js(() => window.__skydive.state.flowHighlight?.trackingId === 't-http'));
    await page.mouse.move(5, 5);
    await waitFor('the highlight gone', () => js(() => window.__skydive.state.flowHighlight === null));
    await page.check('#tab-flows .toolbar input[type=checkbox]');
  });

  test('the conversation matrix of flows counts bytes per pair at each layer', async () => {
    const m = await js(async (flows) => (await import('/ui/conversations.js')).conversation(flows, 'ipv4'), FLOWS);
    const name = (i) => m.nodes[i].name;
    const pairs = Object.fromEntries(m.links.map((l) => [[name(l.source), name(l.target)].sort().join(' '), l.value]));
    assert.deepEqual(pairs, { '10.0.0.1 10.0.0.2': 980, '10.0.0.1 10.0.0.3': 92000, '10.0.0.2 10.0.0.3': 200 });
    const tcp = await js(async (flows) => (await import('/ui/conversations.js')).conversation(flows, 'tcp'), FLOWS);
    assert.deepEqual(tcp.nodes.map((n) => n.name).sort(), ['40000', '80']);
  });

  test('the Captures tab shows the API\'s error for a capture it refuses', async () => {
    await page.click('#tabbtn-captures');
    await page.fill('#tab-captures textarea[name=GremlinQuery]', "G.V().Hass('Name')");
    await page.click('#tab-captures button[type=submit]');
    await waitFor('the error', () => page.locator('#tab-captures form .error').count());
    assert.match(await page.locator('#tab-captures form .error').textContent(), /POST \/api\/capture: (4\d\d)/);
  });

  /** Creates a capture from a node's panel ("Capture…"), returns it as the API has it. */
  const captureFromPanel = async (nodeId, fill = {}) => {
    await js((i) => window.__skydive.select(i, 'node'), nodeId);
    await page.click('#tabbtn-node');
    await page.click('#tab-node button:has-text("Capture…")');
    await waitFor('the captures tab', () => page.locator('#tab-captures').isVisible());
    const query = await page.inputValue('#tab-captures textarea[name=GremlinQuery]');
    assert.match(query, /^G\.V\(\)\.Has\('TID', '[^']+'\)$|^G\.V\('/);
    for (const [k, v] of Object.entries(fill)) await page.fill(`#tab-captures [name=${k}]`, String(v));
    const name = `ui-test-${Date.now()}`;
    await page.fill('#tab-captures input[name=Name]', name);
    await page.click('#tab-captures button[type=submit]');
    await waitFor(`capture ${name} listed`, async () => (await page.locator('#tab-captures table.captures tbody').textContent() ?? '').includes(name), 10000);
    assert.equal(await page.locator('#tab-captures form .error').count(), 0);
    const all = (await sd.api('GET', '/api/capture')).json ?? {};
    const [id, cap] = Object.entries(all).find(([, c]) => c.Name === name) ?? [];
    assert.ok(id, `the API has capture ${name}`);
    assert.equal(cap.GremlinQuery, query);
    return { id, cap, name };
  };

  /** Capture `id`'s entry in node `nodeId`'s `Captures` metadata, as the UI's model has it. */
  const entryOf = (nodeId, id) => js(([b, i]) => {
    const caps = window.__skydive.model.nodes.get(b)?.Metadata?.Captures;
    return (Array.isArray(caps) && caps.find((c) => c.ID === i)) || null;
  }, [nodeId, id]);

  /** Why capture `id` has no entry on `nodeId`, for a failure message: what the analyzer and agent say. */
  const captureDiagnosis = async (id, nodeId) => {
    const cap = (await sd.api('GET', `/api/capture/${encodeURIComponent(id)}`)).json;
    const node = await js((b) => window.__skydive.model.nodes.get(b)?.Metadata ?? null, nodeId);
    const status = (await fetch(`${sd.agentUrl}/api/status`).then((r) => r.json()).catch((e) => ({ error: String(e) })));
    return `capture ${id}: Count ${cap?.Count ?? '?'}; ${node?.Name ?? nodeId} Captures: ${JSON.stringify(node?.Captures ?? null)}; `
      + `agent /api/status Captures: ${JSON.stringify(status?.Captures ?? status?.error ?? null)}, FlowProbes: ${JSON.stringify(status?.FlowProbes ?? null)}; log: webui/test-results/skydive.log`;
  };

  /** Waits for capture `id`'s entry on `nodeId` in `state`; fails with the diagnosis. */
  const waitEntry = async (nodeId, id, state, timeoutMs = 30000) => {
    try {
      return await waitFor(`capture ${id} ${state} in the node's Captures`, async () => {
        const e = await entryOf(nodeId, id);
        return e?.State === state ? e : null;
      }, timeoutMs, 250);
    } catch (e) {
      assert.fail(`${e.message}: ${await captureDiagnosis(id, nodeId)}`);
    }
  };

  /** Deletes a capture with its row's button. */
  const deleteFromList = async (id) => {
    await page.click('#tabbtn-captures');
    await page.click(`#tab-captures table.captures tr[data-id="${id}"] button.danger`);
    await waitFor('the row gone', async () => (await page.locator(`#tab-captures table.captures tr[data-id="${id}"]`).count()) === 0);
    assert.equal((await sd.api('GET', `/api/capture/${encodeURIComponent(id)}`)).status, 404);
  };

  test('captures: created from a node\'s panel, listed, deleted in the UI', async () => {
    const r = await sd.api('GET', '/api/capture');
    assert.equal(r.status, 200, `GET /api/capture: ${r.status} ${r.text}`);
    const target = ovs ? await waitDrawn(names.ovsbr, 'ovsbridge') : await waitDrawn(lab ? names.br : sd.hostId);
    const { id } = await captureFromPanel(target, { BPFFilter: 'icmp', HeaderSize: 128 });
    if (ovs) {
      // ovssflow refuses a BPF filter: the agent says so on the bridge, and the UI shows it
      // in the node's panel and in the capture's row.
      const e = await waitEntry(target, id, 'error');
      assert.match(e.Error ?? '', /BPFFilter/);
      await js((i) => window.__skydive.select(i, 'node'), target);
      await page.click('#tabbtn-node');
      await waitFor('the error in the node panel', async () => (await page.locator('#tab-node section.node-captures').textContent() ?? '').includes(e.Error));
      assert.match(await page.locator('#tab-node section.node-captures td.state-error').first().textContent(), /error/);
      await page.click('#tabbtn-captures');
      const row = page.locator(`#tab-captures table.captures tr[data-id="${id}"]`);
      await waitFor('the error in the capture\'s row', async () => (await row.locator('td.capture-states').textContent() ?? '').includes(e.Error), 15000, 250);
      assert.match(await row.locator('td.capture-states .state-error').textContent(), new RegExp(`error on ${names.ovsbr}`));
      assert.equal(await row.locator('td.num').textContent(), '0', 'Count: active nowhere');
      await screenshot(page, 'capture-error');
    }
    await deleteFromList(id);
  });

  test('a capture created in the UI produces flows in the table after a ping', { skip: NEED_ROOT }, async (t) => {
    if (noOvs) {
      note('skipped-capture-flows', `no OVS bridge: ${noOvs}`);
      t.skip(`needs an OVS bridge for an ovssflow capture: ${noOvs}`);
      return;
    }
    const bridge = await waitDrawn(names.ovsbr, 'ovsbridge');
    const { id } = await captureFromPanel(bridge, { SamplingRate: 1, PollingInterval: 1, HeaderSize: 128 });
    // The agent runs it: an active entry in the bridge's Captures metadata, shown in the
    // node's panel; the analyzer counts the bridge.
    await waitEntry(bridge, id, 'active');
    await js((i) => window.__skydive.select(i, 'node'), bridge);
    await page.click('#tabbtn-node');
    await waitFor('the capture active in the node panel', () => page.locator('#tab-node section.node-captures td.state-active').count());
    await waitFor('Count 1', async () => (await sd.api('GET', `/api/capture/${encodeURIComponent(id)}`)).json?.Count === 1, 10000, 250);
    await page.click('#tabbtn-captures');
    const row = page.locator(`#tab-captures table.captures tr[data-id="${id}"]`);
    await waitFor('Count and state in the capture\'s row', async () => (await row.locator('td.num').textContent()) === '1'
      && /active on/.test(await row.locator('td.capture-states').textContent() ?? ''), 15000, 250);

    // ICMP only: TCP across the userspace datapath would need checksum offload off on the
    // veths (`ethtool -K eth0 tx off` in each namespace).
    const { execFileSync } = await import('node:child_process');
    execFileSync('ip', ['netns', 'exec', names.vm1, 'ping', '-c', '5', '-i', '0.2', '-W', '2', '-q', '10.231.1.2']);
    await js((i) => window.__skydive.select(i, 'node'), bridge);
    await page.click('#tabbtn-flows');
    try {
      await waitFor('flows in the table', async () => /10\.231\.1\.1/.test(await page.locator('#tab-flows table.flows tbody').textContent() ?? ''), 60000, 1000);
    } catch (e) {
      const flows = await sd.gremlin('G.Flows()').catch((x) => String(x));
      assert.fail(`${e.message}: G.Flows() answers ${JSON.stringify(flows).slice(0, 500)}; ${await captureDiagnosis(id, bridge)}`);
    }
    await screenshot(page, 'capture-flows-table');
    // Hovering a flow highlights where its TrackingID was seen: at least the bridge.
    await page.locator('#tab-flows table.flows tbody tr[data-uuid]').first().hover();
    await waitFor('the flow highlighted', () => js((b) => window.__skydive.state.flowHighlight?.nodes.includes(b), bridge), 10000);
    await screenshot(page, 'capture-flows-hover');
    await page.mouse.move(5, 5);
    await deleteFromList(id);
    // Deleting it stops it: the entry leaves the bridge.
    await waitFor('the entry gone from the bridge', async () => (await entryOf(bridge, id)) === null, 15000, 250);
  });

  test('the history slider shows a deleted namespace at a past time', { skip: NEED_ROOT }, async () => {
    const ns = lab.netns('h');
    const id = await waitDrawn(ns, 'netns');
    await sleep(1500);
    const t = Date.now();
    await sleep(1500);
    lab.deleteNetns(ns);
    await waitFor('the namespace gone from the live view', () => js((i) => !window.__skydive.model.nodes.has(i), id));

    // Pick the slider up (it re-anchors on now), move it to t, release.
    await page.selectOption('.history-bar select', String(5 * 60e3));
    await page.focus('.history-bar input.slider');
    const v = await js((time) => {
      const hb = window.__skydive.history;
      return Math.round(((time - (hb.anchor - hb.span)) / hb.span) * 1000);
    }, t);
    await page.locator('.history-bar input.slider').fill(String(v));
    await waitFor('the past graph', () => js(() => window.__skydive.state.time !== null && window.__skydive.state.syncs > 0));
    await waitFor('the deleted namespace, in the past', () => js((i) => window.__skydive.model.nodes.has(i), id), 10000);
    await waitFor('drawn', () => drawn(id));
    assert.match(await page.locator('#when').textContent(), /history/);
    assert.ok(Math.abs((await js(() => window.__skydive.state.time)) - t) < 1000, 'the slider time is the time asked');
    await screenshot(page, 'history-past');

    await page.click('.history-bar button.live');
    await waitFor('live again', () => js(() => window.__skydive.state.time === null));
    await waitFor('the namespace gone again', () => js((i) => !window.__skydive.model.nodes.has(i), id));
    assert.equal(await page.locator('#when').textContent(), 'live');
  });

  test('the conversation matrix draws from the analyzer or from flows, or says why not', async () => {
    await page.click('#tabbtn-conversations');
    await waitFor('a source or an error', async () => /·/.test(await page.locator('#tab-conversations .panel-head .hint').textContent())
      || (await page.locator('#tab-conversations .error').count()) > 0);
  });

  test('no error in the page', () => {
    assert.deepEqual(br.errors, []);
  });

});
