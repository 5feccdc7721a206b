// Type declarations of dropin-client, from the Dropin client protocol
// (PROTOCOL.md): every op's data and reply, every event.

// ---------- objects ----------

/** 24-hex-char ObjectId. */
export type Id = string;
/** ISO-8601 UTC with milliseconds, e.g. "2016-04-12T03:10:12.542Z". */
export type Time = string;

export type AccountType = 'user' | 'operator' | 'admin';

export interface Identity {
  id: Id;
  type: 'email' | 'phone';
  value: string;
  status: 'unverified' | 'verified' | string;
  createdAt: Time;
  updatedAt: Time;
}

export interface Account {
  id: Id;
  type: AccountType;
  firstName: string;
  lastName: string;
  /** absent on another account's public profile */
  identities?: Identity[];
  picture?: string | null;
  organization?: string | null;
  archive?: boolean;
  status?: string;
  referralCode?: string;
  referralRate?: number;
  operatorRating: number | null;
  customerRating: number | null;
  createdAt: Time;
  updatedAt: Time;
  [key: string]: unknown;
}

export type GigStatus =
  | 'pendingOperator' | 'operatorFound' | 'operatorEnroute' | 'handshaking' | 'streaming'
  | 'purchased' | 'voted' | 'invoiceGenerated' | 'invoiceSent' | 'compensated'
  | 'allOperatorsRejected' | 'customerRejected' | 'cancelled' | 'expired' | 'failed' | 'terminated';

export interface Gig {
  id: Id;
  customer: Id;
  operator: Id | null;
  status: GigStatus;
  /** grows with every change; a client ignores events not newer than it holds */
  version: number;
  latitude: number;
  longitude: number;
  deviceId: string | null;
  claimId: string | null;
  metaData: Record<string, unknown> | null;
  /** the rating the customer received (from the operator) */
  customerRating: number | null;
  /** the rating the operator received (from the customer) */
  operatorRating: number | null;
  /** whole seconds */
  duration: number | null;
  createdAt: Time;
  updatedAt: Time;
  expiresAt: Time | null;
  [key: string]: unknown;
}

/** gig.get's reply: the seed's detail shape (customer/operator as names). */
export interface GigDetail {
  gig: Record<string, unknown> & { id: Id; status: GigStatus; version?: number };
  purchase: Record<string, unknown> | null;
  payment: Record<string, unknown> | null;
}

export interface Offer {
  gigId: Id;
  version?: number;
  latitude: number;
  longitude: number;
  /** metres */
  distance: number;
  customer: { firstName: string; customerRating: number | null };
  metaData: Record<string, unknown> | null;
  expiresAt: Time;
}

export interface OfferRevoked {
  gigId: Id;
  version?: number;
  reason: 'taken' | 'cancelled' | 'expired' | string;
}

export interface SessionState {
  account: Account;
  gigs: Gig[];
  offers: Offer[];
  unread: number;
}

export interface NearbyOperator {
  id: Id;
  firstName: string;
  latitude: number;
  longitude: number;
  /** metres */
  distance: number;
  operatorRating: number | null;
}

export interface Message {
  id: Id;
  from: Id;
  to: Id;
  text: string;
  createdAt: Time;
  readAt?: Time | null;
  [key: string]: unknown;
}

export interface Job {
  id: Id;
  status: string;
  [key: string]: unknown;
}

export interface VideoKeys {
  provider: 'dev' | 'opentok' | 'vonage' | string;
  apiKey: string;
  sessionId: string;
  token: string;
  role: 'publisher' | 'subscriber';
  expiresAt: Time;
}

export interface SignIn {
  token: string;
  expiresAt: Time;
  account: Account;
}

export interface RegisterData {
  firstName: string;
  lastName: string;
  type: 'user' | 'operator';
  password?: string;
  identities: { type: 'email' | 'phone'; value: string }[];
  organization?: string;
  picture?: string;
}

export interface Position {
  latitude: number;
  longitude: number;
  available?: boolean;
  accuracy?: number;
  heading?: number;
}

