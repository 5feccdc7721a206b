// The client against a real dropind (node --test test/client.test.js).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';

import { DropinClient, DropinError } from '../index.js';
import { LAT, LON, Node, PASSWORD, nextEvent, north, uniqueEmail, waitFor } from './harness.js';

const open = [];

function client(node, opts = {}) {
  const c = new DropinClient(node.wsUrl, {
    WebSocket, backoffMinMs: 100, backoffMaxMs: 1000, ...opts,
  });
  open.push(c);
  return c;
}

/** A fresh account, signed in on its own client. */
async function account(node, type, opts = {}, first = 'Ann') {
  const c = client(node, opts);
  await c.connect();
  const email = uniqueEmail(type);
  const acct = await c.register({
    firstName: first, lastName: 'Lee', type, password: PASSWORD,
    identities: [{ type: 'email', value: email }],
  });
  assert.equal(acct.type, type);
  const states = [];
  c.on('state', (s) => states.push(s));
  const r = await c.login(email, PASSWORD);
  assert.ok(r.token && r.account.id === acct.id);
  assert.equal(c.token, r.token);
  assert.equal(states.length, 1, 'state fires once after login');
  assert.equal(c.account.id, acct.id);
  c.email = email;
  c.states = states;
  return c;
}

async function waitNearby(cust, n) {
  return waitFor(async () => {
    const near = await cust.call('map.nearby', { latitude: LAT, longitude: LON });
    return near.length >= n ? near : null;
  }, `${n} free operators on the map`);
}

async function closeAll() {
  await Promise.all(open.splice(0).map((c) => c.close()));
}

for (const codec of ['json', 'msgpack']) {
  describe(`gig flow (${codec})`, () => {
    const node = new Node();
    before(() => node.start());
    after(async () => { await closeAll(); await node.stop(); node.cleanup(); });

    test('two operators, one customer: create, offers, accept, revoke, confirm .. voted', async () => {
      const cust = await account(node, 'user', { codec }, 'Ninh');
      const op1 = await account(node, 'operator', { codec }, 'Op1');
      const op2 = await account(node, 'operator', { codec }, 'Op2');
      await op1.call('presence.update', { latitude: north(200), longitude: LON });
      op2.updatePresence({ latitude: north(400), longitude: LON }); // fire-and-forget
      const near = await waitNearby(cust, 2);
      assert.deepEqual(near.map((o) => o.firstName), ['Op1', 'Op2']);

      const offer1 = nextEvent(op1, 'gig.offer');
      const offer2 = nextEvent(op2, 'gig.offer');
      const gig = await cust.call('gig.create', {
        latitude: LAT, longitude: LON, deviceId: 'dev-1', metaData: { city: 'Saigon' },
      });
      assert.equal(gig.status, 'pendingOperator');
      assert.ok(cust.gigs.has(gig.id), 'the create reply lands in c.gigs');
      const [o1, o2] = await Promise.all([offer1, offer2]);
      assert.equal(o1.gigId, gig.id);
      assert.equal(o2.customer.firstName, 'Ninh');
      assert.ok(op1.offers.has(gig.id) && op2.offers.has(gig.id));

      const revoked = nextEvent(op2, 'gig.offer_revoked', (r) => r.gigId === gig.id);
      const custFound = nextEvent(cust, 'gig.updated', (g) => g.id === gig.id && g.status === 'operatorFound');
      const claimed = await op1.call('gig.claim', { gigId: gig.id, response: 'accept' });
      assert.equal(claimed.status, 'operatorFound');
      assert.equal((await revoked).reason, 'taken');
      assert.ok(!op2.offers.has(gig.id), 'a revoked offer leaves c.offers');
      assert.ok(!op1.offers.has(gig.id), 'an accepted offer leaves c.offers');
      assert.equal(op1.gigs.get(gig.id).status, 'operatorFound');
      assert.equal((await custFound).version, claimed.version);
      assert.equal(cust.gigs.get(gig.id).version, claimed.version);

      // a second claim fails with the protocol's code
      await assert.rejects(op2.call('gig.claim', { gigId: gig.id, response: 'accept' }),
        (e) => e instanceof DropinError && (e.code === 'conflict' || e.code === 'forbidden'));

      let g = await cust.call('gig.confirm', { gigId: gig.id });
      assert.equal(g.status, 'operatorEnroute');
      await waitFor(() => op1.gigs.get(gig.id).status === 'operatorEnroute', 'operator sees enroute');
      const h1 = await op1.call('gig.handshake', { gigId: gig.id });
      assert.equal(h1.video.role, 'publisher');
      const h2 = await cust.call('gig.handshake', { gigId: gig.id });
      assert.equal(h2.video.sessionId, h1.video.sessionId);
      g = await cust.call('gig.start', { gigId: gig.id });
      assert.equal(g.status, 'streaming');
      g = await op1.call('gig.stop', { gigId: gig.id });
      assert.equal(g.status, 'purchased');
      await assert.rejects(cust.call('gig.create', { latitude: LAT, longitude: LON, deviceId: 'd' }),
        { name: 'DropinError', code: 'rating_required' });
      await cust.call('gig.rate', { gigId: gig.id, rating: 4 });
      g = await op1.call('gig.rate', { gigId: gig.id, rating: 5 });
      assert.equal(g.status, 'voted');
      await waitFor(() => cust.gigs.get(gig.id).status === 'voted', 'customer holds the final state');
      assert.equal(cust.gigs.get(gig.id).version, g.version);
      await waitFor(() => op1.gigs.get(gig.id).version === g.version, 'operator holds the final version');
    });

    test('errors carry the protocol code; closed client fails with disconnected', async () => {
      const c = await account(node, 'user', { codec });
      await assert.rejects(c.call('gig.create', { latitude: 'x' }), { code: 'bad_request' });
      await assert.rejects(c.call('admin.stats', {}), { code: 'forbidden' });
      const anon = client(node, { codec });
      await anon.connect();
      await assert.rejects(anon.login(c.email, 'wrong password'), { code: 'unauthenticated' });
      await c.close();
      assert.equal(c.status, 'closed');
      await assert.rejects(c.call('sys.ping', {}), { code: 'disconnected' });
    });
  });
}

