// @ts-check
/**
 * History mode: a slider over the last minutes/hours/days and a date-time picker switch the
 * whole UI to the graph at that time (a `SyncRequest` with `Time` on /ws/subscriber; the
 * flow, console and conversation tabs use `G.At(t)`), and "Live" switches back.
 *
 * The slider sends its time when released (keyboard: arrows then Enter or release), not while
 * it moves: each position is a whole graph to read from the history store.
 */

import { h, fmtTime } from './dom.js';

/** @typedef {import('./app.js').App} App */

const SPANS = /** @type {const} */ ([
  ['5m', 5 * 60e3], ['1h', 3600e3], ['6h', 6 * 3600e3], ['24h', 24 * 3600e3], ['7d', 7 * 24 * 3600e3],
]);
const STEPS = 1000;

/** `YYYY-MM-DDTHH:MM:SS` in local time, for <input type=datetime-local>. @param {number} ms */
export function toLocalInput(ms) {
  const d = new Date(ms);
  const p = (/** @type {number} */ x) => String(x).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

export class HistoryBar {
  /** @param {HTMLElement} root @param {App} app */
  constructor(root, app) {
    this.root = root;
    this.app = app;
    this.span = 3600e3;
    this.anchor = Date.now();
    this.spanSel = h('select', {
      'aria-label': 'slider span',
      onchange: () => { this.span = Number(this.spanSel.value); this.anchor = Date.now(); this.sync(); },
    }, SPANS.map(([t, v]) => h('option', { value: v, text: `last ${t}`, selected: v === this.span })));
    this.slider = h('input', {
      type: 'range', min: 0, max: STEPS, step: 1, value: STEPS, class: 'slider', 'aria-label': 'time',
      oninput: () => { this.label.textContent = this.sliderValue() === null ? 'live' : fmtTime(/** @type {number} */ (this.sliderValue())); },
      onchange: () => this.app.setTime(this.sliderValue()),
      // The slider's span ends now: re-anchor it when it is picked up while live.
      onpointerdown: () => this.reanchor(),
      onfocus: () => this.reanchor(),
    });
    this.date = h('input', {
      type: 'datetime-local', step: 1, 'aria-label': 'date and time',
      onchange: () => {
        const t = this.date.value ? new Date(this.date.value).getTime() : NaN;
        if (Number.isFinite(t)) this.app.setTime(Math.min(t, Date.now()));
      },
    });
    this.label = h('span', { class: 'time-label', text: 'live' });
    this.liveBtn = h('button', { class: 'live', text: 'Live', onclick: () => this.app.setTime(null) });
    root.replaceChildren(h('span', { class: 'hint', text: 'History' }), this.spanSel, this.slider, this.label, this.date, this.liveBtn);
    this.sync();
  }

  reanchor() {
    if (this.app.state.time === null) this.anchor = Date.now();
  }

  /** The slider's time, null at its right end (live). */
  sliderValue() {
    const v = Number(this.slider.value);
    if (v >= STEPS) return null;
    return Math.round(this.anchor - this.span + (v / STEPS) * this.span);
  }

  /** Puts the controls at the app's time. */
  sync() {
    const t = this.app.state.time;
    if (t === null) {
      this.anchor = Date.now();
      this.slider.value = String(STEPS);
      this.label.textContent = 'live';
      this.date.value = '';
      this.liveBtn.disabled = true;
      this.root.classList.remove('past');
    } else {
      if (t < this.anchor - this.span || t > this.anchor) this.anchor = Math.max(t, Date.now());
      const v = Math.round(((t - (this.anchor - this.span)) / this.span) * STEPS);
      this.slider.value = String(Math.max(0, Math.min(STEPS - 1, v)));
      this.label.textContent = fmtTime(t);
      this.date.value = toLocalInput(t);
      this.liveBtn.disabled = false;
      this.root.classList.add('past');
    }
  }
}
