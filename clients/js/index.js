// dropin-client: the JavaScript client of the Dropin engine (PROTOCOL.md).
//
// One DropinClient holds one WebSocket to a node: it matches replies to
// requests, reconnects with exponential backoff and full jitter, signs in
// again with the token it holds, applies every `session.state` snapshot and
// keeps `gigs` / `offers` current, ignoring any gig event whose version is
// not newer than the one it holds. Plain ES module, no build step, no
// dependency (MessagePack needs @msgpack/msgpack, loaded only for it).

const SUBPROTOCOL = { json: 'dropin.v1.json', msgpack: 'dropin.v1.msgpack' };

// Ops whose reply signs the socket in (reply data carries {token, account}).
const SIGN_IN_OPS = new Set(['auth.login', 'auth.code.verify', 'auth.password.reset']);
// Ops whose reply is a gig (or {gig, video}) of the caller.
const GIG_REPLY_OPS = new Set(['gig.create', 'gig.claim', 'gig.confirm', 'gig.reject',
  'gig.cancel', 'gig.handshake', 'gig.start', 'gig.stop', 'gig.rate']);
// Close codes after which reconnecting cannot help.
const NO_RECONNECT = new Set([1008, 4401]);

/** An error reply of the server, or one of the client's own (`timeout`,
 * `disconnected`). `code` is the protocol's error code. */
export class DropinError extends Error {
  constructor(code, message, details) {
    super(message || code);
    this.name = 'DropinError';
    this.code = code;
    if (details !== undefined) this.details = details;
  }
}

function fullJitter(attempt, minMs, maxMs) {
  const cap = Math.min(maxMs, minMs * 2 ** attempt);
  return Math.floor(Math.random() * cap);
}

export class DropinClient {
  /**
   * @param {string} url  ws[s]://host:port/ws
   * @param {object} [opts] see index.d.ts (DropinClientOptions)
   */
  constructor(url, opts = {}) {
    this.url = url;
    this.codec = opts.codec || 'json';
    if (!SUBPROTOCOL[this.codec]) throw new TypeError('codec must be "json" or "msgpack"');
    this.WebSocket = opts.WebSocket || globalThis.WebSocket;
    if (typeof this.WebSocket !== 'function') {
      throw new TypeError('no WebSocket implementation: pass {WebSocket} (e.g. from the "ws" package)');
    }
    this.reconnect = opts.reconnect !== false;
    this.requestTimeout = opts.requestTimeout ?? 10000;
    this.backoffMinMs = opts.backoffMinMs ?? 500;
    this.backoffMaxMs = opts.backoffMaxMs ?? 30000;
    this.maxQueued = opts.maxQueued ?? 100;
    this.headers = opts.headers; // Node "ws" only: extra upgrade headers
    this._msgpack = opts.msgpack || null; // {encode, decode}, else imported on demand

    /** The token of this session: store it to sign in again later. */
    this.token = opts.token || null;
    /** The signed-in account (from the last sign-in or session.state). */
    this.account = null;
    /** Live gigs of the account, id -> gig, version-aware. */
    this.gigs = new Map();
    /** Open offers to this operator, gigId -> gig.offer data. */
    this.offers = new Map();
    /** Unread inbox messages, from the last session.state. */
    this.unread = 0;
    /** 'idle' | 'connecting' | 'open' | 'reconnecting' | 'closed' */
    this.status = 'idle';

    this._listeners = new Map();
    this._versions = new Map(); // gigId -> newest version seen (outlives the maps)
    this._ws = null;
    this._ready = false;        // socket open and (when a token is held) signed in
    this._want = false;         // the user wants a connection
    this._everReady = false;
    this._attempt = 0;
    this._timer = null;
    this._nextId = 1;
    this._inflight = new Map(); // id -> {resolve, reject, timer, op}
    this._queue = [];           // requests waiting for the connection
    this._presence = null;      // the latest presence.update data
    this._connectWaiters = [];
    this._stateWaiters = [];
    this._closeWaiters = [];
  }