describe('reconnect, resync, stale events, 4401', () => {
  const node = new Node();
  before(() => node.start());
  after(async () => { await closeAll(); await node.stop(); node.cleanup(); });

  test('dropind stopped and restarted mid-gig: reconnect, state, gigs at the server version', async () => {
    const cust = await account(node, 'user', {}, 'Cara');
    const op = await account(node, 'operator', {}, 'Olly');
    const op2 = await account(node, 'operator', {}, 'Otto');
    await op.call('presence.update', { latitude: north(100), longitude: LON });
    await op2.call('presence.update', { latitude: north(300), longitude: LON });
    await waitNearby(cust, 2);
    const offered = nextEvent(op, 'gig.offer');
    const gig = await cust.call('gig.create', { latitude: LAT, longitude: LON, deviceId: 'dev-r' });
    await offered;
    const found = await op.call('gig.claim', { gigId: gig.id, response: 'accept' });
    await waitFor(() => cust.gigs.get(gig.id)?.version === found.version, 'customer at operatorFound');

    const log = [];
    for (const [who, c] of [['customer', cust], ['operator', op]]) {
      c.on('close', (e) => log.push(`${who} close code=${e.code} willReconnect=${e.willReconnect}`));
      c.on('reconnecting', (e) => log.push(`${who} reconnecting attempt=${e.attempt} delayMs=${e.delayMs}`));
      c.on('open', () => log.push(`${who} open`));
      c.on('state', (s) => log.push(`${who} state gigs=${s.gigs.map((x) => `${x.id.slice(-6)}@v${x.version}:${x.status}`).join(',')}`));
    }
    const custClosed = nextEvent(cust, 'close');
    const custRetry = nextEvent(cust, 'reconnecting');
    const statesBefore = cust.states.length;
    await node.stop();
    const ev = await custClosed;
    assert.equal(ev.code, 1001, 'drain closes with 1001');
    assert.equal(ev.willReconnect, true);
    assert.deepEqual(await custRetry, { attempt: 1, delayMs: 0 }, 'after 1001 the first retry is immediate');
    await waitFor(() => cust.status === 'reconnecting', 'customer reconnecting');
    // a request made while disconnected waits for the reconnect
    const confirming = cust.call('gig.confirm', { gigId: gig.id }, { timeout: 30000 });
    // presence is never queued: it fails at once, and only the latest is re-sent
    await assert.rejects(op2.call('presence.update', { latitude: north(250), longitude: LON }),
      { code: 'disconnected' });
    log.push('dropind stopped; restarting on the same port and store');
    await node.start();

    const confirmed = await confirming;
    assert.equal(confirmed.status, 'operatorEnroute');
    await waitFor(() => cust.states.length > statesBefore, 'state after the reconnect');
    assert.equal(cust.status, 'open');
    assert.ok(cust.gigs.has(gig.id), 'the snapshot holds the live gig');
    await waitFor(() => op.gigs.get(gig.id)?.version === confirmed.version, 'operator at the server version');
    assert.equal(cust.gigs.get(gig.id).version, confirmed.version);
    const detail = await cust.call('gig.get', { gigId: gig.id });
    assert.equal(detail.gig.status, 'operatorEnroute');
    // op2's latest position went out again after the reconnect: it is back on the map
    const near = await waitFor(async () => {
      const n = await cust.call('map.nearby', { latitude: LAT, longitude: LON });
      return n.some((o) => o.firstName === 'Otto') ? n : null;
    }, 'the latest presence of the free operator re-sent and on the map');
    console.log('# map after restart: ' + near.map((o) => o.firstName).join(', '));
    // Olly's position went out again too, but Olly is in a live gig: not free
    assert.ok(!near.some((o) => o.firstName === 'Olly'), 'the operator of a live gig is not free');
    console.log('# reconnect scenario:\n' + log.map((l) => '#   ' + l).join('\n'));
  });

  test('a gig.updated whose version is not newer is ignored', async () => {
    const cust = await account(node, 'user');
    const op = await account(node, 'operator');
    await op.call('presence.update', { latitude: north(50), longitude: LON });
    await waitFor(async () => (await cust.call('map.nearby', { latitude: LAT, longitude: LON }))
      .some((o) => o.id === op.account.id), 'operator on the map');
    const seen = [];
    cust.on('gig.updated', (g) => seen.push(g));
    const offered = nextEvent(op, 'gig.offer');
    const gig = await cust.call('gig.create', { latitude: LAT, longitude: LON, deviceId: 'dev-s' });
    await offered;
    const evFound = nextEvent(cust, 'gig.updated', (g) => g.status === 'operatorFound');
    await op.call('gig.claim', { gigId: gig.id, response: 'accept' });
    const old = await evFound;
    const cancelled = await cust.call('gig.cancel', { gigId: gig.id }).catch(() => null)
      || await cust.call('gig.confirm', { gigId: gig.id });
    await waitFor(() => cust.gigs.get(gig.id).version === cancelled.version, 'newest version held');
    const n = seen.length;
    // the server's own earlier event, delivered again: older than what is held
    cust._onMessage(JSON.stringify({ ev: 'gig.updated', data: old }));
    cust._onMessage(JSON.stringify({ ev: 'gig.updated', data: cust.gigs.get(gig.id) }));
    assert.equal(cust.gigs.get(gig.id).version, cancelled.version);
    assert.equal(cust.gigs.get(gig.id).status, cancelled.status);
    assert.equal(seen.length, n, 'stale and same-version events are not emitted');
    // a newer one is applied (the version check is not simply "drop all")
    cust._onMessage(JSON.stringify({ ev: 'gig.updated', data: { ...old, version: cancelled.version + 1 } }));
    assert.equal(cust.gigs.get(gig.id).version, cancelled.version + 1);
    assert.equal(seen.length, n + 1);
  });

  test('4401 after logout: no reconnect, token cleared, every session on the token closed', async () => {
    const c = await account(node, 'user');
    const token = c.token;
    const twin = client(node, { token });
    await twin.connect(); // signs in with the held token
    assert.equal(twin.account.id, c.account.id);
    const twinClosed = nextEvent(twin, 'close');
    const closed = nextEvent(c, 'close');
    let reconnecting = 0;
    c.on('reconnecting', () => reconnecting++);
    twin.on('reconnecting', () => reconnecting++);
    await c.logout();
    const [e1, e2] = await Promise.all([closed, twinClosed]);
    assert.deepEqual([e1.code, e1.willReconnect], [4401, false]);
    assert.deepEqual([e2.code, e2.willReconnect], [4401, false]);
    assert.equal(c.token, null);
    assert.equal(c.status, 'closed');
    assert.equal(twin.status, 'closed');
    assert.equal(reconnecting, 0);
    await assert.rejects(c.call('sys.ping', {}), { code: 'disconnected' });
    // the revoked token no longer signs in: connect() rejects
    const again = client(node, { token });
    await assert.rejects(again.connect(), { code: 'unauthenticated' });
    assert.equal(again.status, 'closed');
  });
});

