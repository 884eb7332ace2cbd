// @ts-check
/**
 * The "Captures" tab: create a capture (Skydive's `/api/capture` resource: a Gremlin query
 * selecting the nodes, evaluated continuously, plus its options), list them, delete them.
 * "Capture…" on a node fills the query with the node's TID, stable across restarts.
 *
 * Every API error is shown in the tab, including a missing route on an analyzer without
 * captures.
 */

import { request, quote } from './api.js';
import { h, errorBox } from './dom.js';
import { nodeName, nodeType } from './model.js';

/** @typedef {import('./app.js').App} App */

/** Capture types the API accepts (docs/api.md, `/api/capture`) and what they apply to. */
export const CAPTURE_TYPES = [
  ['', 'default for the node type'],
  ['ovssflow', 'ovssflow: an OVS bridge samples with sFlow'],
  ['sflow', 'sflow: an sFlow collector for this node'],
  ['afpacket', 'afpacket: Linux interfaces'],
  ['pcap', 'pcap: Linux interfaces (libpcap)'],
  ['pcapsocket', 'pcapsocket: pcap written to a socket'],
];

export class CapturesPanel {
  /** @param {HTMLElement} root @param {App} app */
  constructor(root, app) {
    this.root = root;
    this.app = app;
    /** @type {Record<string, any>} */
    this.captures = {};
    this.listError = /** @type {string | null} */ (null);
    this.formError = /** @type {string | null} */ (null);
    this.timer = 0;
    /** the form's inputs, by capture field @type {Record<string, any>} */
    this.fields = {};
    this.build();
  }

  build() {
    const f = (/** @type {string} */ name, /** @type {Record<string, any>} */ props) => h('input', { name, ...props });
    this.fields = {
      GremlinQuery: h('textarea', { name: 'GremlinQuery', rows: 2, required: true, spellcheck: false, placeholder: "G.V().Has('Type', 'ovsbridge')" }),
      Name: f('Name', { placeholder: 'optional' }),
      Description: f('Description', { placeholder: 'optional' }),
      Type: h('select', { name: 'Type' }, CAPTURE_TYPES.map(([v, t]) => h('option', { value: v, text: t }))),
      BPFFilter: f('BPFFilter', { placeholder: 'e.g. icmp or tcp port 80', spellcheck: false }),
      HeaderSize: f('HeaderSize', { type: 'number', min: 0, max: 4096, placeholder: '256' }),
      SamplingRate: f('SamplingRate', { type: 'number', min: 1, placeholder: '1' }),
      PollingInterval: f('PollingInterval', { type: 'number', min: 1, placeholder: '10' }),
      RawPacketLimit: f('RawPacketLimit', { type: 'number', min: 0, max: 10, placeholder: '0' }),
      Port: f('Port', { type: 'number', min: 0, max: 65535, placeholder: 'sflow, pcapsocket' }),
      LayerKeyMode: h('select', { name: 'LayerKeyMode' }, ['', 'L2', 'L3'].map((v) => h('option', { value: v, text: v || 'default (L2)' }))),
      ExtraTCPMetric: h('input', { type: 'checkbox', name: 'ExtraTCPMetric' }),
    };
    const F = this.fields;
    const row = (/** @type {string} */ label, /** @type {any} */ el, /** @type {string} */ help) => h('label', { class: 'field' }, h('span', { text: label }), el, help ? h('small', { text: help }) : null);
    this.formErrorEl = h('div');
    this.listEl = h('div');
    this.listErrorEl = h('div');
    this.form = h('form', {
      class: 'capture-form',
      onsubmit: (/** @type {Event} */ e) => { e.preventDefault(); this.create(); },
    },
    row('Gremlin query', F.GremlinQuery, 'the nodes to capture on, now and in the future'),
    h('div', { class: 'cols' }, row('Name', F.Name, ''), row('Type', F.Type, '')),
    row('Description', F.Description, ''),
    row('BPF filter', F.BPFFilter, ''),
    h('div', { class: 'cols' }, row('Header size', F.HeaderSize, 'bytes kept per packet'), row('Sampling rate', F.SamplingRate, 'sFlow: 1 packet in N'), row('Polling interval', F.PollingInterval, 'sFlow counters, s')),
    h('details', { class: 'more' }, h('summary', { text: 'More options' }),
      h('div', { class: 'cols' }, row('Layer key mode', F.LayerKeyMode, 'L3: flows survive MAC rewrites'), row('Raw packets kept', F.RawPacketLimit, 'per flow, 0–10'), row('Port', F.Port, '')),
      h('label', { class: 'inline' }, F.ExtraTCPMetric, ' extra TCP metrics (SYN/FIN/RST times)')),
    this.formErrorEl,
    h('div', { class: 'actions' },
      h('button', { type: 'submit', class: 'primary', text: 'Create capture' }),
      h('button', { type: 'button', text: 'Use selection', onclick: () => { const s = this.app.state.selected; if (s?.kind === 'node') this.prefillFromNode(s.id); } })));
    this.root.replaceChildren(
      h('section', null, h('h3', { text: 'New capture' }), this.form),
      h('section', null,
        h('div', { class: 'panel-head' }, h('h3', { text: 'Captures' }), h('button', { text: 'Refresh', onclick: () => this.load() })),
        this.listErrorEl, this.listEl));
  }