  // ---- events ----

  /** Adds a listener: a server event name, or 'state', 'open', 'close',
   * 'reconnecting', 'error'. */
  on(name, fn) {
    if (!this._listeners.has(name)) this._listeners.set(name, new Set());
    this._listeners.get(name).add(fn);
    return this;
  }

  off(name, fn) {
    const s = this._listeners.get(name);
    if (s) s.delete(fn);
    return this;
  }

  _emit(name, data) {
    const s = this._listeners.get(name);
    if (!s) return;
    for (const fn of [...s]) {
      try {
        fn(data);
      } catch (e) {
        // a listener's bug must not break the client: surface it apart
        setTimeout(() => { throw e; });
      }
    }
  }

  // ---- connection ----

  /** Opens the socket; with a token held, signs in with it. Resolves when
   * requests can flow (after the session.state of a token sign-in). Rejects
   * when the first attempt fails; later drops reconnect by themselves. */
  connect() {
    if (this._ready) return Promise.resolve();
    const p = new Promise((resolve, reject) => this._connectWaiters.push({ resolve, reject }));
    if (!this._want) {
      this._want = true;
      this._everReady = false;
      this._attempt = 0;
      this._open();
    }
    return p;
  }

  async _codecReady() {
    if (this.codec !== 'msgpack' || this._msgpack) return;
    try {
      const m = await import('@msgpack/msgpack');
      this._msgpack = { encode: m.encode, decode: m.decode };
    } catch (e) {
      throw new DropinError('bad_request', 'codec "msgpack" needs @msgpack/msgpack (npm install @msgpack/msgpack, or pass {msgpack: {encode, decode}})');
    }
  }

  async _open() {
    this._timer = null;
    this.status = this._everReady ? 'reconnecting' : 'connecting';
    try {
      await this._codecReady();
    } catch (e) {
      this._want = false;
      this.status = 'closed';
      this._settleConnect(e);
      return;
    }
    if (!this._want) return;
    let ws;
    try {
      const proto = [SUBPROTOCOL[this.codec]];
      ws = this.headers ? new this.WebSocket(this.url, proto, { headers: this.headers })
        : new this.WebSocket(this.url, proto);
    } catch (e) {
      this._onClose(null, 1006, String(e && e.message || e));
      return;
    }
    ws.binaryType = 'arraybuffer';
    this._ws = ws;
    ws.onopen = () => { if (this._ws === ws) this._onOpen(); };
    ws.onmessage = (ev) => { if (this._ws === ws) this._onMessage(ev.data); };
    ws.onerror = () => {}; // a close event follows
    ws.onclose = (ev) => this._onClose(ws, ev.code, ev.reason || '');
  }

  async _onOpen() {
    const ws = this._ws;
    if (this.token) {
      try {
        const stateSeen = this._nextState();
        const data = await this._request('auth.token', { token: this.token }, {}, true);
        if (data && data.account) this.account = data.account;
        await stateSeen;
      } catch (e) {
        if (this._ws !== ws) return; // the socket went meanwhile; _onClose handled it
        if (e.code === 'unauthenticated') {
          // the token is no longer good: stop, the app must sign in again
          this._stopReason = { code: 4401, reason: 'token rejected', error: e };
          this.token = null;
          this._want = false;
          ws.close(4000, 'token rejected');
        } else {
          try { ws.close(4000, 'sign-in failed'); } catch (_) { /* closing anyway */ }
        }
        return;
      }
      if (this._ws !== ws) return;
    }
    this._becomeReady();
  }

  _becomeReady() {
    this._ready = true;
    this._everReady = true;
    this._attempt = 0;
    this.status = 'open';
    this._emit('open', { url: this.url });
    if (this._presence && this.token) {
      // only the latest position, once, fire-and-forget
      this._send({ op: 'presence.update', data: this._presence });
    }
    const q = this._queue;
    this._queue = [];
    for (const item of q) this._sendRequest(item);
    this._settleConnect(null);
  }

