// @ts-check
/**
 * Skydive's web UI: wiring. It owns the state (time shown, filter, selection, tab), the
 * /ws/subscriber connection, and hands model changes to the drawing and the panels once per
 * animation frame, however many events arrive.
 *
 * Modules: model.js (the graph), layout.js (positions), topology.js (the drawing),
 * panel.js (Node tab), flows.js, captures.js, console.js (Gremlin), conversations.js,
 * history.js (time slider), search.js, api.js (REST), ws.js (subscriber), dom.js (safe DOM).
 *
 * Test hook: `window.__skydive` is this App: `.cy` (cytoscape), `.model`, `.view`, `.state`.
 */

import cytoscape from 'cytoscape';
import { GraphModel, nodeName } from './model.js';
import { Layout } from './layout.js';
import { TopologyView } from './topology.js';
import { Subscriber } from './ws.js';
import { NodePanel } from './panel.js';
import { FlowsPanel } from './flows.js';
import { CapturesPanel } from './captures.js';
import { ConsolePanel } from './console.js';
import { ConversationsPanel } from './conversations.js';
import { HistoryBar } from './history.js';
import { SearchBox } from './search.js';
import { request } from './api.js';
import { h, fmtNum, fmtTime } from './dom.js';

const TABS = ['node', 'flows', 'captures', 'console', 'conversations'];

/** @param {string} id */
function byId(id) {
  const el = document.getElementById(id);
  if (!el) throw new Error(`index.html has no #${id}`);
  return el;
}

/**
 * @typedef {{time: number | null, filter: string, selected: {id: string, kind: 'node' | 'edge'} | null,
 *   tab: string, connection: string, syncs: number, lastSyncAt: number, firstRenderMs: number | null,
 *   flowHighlight: {trackingId: string, nodes: string[]} | null, lastCapture: any, service: string,
 *   firstSyncRenderMs?: number}} State
 */

export class App {
  constructor() {
    /** @type {State} */
    this.state = {
      time: null, filter: '', selected: null, tab: 'node', connection: 'connecting', syncs: 0,
      lastSyncAt: 0, firstRenderMs: null, flowHighlight: null, lastCapture: null, service: '',
    };
    this.model = new GraphModel();
    this.layout = new Layout(this.model);
    const params = new URLSearchParams(location.search);
    const budget = Number(params.get('budget'));
    this.view = new TopologyView(byId('cy'), this.model, this.layout, cytoscape, {
      maxElements: Number.isFinite(budget) && budget > 0 ? budget : undefined,
      onSelect: (id, kind) => this.select(id, kind),
      onViewChanged: () => this.updateStatus(),
    });
    this.panel = new NodePanel(byId('tab-node'), this);
    this.flows = new FlowsPanel(byId('tab-flows'), this);
    this.captures = new CapturesPanel(byId('tab-captures'), this);
    this.console = new ConsolePanel(byId('tab-console'), this);
    this.conversations = new ConversationsPanel(byId('tab-conversations'), this);
    this.history = new HistoryBar(byId('history'), this);
    this.search = new SearchBox(/** @type {HTMLFormElement} */ (byId('search')), this);
    this.flushPending = false;
    this.sub = new Subscriber({
      onSync: (g, solicited) => this.onSync(g, solicited),
      onEvent: (type, obj) => this.onEvent(type, obj),
      onStatus: (status, detail) => this.onStatus(status, detail),
      onError: (message) => this.notify('error', `analyzer: ${message}`),
    });
    this.wire();
    this.sub.connect();
    request('GET', '/api').then((info) => {
      this.state.service = `${info?.Service ?? ''} ${info?.Host ?? ''}`.trim();
      byId('service').textContent = this.state.service;
      document.title = `Skydive · ${info?.Host ?? ''}`;
    }).catch((e) => this.notify('error', e.message));
  }

  get cy() { return this.view.cy; }

