// Test harness: starts a real dropind on a free loopback port (the binary
// from $DROPIND, default the ASan build of `make test`) and helpers that
// wait for conditions with generous bounds (no timing asserts).
import { spawn } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
export const ROOT = process.env.DROPIN_SOURCE_DIR || resolve(HERE, '..', '..', '..');
export const DROPIND = process.env.DROPIND || join(ROOT, 'build-asan', 'bin', 'dropind');

export function freePort() {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
  });
}

/** Waits until cond() is truthy (checked every 10 ms), at most ms. */
export async function waitFor(cond, what = 'condition', ms = 15000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await cond();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Resolves with the data of the next `name` event of client c matching pred. */
export function nextEvent(c, name, pred = () => true, ms = 15000) {
  return new Promise((res, rej) => {
    const t = setTimeout(() => {
      c.off(name, fn);
      rej(new Error(`timed out waiting for event ${name}`));
    }, ms);
    function fn(d) {
      if (!pred(d)) return;
      clearTimeout(t);
      c.off(name, fn);
      res(d);
    }
    c.on(name, fn);
  });
}

/** One dropind process; stop() then start() again keeps its port and store. */
export class Node {
  constructor(args = [], dir = null) {
    this.dir = dir || mkdtempSync(join(tmpdir(), 'dropin-js-'));
    this.ownDir = !dir;
    this.args = args;
    this.port = 0;
    this.proc = null;
    this.logPath = null;
  }

  get url() { return `http://127.0.0.1:${this.port}`; }
  get wsUrl() { return `ws://127.0.0.1:${this.port}/ws`; }

  async start(timeoutMs = 20000) {
    if (!this.port) this.port = await freePort();
    this.logPath = join(this.dir, `dropind-${this.port}.log`);
    const log = openSync(this.logPath, 'a');
    const env = { ...process.env };
    env.ASAN_OPTIONS = env.ASAN_OPTIONS || 'detect_leaks=1:abort_on_error=1';
    this.proc = spawn(DROPIND, ['-c', join(ROOT, 'conf', 'dropind.conf'),
      '--listen', `127.0.0.1:${this.port}`, '--store', `sqlite:${join(this.dir, 'dropin.db')}`,
      '--log_level', 'debug', ...this.args], { stdio: ['ignore', log, log], env });
    this.exited = new Promise((res) => this.proc.once('exit', (code, sig) => res(code ?? sig)));
    let exitCode = null;
    this.exited.then((c) => { exitCode = c; });
    await waitFor(async () => {
      if (exitCode !== null) throw new Error(`dropind exited ${exitCode}:\n${this.readLog()}`);
      try {
        const r = await fetch(this.url + '/healthz', { signal: AbortSignal.timeout(1000) });
        return r.status > 0;
      } catch (_) {
        return false;
      }
    }, 'dropind to answer /healthz', timeoutMs);
    return this;
  }

  /** SIGTERM (drain), waits for the exit; returns the exit code. */
  async stop() {
    if (!this.proc) return null;
    const p = this.proc;
    this.proc = null;
    p.kill('SIGTERM');
    const t = setTimeout(() => p.kill('SIGKILL'), 20000);
    const code = await this.exited;
    clearTimeout(t);
    const log = this.readLog();
    if (code !== 0 || log.includes('ERROR: AddressSanitizer') || log.includes('runtime error:')) {
      throw new Error(`dropind exited ${code}:\n${log.slice(-6000)}`);
    }
    return code;
  }

  readLog() {
    try { return readFileSync(this.logPath, 'utf8'); } catch (_) { return ''; }
  }

  cleanup() {
    if (this.ownDir) rmSync(this.dir, { recursive: true, force: true });
  }
}

let seq = 0;
export function uniqueEmail(prefix) {
  seq++;
  return `${prefix}${seq}.${process.pid}.${Math.random().toString(16).slice(2, 10)}@example.com`;
}

export const PASSWORD = 'correct horse';
// Saigon, and points north of it
export const LAT = 10.787859;
export const LON = 106.70653;
export const north = (m) => LAT + m / 111195.0;