  _settleConnect(err) {
    const w = this._connectWaiters;
    this._connectWaiters = [];
    for (const { resolve, reject } of w) err ? reject(err) : resolve();
  }

  _onClose(ws, code, reason) {
    if (ws && this._ws !== ws) return;
    this._ws = null;
    this._ready = false;
    const err = new DropinError('disconnected', `connection closed (${code}${reason ? ' ' + reason : ''})`);
    // a sent request may or may not have been applied: never resent
    for (const [id, p] of this._inflight) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    this._inflight.clear();
    this._rejectStateWaiters(err);

    let stop = this._stopReason;
    this._stopReason = null;
    if (stop) {
      code = stop.code;
      reason = stop.reason;
    }
    const willReconnect = this._want && this.reconnect && this._everReady && !NO_RECONNECT.has(code);
    if (code === 4401) this.token = null; // revoked or signed out: sign in again
    if (!willReconnect) {
      const first = !this._everReady;
      this._want = false;
      this.status = 'closed';
      for (const item of this._queue) {
        clearTimeout(item.timer);
        item.reject(err);
      }
      this._queue = [];
      this._settleConnect(stop && stop.error ? stop.error
        : new DropinError('disconnected', first ? `could not connect (${code}${reason ? ' ' + reason : ''})` : err.message));
      this._emit('close', { code, reason, willReconnect: false });
      const cw = this._closeWaiters;
      this._closeWaiters = [];
      for (const f of cw) f();
      return;
    }
    this.status = 'reconnecting';
    this._emit('close', { code, reason, willReconnect: true });
    let delayMs;
    if (code === 1001 && this._attempt === 0) {
      delayMs = 0; // going away: another node takes us at once
    } else {
      if (code === 4429) this._attempt = Math.max(this._attempt, 4); // back off harder
      delayMs = fullJitter(this._attempt, this.backoffMinMs, this.backoffMaxMs);
    }
    this._attempt++;
    this._emit('reconnecting', { attempt: this._attempt, delayMs });
    this._timer = setTimeout(() => this._open(), delayMs);
  }

  /** Closes the connection for good (no reconnect). Resolves once closed. */
  close() {
    this._want = false;
    if (this._timer) {
      clearTimeout(this._timer);
      this._timer = null;
    }
    const ws = this._ws;
    if (!ws) {
      if (this.status !== 'closed') this._onClose(null, 1000, 'client closed');
      return Promise.resolve();
    }
    const p = new Promise((resolve) => this._closeWaiters.push(resolve));
    try {
      ws.close(1000, 'client closed');
    } catch (_) {
      this._onClose(ws, 1000, 'client closed');
    }
    return p;
  }

  // ---- requests ----

  /** Sends one op and resolves with its reply's data, or rejects with a
   * DropinError. While disconnected a request waits (at most its timeout,
   * maxQueued requests) for the reconnect, then goes out. */
  call(op, data = {}, opts = {}) {
    return this._request(op, data, opts, false);
  }

  _request(op, data, opts, direct) {
    const timeout = opts.timeout ?? this.requestTimeout;
    if (op === 'presence.update') this._presence = data;
    if (op === 'presence.offline') this._presence = null;
    return new Promise((resolve, reject) => {
      const item = { op, data, resolve, reject, timeout, deadline: Date.now() + timeout, timer: null, id: 0 };
      if (direct || this._ready) {
        this._sendRequest(item);
        return;
      }
      if (!this._want || op === 'presence.update' || this._queue.length >= this.maxQueued) {
        reject(new DropinError('disconnected', op === 'presence.update'
          ? 'not connected (the latest position is sent after reconnect)' : 'not connected'));
        return;
      }
      item.timer = setTimeout(() => {
        const i = this._queue.indexOf(item);
        if (i >= 0) this._queue.splice(i, 1);
        reject(new DropinError('disconnected', `${op}: not connected within ${timeout} ms`));
      }, timeout);
      this._queue.push(item);
    });
  }