  wire() {
    for (const t of TABS) {
      byId(`tabbtn-${t}`).addEventListener('click', () => this.showTab(t));
    }
    const act = /** @type {Record<string, () => void>} */ ({
      fit: () => this.view.fit(),
      'zoom-in': () => this.view.zoomBy(1.5),
      'zoom-out': () => this.view.zoomBy(1 / 1.5),
      'expand-all': () => this.view.setAll(true),
      'collapse-all': () => this.view.setAll(false),
      tidy: () => this.view.reset({ fit: true }),
      'toggle-side': () => document.body.classList.toggle('side-hidden'),
    });
    for (const [name, fn] of Object.entries(act)) {
      document.querySelector(`[data-act="${name}"]`)?.addEventListener('click', fn);
    }
    document.addEventListener('keydown', (e) => {
      const t = /** @type {HTMLElement} */ (e.target);
      if (t && (t.tagName === 'INPUT' || t.tagName === 'TEXTAREA' || t.tagName === 'SELECT' || t.isContentEditable)) return;
      if (e.ctrlKey || e.metaKey || e.altKey) return;
      const sel = this.state.selected;
      switch (e.key) {
        case '/': e.preventDefault(); /** @type {HTMLInputElement} */ (document.querySelector('#search input')).focus(); break;
        case 'f': this.view.fit(); break;
        case '+': case '=': this.view.zoomBy(1.5); break;
        case '-': this.view.zoomBy(1 / 1.5); break;
        case 'e': if (sel?.kind === 'node') this.view.expand(sel.id); break;
        case 'c': if (sel?.kind === 'node') this.view.collapse(this.model.isGroup(sel.id) ? sel.id : (this.model.ownerOf(sel.id) ?? sel.id)); break;
        case 'l': this.view.reset({ fit: true }); break;
        case 'Escape': this.select(null, null); this.view.highlight('search', null); break;
        default: {
          const i = Number(e.key);
          if (i >= 1 && i <= TABS.length) this.showTab(TABS[i - 1]);
        }
      }
    });
    window.addEventListener('resize', () => this.cy.resize());
  }

  /** @param {any} graph @param {boolean} solicited */
  onSync(graph, solicited) {
    // A live resync while the past is shown is not for us.
    if (!solicited && this.state.time !== null) return;
    const t0 = performance.now();
    this.model.load(graph);
    this.flush();
    this.state.syncs++;
    this.state.lastSyncAt = Date.now();
    if (this.state.firstRenderMs === null && this.model.nodes.size > 0) {
      const done = () => {
        requestAnimationFrame(() => {
          this.state.firstRenderMs = performance.now();
          this.state.firstSyncRenderMs = performance.now() - t0;
        });
      };
      this.cy.one('render', done);
      this.cy.forceRender?.();
    }
    this.updateStatus();
  }

  /** @param {string} type @param {any} obj */
  onEvent(type, obj) {
    if (this.state.time !== null) return;
    if (this.model.apply(type, obj)) this.scheduleFlush();
  }

  scheduleFlush() {
    if (this.flushPending) return;
    this.flushPending = true;
    requestAnimationFrame(() => this.flush());
    // Background tabs get no animation frames: catch up anyway.
    setTimeout(() => this.flush(), 500);
  }

  flush() {
    this.flushPending = false;
    const ch = this.model.takeChanges();
    if (!ch.reset && !ch.structural && ch.updated.size === 0) return;
    this.view.applyChanges(ch);
    this.panel.nodesUpdated(ch.updated);
    const sel = this.state.selected;
    if (sel && (ch.reset || ch.updated.has(sel.id) || ch.removed.has(sel.id) || ch.structural)) {
      if (sel.kind === 'node' && ch.reset && this.model.nodes.has(sel.id)) this.cy.getElementById(sel.id).select();
      this.renderPanelKeepingScroll();
    }
    this.updateStatus();
  }

  renderPanelKeepingScroll() {
    const box = byId('tab-node');
    const top = box.scrollTop;
    this.panel.render();
    box.scrollTop = top;
  }

  /** @param {'connecting' | 'open' | 'closed'} status @param {string} detail */
  onStatus(status, detail) {
    this.state.connection = status;
    const el = byId('conn');
    el.className = `conn ${status}`;
    el.textContent = status === 'open' ? 'connected' : status === 'connecting' ? 'connecting…' : 'disconnected';
    el.title = detail;
    if (status === 'closed') this.notify('error', `/ws/subscriber ${detail}`);
  }

