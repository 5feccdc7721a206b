// A real browser (Debian's chromium, headless, driven by playwright-core over
// the DevTools protocol; no browser download) loads examples/index.html from
// a local HTTP origin and completes a gig flow against a real dropind: the
// browser's own WebSocket and Origin header, and cross-origin REST (CORS).
// Run: node --test test/browser.test.js   (CHROMIUM=/path overrides the binary)
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { dirname, extname, join, normalize, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { LAT, LON, Node, freePort, north, uniqueEmail } from './harness.js';

const PKG = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8' };
const T = 20000; // generous bound for every wait on the page

/** Serves clients/js (the page and the client module) on 127.0.0.1. */
async function staticServer() {
  const port = await freePort();
  const srv = createServer((req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url, 'http://x').pathname));
    const file = join(PKG, path);
    if (!file.startsWith(PKG + '/') || file.includes('node_modules') || !existsSync(file)) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': TYPES[extname(file)] || 'application/octet-stream' });
    res.end(readFileSync(file));
  });
  await new Promise((r) => srv.listen(port, '127.0.0.1', r));
  return { origin: `http://127.0.0.1:${port}`, close: () => new Promise((r) => srv.close(r)) };
}

const skip = existsSync(CHROMIUM) ? false : `no chromium at ${CHROMIUM} (tools/install-deps.sh --test installs it)`;
let node, site, otherSite, browser;

before(async () => {
  if (skip) return;
  const { chromium } = await import('playwright-core');
  site = await staticServer();
  otherSite = await staticServer(); // an origin the node does not allow
  node = new Node(['--allowed_origins', site.origin]);
  await node.start();
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    // playwright gives the browser a fresh --user-data-dir of its own
  });
  console.log(`# chromium ${browser.version()}, page origin ${site.origin}, dropind ${node.wsUrl}`);
});

after(async () => {
  if (browser) await browser.close();
  if (site) await site.close();
  if (otherSite) await otherSite.close();
  if (node) {
    await node.stop();
    node.cleanup();
  }
});

async function openPage(label) {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  page.errors = [];
  page.on('pageerror', (e) => page.errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') page.errors.push(m.text()); });
  await page.goto(`${site.origin}/examples/index.html?server=${encodeURIComponent(node.wsUrl)}`);
  page.label = label;
  return page;
}

async function register(page, type, first) {
  await page.fill('#email', uniqueEmail(type));
  await page.fill('#first', first);
  await page.check(`input[name=type][value=${type}]`);
  await page.click('#register');
  await page.waitForSelector(`body[data-account=${type}][data-conn=open]`, { timeout: T });
  console.log(`# ${page.label}: registered and signed in over the browser's WebSocket`);
}

const step = (page, gigId, action) =>
  page.click(`#gig-${gigId} button[data-action=${action}]`, { timeout: T });
const status = (page, gigId, st) =>
  page.waitForSelector(`#gig-${gigId}[data-status=${st}]`, { timeout: T });

test('the example page: an operator and a customer complete a gig in chromium', { skip }, async () => {
  const op = await openPage('operator');
  const cust = await openPage('customer');
  try {
    await gigFlow(op, cust);
  } catch (e) {
    for (const p of [op, cust]) console.log(`# ${p.label} page log:\n` + (await p.textContent('#log')).replace(/^/gm, '#   ') + '\n# ' + (await p.innerHTML('#gigs')));
    throw e;
  }
});

async function gigFlow(op, cust) {
  await register(op, 'operator', 'Olga');
  await op.fill('#lat', String(north(250)));
  await op.fill('#lon', String(LON));
  await op.click('#online');

  await register(cust, 'user', 'Chi');
  await cust.fill('#lat', String(LAT));
  await cust.fill('#lon', String(LON));
  // REST from the page's origin to the node's: a CORS preflight (Authorization)
  // and the answer's Access-Control-Allow-Origin, or the browser refuses it
  let count = 0;
  for (let i = 0; i < 200 && count < 1; i++) { // the position reaches the grid asynchronously
    await cust.click('#nearby');
    const el = await cust.waitForSelector('#nearby-list[data-count]', { timeout: T });
    count = Number(await el.getAttribute('data-count'));
    if (count < 1) await cust.evaluate(() => document.getElementById('nearby-list').removeAttribute('data-count'));
  }
  assert.equal(count, 1, 'the customer sees the operator (REST over CORS)');
  console.log(`# customer: map shows ${await cust.textContent('#nearby-list')} (GET /map over CORS)`);

  await cust.click('#create');
  const gigEl = await cust.waitForSelector('.gig[data-status=pendingOperator]', { timeout: T });
  const gigId = (await gigEl.getAttribute('id')).slice(4);
  console.log(`# customer: gig ${gigId} pendingOperator`);

  await op.click(`#offer-${gigId} button[data-action=accept]`, { timeout: T });
  console.log('# operator: offer received and accepted');
  await status(cust, gigId, 'operatorFound');
  await step(cust, gigId, 'confirm');
  await status(op, gigId, 'operatorEnroute');
  await step(op, gigId, 'handshake');
  await status(cust, gigId, 'handshaking');
  await step(cust, gigId, 'handshake');
  await cust.waitForFunction(() => document.getElementById('log').textContent.includes('video dev subscriber'), null, { timeout: T });
  await step(cust, gigId, 'start');
  await status(op, gigId, 'streaming');
  await step(op, gigId, 'stop');
  await status(cust, gigId, 'purchased');
  await step(cust, gigId, 'rate');
  await status(op, gigId, 'purchased');
  await step(op, gigId, 'rate');
  await status(cust, gigId, 'voted');
  await status(op, gigId, 'voted');
  const v = Number(await cust.getAttribute(`#gig-${gigId}`, 'data-version'));
  const vOp = Number(await op.getAttribute(`#gig-${gigId}`, 'data-version'));
  assert.equal(v, vOp, 'both pages hold the same final version');
  console.log(`# both pages: gig ${gigId} voted at version ${v}`);
  // sign out in the browser: the server's 4401 reaches the page's client
  // (not a 1006), and it stops instead of reconnecting
  await op.evaluate(() => window.dropin.client.logout());
  await op.waitForFunction(() => document.getElementById('log').textContent.includes('close 4401'), null, { timeout: T });
  const closeLine = (await op.textContent('#log')).split('\n').find((l) => l.includes('close 4401'));
  assert.match(closeLine, /willReconnect=false/);
  assert.equal(await op.evaluate(() => window.dropin.client.status), 'closed');
  console.log(`# operator: signed out, the page saw "${closeLine.slice(13)}"`);
  assert.deepEqual(op.errors, []);
  assert.deepEqual(cust.errors, []);
}

test("the browser's real Origin: a page on an origin not allowed is refused with 1008", { skip }, async () => {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  await page.goto(`${otherSite.origin}/examples/index.html`);
  const code = await page.evaluate((url) => new Promise((res) => {
    const ws = new WebSocket(url, ['dropin.v1.json']);
    ws.onclose = (e) => res(e.code);
  }), node.wsUrl);
  assert.equal(code, 1008);
  console.log(`# a page on ${otherSite.origin} (not in allowed_origins): WebSocket closed with ${code}`);
  // and its REST calls get no CORS approval: the browser refuses the answer
  const rest = await page.evaluate((u) => fetch(u + '/healthz').then(() => 'allowed', () => 'refused'), node.url);
  assert.equal(rest, 'refused');
  await ctx.close();
});