  _sendRequest(item) {
    clearTimeout(item.timer);
    const id = this._nextId++;
    item.id = id;
    // the timeout counts from the call: time spent queued is part of it
    item.timer = setTimeout(() => {
      if (this._inflight.delete(id)) {
        item.reject(new DropinError('timeout', `${item.op}: no reply within ${item.timeout} ms`));
      }
    }, Math.max(0, item.deadline - Date.now()));
    this._inflight.set(id, item);
    if (!this._send({ op: item.op, id, data: item.data })) {
      this._inflight.delete(id);
      clearTimeout(item.timer);
      item.reject(new DropinError('disconnected', 'not connected'));
    }
  }

  _send(env) {
    const ws = this._ws;
    if (!ws || ws.readyState !== 1) return false;
    try {
      ws.send(this.codec === 'msgpack' ? this._msgpack.encode(env) : JSON.stringify(env));
      return true;
    } catch (_) {
      return false;
    }
  }

  _onMessage(raw) {
    let m;
    try {
      if (typeof raw === 'string') m = JSON.parse(raw);
      else m = this._msgpack ? this._msgpack.decode(new Uint8Array(raw)) : JSON.parse(new TextDecoder().decode(raw));
    } catch (e) {
      this._emit('error', new DropinError('bad_request', 'undecodable message from the server'));
      return;
    }
    if (!m || typeof m !== 'object') return;
    if (m.ev !== undefined) {
      this._onEvent(m.ev, m.data);
      return;
    }
    const p = m.re !== undefined ? this._inflight.get(m.re) : undefined;
    if (!p) {
      // a failed fire-and-forget request (no id), or a reply after its timeout
      if (m.ok === false) {
        const e = m.error || {};
        this._emit('error', new DropinError(e.code || 'internal', e.message));
      }
      return;
    }
    this._inflight.delete(m.re);
    clearTimeout(p.timer);
    if (m.ok) {
      this._applyReply(p.op, p.data, m.data);
      p.resolve(m.data);
    } else {
      const e = m.error || {};
      p.reject(new DropinError(e.code || 'internal', e.message || e.code));
    }
  }

  _applyReply(op, req, data) {
    if (SIGN_IN_OPS.has(op) && data && data.token) {
      this.token = data.token;
      if (data.account) this.account = data.account;
    } else if (op === 'auth.token' && data && data.account) {
      this.account = data.account;
    } else if (op === 'auth.logout') {
      // signed out: the server closes with 4401; whatever close arrives, no reconnect
      this.token = null;
      this._presence = null;
      this._want = false;
    } else if (GIG_REPLY_OPS.has(op) && data) {
      const g = op === 'gig.handshake' ? data.gig : data;
      if (op === 'gig.claim' && req && req.gigId) this._dropOffer(req.gigId);
      // the reply is the gig's newest state: it is announced like the event
      // it makes stale (one gig.updated per version, whoever acted)
      if (g && this._isMine(g) && this._applyGig(g)) this._emit('gig.updated', g);
    }
  }

  // ---- sign-in helpers ----

  /** Signs in with an identity (email or phone) and a password. Resolves
   * with {token, expiresAt, account} after session.state has been applied. */
  async login(identity, password) {
    const stateSeen = this._nextState();
    let data;
    try {
      data = await this.call('auth.login', { identity, password });
    } catch (e) {
      this._dropStateWaiter(stateSeen);
      throw e;
    }
    await stateSeen;
    return data;
  }