  /**
   * Shows the graph at a time (epoch ms), or live (null).
   * @param {number | null} time
   */
  async setTime(time) {
    const before = this.state.time;
    this.state.time = time;
    this.history.sync();
    document.body.classList.toggle('past', time !== null);
    try {
      await this.sub.sync({ time, filter: this.state.filter });
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      if (msg === 'superseded') return;
      this.state.time = before;
      this.history.sync();
      document.body.classList.toggle('past', before !== null);
      this.notify('error', `cannot show ${time === null ? 'the live graph' : fmtTime(time)}: ${msg}`);
      return;
    }
    this.updateStatus();
    this.flows.refresh();
    this.conversations.load();
  }

  /** Restricts the subscription to a Gremlin filter ('' for everything). @param {string} filter */
  async setFilter(filter) {
    const before = this.state.filter;
    this.state.filter = filter;
    try {
      await this.sub.sync({ time: this.state.time, filter });
    } catch (e) {
      this.state.filter = before;
      throw e;
    }
    this.view.reset({ fit: true });
    this.updateStatus();
  }

  /**
   * @param {string | null} id @param {'node' | 'edge' | null} kind
   * @param {{reveal?: boolean}} [opts]
   */
  select(id, kind, opts = {}) {
    this.state.selected = id && kind ? { id, kind } : null;
    if (id && opts.reveal && kind === 'node') this.view.reveal(id);
    this.cy.elements(':selected').unselect();
    if (id) {
      const el = this.cy.getElementById(id);
      if (el.nonempty()) el.select();
    }
    this.panel.render();
    this.updateStatus();
    if (this.state.tab === 'flows') this.flows.refresh();
  }

  /** @param {string} name */
  showTab(name) {
    if (!TABS.includes(name)) return;
    this.state.tab = name;
    for (const t of TABS) {
      const on = t === name;
      byId(`tab-${t}`).hidden = !on;
      const b = byId(`tabbtn-${t}`);
      b.setAttribute('aria-selected', String(on));
      b.classList.toggle('active', on);
    }
    document.body.classList.remove('side-hidden');
    if (name === 'flows') this.flows.refresh();
    if (name === 'captures') this.captures.load();
    if (name === 'conversations') this.conversations.load();
  }

  /** @param {string} name */
  isTabVisible(name) {
    return this.state.tab === name && !document.body.classList.contains('side-hidden');
  }

  /** A message at the bottom right; errors stay until closed. @param {'info' | 'error'} kind @param {string} text */
  notify(kind, text) {
    const box = byId('toasts');
    // The same error twice in a row is counted, not stacked.
    const last = /** @type {HTMLElement | null} */ (box.lastElementChild);
    if (last && last.dataset.text === text) {
      const n = Number(last.dataset.count ?? '1') + 1;
      last.dataset.count = String(n);
      const c = last.querySelector('.count');
      if (c) c.textContent = ` ×${n}`;
      return;
    }
    const t = h('div', { class: `toast ${kind}`, role: kind === 'error' ? 'alert' : 'status', dataset: { text } },
      h('span', { text }), h('span', { class: 'count' }),
      h('button', { class: 'close', 'aria-label': 'close', text: '×', onclick: () => t.remove() }));
    box.append(t);
    while (box.children.length > 5) box.firstElementChild?.remove();
    if (kind === 'info') setTimeout(() => t.remove(), 4000);
  }

  updateStatus() {
    const s = this.view.stats();
    const parts = [
      `${fmtNum(s.nodes)} nodes`, `${fmtNum(s.edges)} edges`,
      `drawn: ${fmtNum(s.drawnNodes)} nodes, ${fmtNum(s.drawnEdges)} links`,
    ];
    if (s.collapsed) parts.push(`${fmtNum(s.collapsed)} collapsed groups (zoom in or double-click to open)`);
    if (this.state.filter) parts.push(`filter ${this.state.filter}`);
    if (this.view.only) parts.push('restricted by name');
    byId('stats').textContent = parts.join(' · ');
    const when = byId('when');
    when.textContent = this.state.time === null ? 'live' : `history: ${fmtTime(this.state.time)}`;
    when.className = this.state.time === null ? 'when live' : 'when past';
    const sel = this.state.selected;
    byId('selection').textContent = sel ? (sel.kind === 'node' ? nodeName(this.model.nodes.get(sel.id)) : sel.id) : '';
  }
}

try {
  const app = new App();
  /** @type {any} */ (window).__skydive = app;
} catch (e) {
  const box = document.getElementById('boot-error');
  if (box) {
    box.hidden = false;
    box.textContent = `The UI could not start: ${e instanceof Error ? e.message : e}`;
  }
  throw e;
}