  /** Fills the form for a node and shows the tab. @param {string} id */
  prefillFromNode(id) {
    const n = this.app.model.nodes.get(id);
    if (!n) return;
    const tid = n.Metadata?.TID;
    this.fields.GremlinQuery.value = typeof tid === 'string' && tid
      ? `G.V().Has('TID', ${quote(tid)})`
      : `G.V(${quote(id)})`;
    const t = nodeType(n);
    this.fields.Type.value = t === 'ovsbridge' ? 'ovssflow' : '';
    if (!this.fields.Name.value) this.fields.Name.value = `ui-${nodeName(n)}`;
    this.app.showTab('captures');
    this.fields.GremlinQuery.focus();
  }

  /** The request body, Skydive's shape; only what the user set. */
  body() {
    const F = this.fields;
    /** @type {Record<string, any>} */
    const b = { GremlinQuery: F.GremlinQuery.value.trim() };
    for (const k of /** @type {const} */ (['Name', 'Description', 'Type', 'BPFFilter', 'LayerKeyMode'])) {
      const v = F[k].value.trim();
      if (v) b[k] = v;
    }
    for (const k of /** @type {const} */ (['HeaderSize', 'SamplingRate', 'PollingInterval', 'RawPacketLimit', 'Port'])) {
      const v = F[k].value.trim();
      if (v !== '') b[k] = Number(v);
    }
    if (F.ExtraTCPMetric.checked) b.ExtraTCPMetric = true;
    return b;
  }

  async create() {
    const body = this.body();
    if (!body.GremlinQuery) { this.setFormError('A Gremlin query is required: it selects the nodes to capture on.'); return; }
    this.setFormError(null);
    try {
      const c = await request('POST', '/api/capture', body);
      this.app.notify('info', `capture ${c?.Name || c?.UUID || ''} created`);
      this.app.state.lastCapture = c;
      // A fresh form for the next one: options of this capture do not leak into it.
      this.form.reset();
      await this.load();
    } catch (e) {
      this.setFormError(e instanceof Error ? e.message : String(e));
    }
  }

  /** @param {string | null} msg */
  setFormError(msg) {
    this.formError = msg;
    this.formErrorEl.replaceChildren(errorBox(msg) ?? '');
  }

  async load() {
    clearTimeout(this.timer);
    try {
      const r = await request('GET', '/api/capture');
      this.captures = r && typeof r === 'object' ? r : {};
      this.listError = null;
    } catch (e) {
      this.listError = e instanceof Error ? e.message : String(e);
    }
    this.renderList();
    if (this.app.isTabVisible('captures')) this.timer = window.setTimeout(() => this.load(), 5000);
  }

  renderList() {
    this.listErrorEl.replaceChildren(errorBox(this.listError) ?? '');
    const entries = Object.entries(this.captures);
    if (entries.length === 0) {
      this.listEl.replaceChildren(this.listError ? '' : h('p', { class: 'hint', text: 'No capture.' }));
      return;
    }
    this.listEl.replaceChildren(h('table', { class: 'grid captures' },
      h('thead', null, h('tr', null, ['Name', 'Query', 'Type', 'BPF', 'Nodes', 'State', ''].map((t) => h('th', { text: t })))),
      h('tbody', null, entries.map(([id, c]) => h('tr', { dataset: { id } },
        h('td', { text: c.Name || id, title: c.Description ?? '' }),
        h('td', { class: 'mono', text: c.GremlinQuery ?? '' }),
        h('td', { text: c.Type ?? '' }),
        h('td', { class: 'mono', text: c.BPFFilter ?? '' }),
        h('td', { class: 'num', title: 'nodes where it is active (Count)', text: c.Count !== undefined ? String(c.Count) : '' }),
        h('td', { class: 'capture-states' }, this.states(id)),
        h('td', null,
          h('button', { text: 'Show', title: 'highlight the nodes it selects', onclick: () => this.app.search.run(c.GremlinQuery ?? '', 'highlight') }),
          h('button', { class: 'danger', text: 'Delete', onclick: () => this.remove(id, c.Name || id) })))))));
  }

  /**
   * Where capture `id` runs, from the `Captures` entries the agents wrote on the nodes the
   * UI holds: one line per node, `State` and, for an error, the agent's `Error`.
   * @param {string} id
   */
  states(id) {
    /** @type {{name: string, state: string, error: string}[]} */
    const found = [];
    for (const n of this.app.model.nodes.values()) {
      const caps = n.Metadata?.Captures;
      if (!Array.isArray(caps)) continue;
      for (const e of caps) {
        if (e?.ID === id) found.push({ name: nodeName(n), state: String(e.State ?? ''), error: String(e.Error ?? '') });
      }
    }
    if (found.length === 0) return h('span', { class: 'hint', text: 'on no node' });
    // Errors first: they are what needs reading.
    found.sort((a, b) => Number(b.state === 'error') - Number(a.state === 'error') || a.name.localeCompare(b.name));
    const shown = found.slice(0, 5);
    return [
      ...shown.map((f) => h('div', { class: `state-${f.state}` },
        `${f.state} on ${f.name}`, f.error ? h('span', { class: 'error-text', text: `: ${f.error}` }) : null)),
      found.length > shown.length ? h('div', { class: 'hint', text: `+${found.length - shown.length} more` }) : null,
    ];
  }

  /** @param {string} id @param {string} label */
  async remove(id, label) {
    try {
      await request('DELETE', `/api/capture/${encodeURIComponent(id)}`);
      this.app.notify('info', `capture ${label} deleted`);
    } catch (e) {
      this.listError = e instanceof Error ? e.message : String(e);
      this.listErrorEl.replaceChildren(errorBox(this.listError) ?? '');
      return;
    }
    await this.load();
  }
}