  /** Signs in with a token kept from an earlier session. */
  async loginWithToken(token) {
    const stateSeen = this._nextState();
    let data;
    try {
      data = await this.call('auth.token', { token });
    } catch (e) {
      this._dropStateWaiter(stateSeen);
      throw e;
    }
    this.token = token;
    await stateSeen;
    return data;
  }

  /** Signs out: the token is revoked and the server closes with 4401. */
  async logout() {
    return this.call('auth.logout', {});
  }

  /** Registers an account (account.register). */
  register(data) {
    return this.call('account.register', data);
  }

  /** Sends an operator's position fire-and-forget (no reply unless it
   * fails, then an 'error' event). Never queued: while disconnected only
   * the latest position is kept, and it is sent after the reconnect. */
  updatePresence(pos) {
    this._presence = pos;
    if (this._ready) this._send({ op: 'presence.update', data: pos });
  }

  _nextState() {
    let w;
    const p = new Promise((resolve, reject) => { w = { resolve, reject }; });
    w.timer = setTimeout(() => {
      this._dropStateWaiter(p);
      w.reject(new DropinError('timeout', 'no session.state after sign-in'));
    }, this.requestTimeout);
    p._w = w;
    p.catch(() => {});
    this._stateWaiters.push(p);
    return p;
  }

  _dropStateWaiter(p) {
    const i = this._stateWaiters.indexOf(p);
    if (i >= 0) this._stateWaiters.splice(i, 1);
    clearTimeout(p._w.timer);
  }

  _rejectStateWaiters(err) {
    const w = this._stateWaiters;
    this._stateWaiters = [];
    for (const p of w) {
      clearTimeout(p._w.timer);
      p._w.reject(err);
    }
  }

  // ---- state ----

  _isMine(g) {
    const me = this.account && this.account.id;
    return !!me && (g.customer === me || g.operator === me);
  }

  _newer(gigId, version) {
    if (typeof version !== 'number') return true;
    const held = this._versions.get(gigId);
    return held === undefined || version > held;
  }

  _applyGig(g) {
    if (!g || !g.id || !this._newer(g.id, g.version)) return false;
    if (typeof g.version === 'number') this._versions.set(g.id, g.version);
    this.gigs.set(g.id, g);
    if (g.status !== 'pendingOperator') this._dropOffer(g.id);
    return true;
  }

  _dropOffer(gigId) {
    this.offers.delete(gigId);
  }

  _onEvent(name, data) {
    switch (name) {
      case 'session.state': {
        data = data || {};
        if (data.account) this.account = data.account;
        this.unread = data.unread || 0;
        // the snapshot replaces both maps: gigs that ended meanwhile go
        this.gigs = new Map();
        this.offers = new Map();
        for (const g of data.gigs || []) {
          if (typeof g.version === 'number') this._versions.set(g.id, g.version);
          this.gigs.set(g.id, g);
        }
        for (const o of data.offers || []) {
          if (typeof o.version === 'number' && !this.gigs.has(o.gigId)) this._versions.set(o.gigId, o.version);
          this.offers.set(o.gigId, o);
        }
        const w = this._stateWaiters;
        this._stateWaiters = [];
        for (const p of w) {
          clearTimeout(p._w.timer);
          p._w.resolve(data);
        }
        this._emit('state', data);
        return;
      }
      case 'gig.updated':
        if (!this._applyGig(data)) return; // stale: ignored
        break;
      case 'gig.offer':
        if (!data || !this._newer(data.gigId, data.version)) return;
        if (typeof data.version === 'number') this._versions.set(data.gigId, data.version);
        this.offers.set(data.gigId, data);
        break;
      case 'gig.offer_revoked':
        if (!data || !this._newer(data.gigId, data.version)) return;
        if (typeof data.version === 'number') this._versions.set(data.gigId, data.version);
        this._dropOffer(data.gigId);
        break;
      case 'inbox.message':
        this.unread++;
        break;
      default:
        break;
    }
    this._emit(name, data);
  }
}

export default DropinClient;
