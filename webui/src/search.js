// @ts-check
/**
 * The search box: a name (substring, any case) or a Gremlin query (starting with `G.`),
 * either highlighted in the drawing or used to restrict it. Restricting by Gremlin
 * re-subscribes with that filter (the analyzer then sends only that subgraph, live);
 * restricting by name keeps the matching nodes and their owners, here.
 * Matches hidden inside collapsed groups light up the group; the list under the box reveals
 * and selects one.
 */

import { gremlin } from './api.js';
import { h } from './dom.js';
import { nodeName, nodeType } from './model.js';

/** @typedef {import('./app.js').App} App */

/** Node IDs in a Gremlin answer (nodes, edge ends, sub-graphs). @param {any} r @returns {string[]} */
export function idsOf(r) {
  /** @type {Set<string>} */
  const out = new Set();
  const visit = (/** @type {any} */ x) => {
    if (!x || typeof x !== 'object') return;
    if (Array.isArray(x)) { x.forEach(visit); return; }
    if (Array.isArray(x.Nodes)) { x.Nodes.forEach(visit); return; }
    if (typeof x.ID === 'string' && 'Metadata' in x) {
      if (typeof x.Parent === 'string' && typeof x.Child === 'string') { out.add(x.Parent); out.add(x.Child); }
      else out.add(x.ID);
    }
  };
  visit(r);
  return [...out];
}

export class SearchBox {
  /** @param {HTMLFormElement} form @param {App} app */
  constructor(form, app) {
    this.app = app;
    this.input = /** @type {HTMLInputElement} */ (form.querySelector('input[name=q]'));
    this.mode = /** @type {HTMLSelectElement} */ (form.querySelector('select[name=mode]'));
    this.results = /** @type {HTMLElement} */ (document.getElementById('search-results'));
    this.info = /** @type {HTMLElement} */ (document.getElementById('search-info'));
    form.addEventListener('submit', (e) => { e.preventDefault(); this.run(this.input.value, /** @type {any} */ (this.mode.value)); });
    form.querySelector('button[name=clear]')?.addEventListener('click', () => this.clear());
    this.input.addEventListener('keydown', (e) => { if (e.key === 'Escape') { this.clear(); this.input.blur(); } });
    /** what is applied, for the tests @type {{text: string, mode: string, ids: string[]} | null} */
    this.active = null;
  }

  /**
   * @param {string} text a name or a Gremlin query
   * @param {'highlight' | 'restrict'} mode
   */
  async run(text, mode) {
    const q = text.trim();
    this.input.value = q;
    this.mode.value = mode;
    if (!q) { this.clear(); return; }
    const app = this.app;
    const isGremlin = /^g\./i.test(q);
    this.say(isGremlin ? 'querying…' : '', false);
    try {
      if (isGremlin && mode === 'restrict') {
        app.view.highlight('search', null);
        await app.setFilter(q);
        this.active = { text: q, mode, ids: [] };
        this.say(`restricted to ${q} (the analyzer sends only this subgraph, live)`, false);
        this.results.replaceChildren();
        return;
      }
      if (app.state.filter && mode === 'restrict') await app.setFilter('');
      let ids;
      if (isGremlin) {
        ids = idsOf(await gremlin(app.state.time === null || /^G\.(At|Context)\(/i.test(q) ? q : `G.At(${Math.floor(app.state.time / 1000)})${q.slice(1)}`));
      } else {
        const needle = q.toLowerCase();
        ids = [];
        for (const n of app.model.nodes.values()) {
          if (nodeName(n).toLowerCase().includes(needle)) ids.push(n.ID);
        }
      }
      this.active = { text: q, mode, ids };
      if (mode === 'restrict') {
        app.view.highlight('search', null);
        app.view.restrict(new Set(ids));
      } else {
        if (app.view.only) app.view.restrict(null);
        const r = app.view.highlight('search', ids);
        this.say(`${ids.length} match${ids.length === 1 ? '' : 'es'}${r.hidden ? ` (${r.hidden} inside collapsed groups, lit up)` : ''}`, false);
      }
      if (mode === 'restrict') this.say(`${ids.length} match${ids.length === 1 ? '' : 'es'}, shown with their owners`, false);
      this.list(ids);
    } catch (e) {
      this.say(e instanceof Error ? e.message : String(e), true);
      this.results.replaceChildren();
    }
  }

  /** @param {string[]} ids */
  list(ids) {
    const app = this.app;
    const shown = ids.slice(0, 30);
    this.results.replaceChildren(...shown.map((id) => {
      const n = app.model.nodes.get(id);
      return h('li', null, h('a', {
        href: '#', onclick: (/** @type {Event} */ e) => { e.preventDefault(); app.select(id, 'node', { reveal: true }); },
      }, nodeName(n), h('small', { text: ` ${nodeType(n)}` })));
    }), ids.length > shown.length ? h('li', { class: 'hint', text: `… ${ids.length - shown.length} more` }) : '');
  }

  async clear() {
    this.input.value = '';
    this.active = null;
    this.results.replaceChildren();
    this.say('', false);
    this.app.view.highlight('search', null);
    if (this.app.view.only) this.app.view.restrict(null);
    if (this.app.state.filter) {
      try { await this.app.setFilter(''); } catch (e) { this.say(e instanceof Error ? e.message : String(e), true); }
    }
  }

  /** @param {string} text @param {boolean} isError */
  say(text, isError) {
    this.info.textContent = text;
    this.info.classList.toggle('error', isError);
    this.info.setAttribute('role', isError ? 'alert' : 'status');
  }
}