type GigRef = { gigId: Id };
type Empty = Record<string, never>;

// ---------- ops ----------

/** Every op: its request data and its reply data. */
export interface Ops {
  'sys.ping': { data: Empty | {}; reply: { time: Time } };
  'account.register': { data: RegisterData; reply: Account };
  'auth.login': { data: { identity: string; password: string }; reply: SignIn };
  'auth.token': { data: { token: string }; reply: { account: Account } };
  'auth.logout': { data: {}; reply: {} };
  'auth.code.send': { data: { identity: string; purpose?: 'login' | 'verify' | 'reset' }; reply: { sentTo: string; expiresAt: Time } };
  'auth.code.verify': { data: { identity: string; code: string }; reply: SignIn };
  'auth.password.reset': { data: { identity: string; code: string; password: string }; reply: SignIn };
  'device.register': { data: { platform: 'fcm' | 'apns'; token: string; sandbox?: boolean }; reply: {} };
  'device.unregister': { data: { token: string }; reply: {} };
  'account.get': { data: { id?: Id }; reply: Account };
  'account.update': { data: { id?: Id; firstName?: string; lastName?: string; picture?: string; organization?: string }; reply: Account };
  'account.delete': { data: { id?: Id }; reply: {} };
  'account.list': { data: { type?: AccountType; status?: string; q?: string; limit?: number; skip?: number }; reply: Account[] };
  'presence.update': { data: Position; reply: {} };
  'presence.offline': { data: {}; reply: {} };
  'map.nearby': { data: { latitude: number; longitude: number; radius?: number; limit?: number }; reply: NearbyOperator[] };
  'gig.create': { data: { latitude: number; longitude: number; deviceId: string; claimId?: string; metaData?: Record<string, unknown> }; reply: Gig };
  'gig.claim': { data: { gigId: Id; response: 'accept' | 'reject' }; reply: Gig };
  'gig.confirm': { data: GigRef; reply: Gig };
  'gig.reject': { data: GigRef; reply: Gig };
  'gig.cancel': { data: GigRef; reply: Gig };
  'gig.handshake': { data: GigRef; reply: { gig: Gig; video: VideoKeys } };
  'gig.start': { data: GigRef; reply: Gig };
  'gig.stop': { data: GigRef; reply: Gig };
  'gig.rate': { data: { gigId: Id; rating: 1 | 2 | 3 | 4 | 5 }; reply: Gig };
  'gig.get': { data: GigRef; reply: GigDetail };
  'gig.list': { data: { accountId?: Id; status?: GigStatus; limit?: number; before?: string }; reply: Record<string, unknown>[] };
  'inbox.send': { data: { to: Id; text: string }; reply: Message };
  'inbox.list': { data: { before?: string; limit?: number }; reply: Message[] };
  'inbox.read': { data: { ids: Id[] }; reply: {} };
  'job.save': { data: Record<string, unknown>; reply: Job };
  'job.list': { data: Record<string, unknown>; reply: Job[] };
  'job.status': { data: { id: Id; status: string } & Record<string, unknown>; reply: Job };
  'storage.sign': { data: { type: 'profileImage' | 'chat' | 'gig'; gigId?: Id; contentType?: string }; reply: { url: string; method: 'PUT'; headers: Record<string, string>; key: string; expiresAt: Time } };
  'push.send': { data: { recipientId: Id; data: unknown }; reply: { delivered: 'socket' | 'push' | 'none' } };
  'log.write': { data: { level: string; message: string; data?: unknown }; reply: {} };
}

export type OpName = keyof Ops;

// ---------- events ----------

export interface CloseInfo {
  /** 1001 going away, 1008 origin refused, 1009 too big, 4400 malformed,
   * 4401 auth timeout / token revoked, 4408 slow consumer, 4429 rate limit;
   * 1006 when the connection failed without a close frame */
  code: number;
  reason: string;
  willReconnect: boolean;
}

