// @ts-check
/**
 * The /ws/subscriber connection (docs/api.md, "WebSocket endpoints"): Skydive's envelope
 * `{Namespace, Type, UUID, Status, Obj}`, a `SyncRequest` (with `Time` for the past and
 * `GremlinFilter` for a restricted view) answered by a `SyncReply`, then live events.
 *
 * Reconnects by itself (0.5 s doubling to 10 s) and repeats the last SyncRequest, so a
 * restarted analyzer or a resync never leaves a stale picture. Events that arrive while a
 * SyncRequest is pending are dropped: the reply contains them, and the server guarantees the
 * events after a reply are exactly the changes after it.
 * Must not: touch the DOM or the model (app.js wires the callbacks).
 */

/**
 * @typedef {{time: number | null, filter: string}} SyncParams
 * @typedef {{onSync: (graph: any, solicited: boolean, params: SyncParams) => void,
 *   onEvent: (type: string, obj: any) => void,
 *   onStatus: (status: 'connecting' | 'open' | 'closed', detail: string) => void,
 *   onError: (message: string) => void}} Handlers
 */

let counter = 0;
function uuid() {
  counter++;
  return `webui-${Date.now().toString(36)}-${counter}`;
}

export class Subscriber {
  /** @param {Handlers} h */
  constructor(h) {
    this.h = h;
    /** @type {WebSocket | null} */
    this.ws = null;
    /** @type {SyncParams} */
    this.params = { time: null, filter: '' };
    /**
     * The SyncRequest waiting for its reply (sent again after a reconnection).
     * @type {{id: string | null, params: SyncParams, resolve: (g: any) => void, reject: (e: Error) => void} | null}
     */
    this.current = null;
    this.backoff = 500;
    this.closedByUs = false;
    // One identity per tab: two tabs must not collide on X-Host-ID (409).
    this.hostId = `webui-${Math.random().toString(36).slice(2, 10)}`;
    /** messages received, for the status line and the tests */
    this.received = 0;
  }

  url() {
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    return `${proto}//${location.host}/ws/subscriber?x-client-type=webui&x-host-id=${this.hostId}`;
  }

  connect() {
    this.closedByUs = false;
    this.h.onStatus('connecting', this.url());
    const ws = new WebSocket(this.url());
    this.ws = ws;
    ws.onopen = () => {
      this.backoff = 500;
      this.h.onStatus('open', '');
      if (this.current) this.send();
      else this.sync(this.params).catch((e) => this.h.onError(e.message));
    };
    ws.onmessage = (ev) => this.receive(ev.data);
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (this.current) this.current.id = null;
      if (this.closedByUs) return;
      const why = ev.reason || `code ${ev.code}`;
      this.h.onStatus('closed', `disconnected (${why}); retrying in ${(this.backoff / 1000).toFixed(1)} s`);
      setTimeout(() => this.connect(), this.backoff);
      this.backoff = Math.min(this.backoff * 2, 10000);
    };
  }

  close() {
    this.closedByUs = true;
    this.ws?.close();
  }

  /**
   * Asks for the graph at a time (null: live), restricted by a Gremlin filter ('' for none).
   * Resolves with the graph; rejects with the analyzer's message (bad filter, no history…)
   * or "superseded" when another request replaced this one.
   * @param {SyncParams} params
   * @returns {Promise<any>}
   */
  sync(params) {
    this.params = { ...params };
    this.current?.reject(new Error('superseded'));
    const promise = new Promise((resolve, reject) => {
      this.current = { id: null, params: this.params, resolve, reject };
    });
    this.send();
    return promise;
  }

  send() {
    const ws = this.ws, cur = this.current;
    if (!ws || ws.readyState !== WebSocket.OPEN || !cur) return;
    cur.id = uuid();
    /** @type {Record<string, any>} */
    const obj = { GremlinFilter: cur.params.filter };
    if (cur.params.time !== null) obj.Time = cur.params.time;
    ws.send(JSON.stringify({ Namespace: 'Graph', Type: 'SyncRequest', UUID: cur.id, Obj: obj }));
  }

  /** @param {string} data */
  receive(data) {
    this.received++;
    let msg;
    try {
      msg = JSON.parse(data);
    } catch {
      this.h.onError('the analyzer sent a message that is not JSON');
      return;
    }
    const type = msg?.Type;
    const ok = msg?.Status === undefined || msg?.Status === 200;
    if (type === 'SyncReply') {
      const cur = this.current;
      if (cur && cur.id === msg.UUID) {
        this.current = null;
        if (!ok) { cur.reject(new Error(errorText(msg.Obj))); return; }
        this.h.onSync(msg.Obj, true, cur.params);
        cur.resolve(msg.Obj);
        return;
      }
      // A reply to a superseded request, or a resync while ours is on its way: ours follows.
      if (cur) return;
      // Unsolicited: the server resynchronises a subscriber that lost messages.
      if (ok) this.h.onSync(msg.Obj, false, this.params);
      return;
    }
    if (type === 'Error') {
      this.h.onError(errorText(msg.Obj));
      return;
    }
    if (this.current) return;
    this.h.onEvent(type, msg.Obj);
  }
}

/** @param {any} obj */
function errorText(obj) {
  if (typeof obj === 'string') return obj;
  if (obj && typeof obj.error === 'string') return obj.error;
  return JSON.stringify(obj);
}
