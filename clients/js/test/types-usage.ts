// Type-checked by test/types.test.js (tsc --noEmit): how an app uses the
// declarations. Not run.
import { DropinClient, DropinError, type Gig, type Offer, type SessionState } from '../index.js';

async function customer(url: string): Promise<void> {
  const c = new DropinClient(url, { codec: 'json', reconnect: true, requestTimeout: 5000 });
  await c.connect();
  const { token, account } = await c.login('ann@example.com', 'correct horse');
  const t: string = token;
  const first: string = account.firstName;
  const gig: Gig = await c.call('gig.create', { latitude: 10.78, longitude: 106.7, deviceId: 'd' });
  const v: number = gig.version;
  const near = await c.call('map.nearby', { latitude: 10.78, longitude: 106.7 });
  const d: number = near[0].distance;
  const hs = await c.call('gig.handshake', { gigId: gig.id });
  const role: 'publisher' | 'subscriber' = hs.video.role;
  c.on('gig.updated', (g) => { const s: string = g.status; });
  c.on('state', (s: SessionState) => { const n: number = s.unread; });
  c.on('close', (e) => { const again: boolean = e.willReconnect; });
  c.on('reconnecting', (e) => { const ms: number = e.delayMs; });
  const held: Gig | undefined = c.gigs.get(gig.id);
  try {
    await c.call('gig.confirm', { gigId: gig.id }, { timeout: 1000 });
  } catch (e) {
    if (e instanceof DropinError && e.code === 'conflict') { /* refresh */ }
  }
  const other: unknown = await c.call('some.future.op', { anything: 1 });
  await c.close();
  void [t, first, v, d, role, held, other];
}

async function operator(url: string): Promise<void> {
  const c = new DropinClient(url, { token: 'kept-token' });
  await c.connect();
  c.updatePresence({ latitude: 10.78, longitude: 106.7, available: true });
  c.on('gig.offer', async (o: Offer) => {
    await c.call('gig.claim', { gigId: o.gigId, response: 'accept' });
  });
  c.on('gig.offer_revoked', (r) => { const why: string = r.reason; });
  const offers: Map<string, Offer> = c.offers;
  void offers;
}

void customer;
void operator;