/** Every event a DropinClient emits: the server's and the client's own. */
export interface Events {
  'gig.offer': Offer;
  'gig.offer_revoked': OfferRevoked;
  /** once per new version (from the server's event or from your own request's reply) */
  'gig.updated': Gig;
  'inbox.message': Message;
  'job.updated': Job;
  push: { from: Id; data: unknown };
  /** after every session.state (every sign-in and every reconnect) */
  state: SessionState;
  /** the connection is usable (signed in again when a token is held) */
  open: { url: string };
  close: CloseInfo;
  reconnecting: { attempt: number; delayMs: number };
  /** a failed fire-and-forget request, or an undecodable message */
  error: DropinError;
}

// ---------- client ----------

export type ErrorCode =
  | 'bad_request' | 'unauthenticated' | 'forbidden' | 'not_found' | 'conflict'
  | 'rating_required' | 'too_large' | 'rate_limited' | 'unavailable' | 'internal'
  /** the client's own */
  | 'timeout' | 'disconnected';

export class DropinError extends Error {
  constructor(code: ErrorCode | string, message?: string, details?: unknown);
  readonly name: 'DropinError';
  code: ErrorCode | string;
  details?: unknown;
}

export interface DropinClientOptions {
  /** a token kept from an earlier session: connect() signs in with it */
  token?: string;
  /** "json" (default) or "msgpack" (needs @msgpack/msgpack, or opts.msgpack) */
  codec?: 'json' | 'msgpack';
  /** the WebSocket class; default globalThis.WebSocket (browsers, React Native, Node 22+) */
  WebSocket?: any;
  /** reconnect after a drop (default true) */
  reconnect?: boolean;
  /** ms a request waits for its reply, queued time included (default 10000) */
  requestTimeout?: number;
  /** backoff: full jitter, random(0, min(max, min * 2^attempt)) (defaults 500, 30000) */
  backoffMinMs?: number;
  backoffMaxMs?: number;
  /** requests held while disconnected, at most (default 100) */
  maxQueued?: number;
  /** a MessagePack codec to use instead of importing @msgpack/msgpack */
  msgpack?: { encode(v: unknown): Uint8Array; decode(b: Uint8Array): unknown };
  /** extra upgrade headers, for WebSocket classes that take them (Node "ws") */
  headers?: Record<string, string>;
}

export type ClientStatus = 'idle' | 'connecting' | 'open' | 'reconnecting' | 'closed';

export class DropinClient {
  constructor(url: string, opts?: DropinClientOptions);
  readonly url: string;
  readonly codec: 'json' | 'msgpack';
  /** the current token (store it to sign in again later); null when signed out */
  token: string | null;
  account: Account | null;
  /** the account's gigs, id -> gig: replaced by every session.state, then kept by version */
  gigs: Map<Id, Gig>;
  /** open offers to this operator, gigId -> offer */
  offers: Map<Id, Offer>;
  unread: number;
  status: ClientStatus;

  connect(): Promise<void>;
  close(): Promise<void>;
  login(identity: string, password: string): Promise<SignIn>;
  loginWithToken(token: string): Promise<{ account: Account }>;
  logout(): Promise<{}>;
  register(data: RegisterData): Promise<Account>;
  /** fire-and-forget; never queued; the latest is re-sent after every reconnect */
  updatePresence(pos: Position): void;

  call<K extends OpName>(op: K, data: Ops[K]['data'], opts?: { timeout?: number }): Promise<Ops[K]['reply']>;
  /** an op these declarations do not know yet (a known op must match its types) */
  call<T = unknown, K extends string = string>(op: K extends OpName ? never : K, data?: unknown, opts?: { timeout?: number }): Promise<T>;

  on<K extends keyof Events>(name: K, fn: (data: Events[K]) => void): this;
  on(name: string, fn: (data: any) => void): this;
  off<K extends keyof Events>(name: K, fn: (data: Events[K]) => void): this;
  off(name: string, fn: (data: any) => void): this;
}

export default DropinClient;