describe('close codes: 4429 backs off harder, then reconnects and signs in again', () => {
  const node = new Node(['--rate_limit', '5', '--rate_burst', '5']);
  before(() => node.start());
  after(async () => { await closeAll(); await node.stop(); node.cleanup(); });

  test('a flood is answered rate_limited, then 4429; the client comes back by itself', async () => {
    const c = await account(node, 'user');
    const closed = nextEvent(c, 'close');
    const reconnecting = nextEvent(c, 'reconnecting');
    const states = c.states.length;
    const results = await Promise.allSettled(Array.from({ length: 60 }, () => c.call('sys.ping', {})));
    const codes = new Set(results.filter((r) => r.status === 'rejected').map((r) => r.reason.code));
    assert.ok(codes.has('rate_limited'), [...codes].join(','));
    assert.ok(codes.has('disconnected'), 'requests in flight at the close fail with disconnected');
    const e = await closed;
    assert.deepEqual([e.code, e.willReconnect], [4429, true]);
    const r = await reconnecting;
    assert.ok(r.attempt >= 5, `4429 starts the backoff further up (attempt ${r.attempt})`);
    await waitFor(() => c.states.length > states && c.status === 'open', 'signed in again');
    assert.ok((await c.call('sys.ping', {})).time);
  });
});
