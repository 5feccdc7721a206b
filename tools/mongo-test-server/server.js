// server.js - the MongoDB wire-compatible test server of Dropin's tests.
//
// Starts CongoDB (CongoServer from @push.rocks/smartmongo@2.2.0, installed
// into ./vendor/smartmongo by install.sh) on 127.0.0.1 with in-memory storage
// and prints one ready line on stdout:
//   CONGO_READY port=<port> uri=mongodb://127.0.0.1:<port>
// Usage: node server.js [--port N] [--exit-on-stdin-close]
//   --port 0 (the default) lets the kernel pick a free port: read it from the
//   ready line. --exit-on-stdin-close makes the server stop when its parent
//   closes stdin (or dies), so a crashed test run leaves no server behind.
// SIGTERM / SIGINT stop it cleanly (exit 0). It is a test double, not a
// database: tests/integration/mongo_server.py lists its measured gaps.
import { CongoServer } from './vendor/smartmongo/dist_ts/congodb/index.js';

function parseArgs(argv) {
    const opts = { port: 0, exitOnStdinClose: false };
    for (let i = 0; i < argv.length; i++) {
        if (argv[i] === '--port' && i + 1 < argv.length) {
            const p = Number(argv[++i]);
            if (!Number.isInteger(p) || p < 0 || p > 65535) {
                console.error(`bad --port ${argv[i]}`);
                process.exit(2);
            }
            opts.port = p;
        } else if (argv[i] === '--exit-on-stdin-close') {
            opts.exitOnStdinClose = true;
        } else {
            console.error(`usage: node server.js [--port N] [--exit-on-stdin-close]`);
            process.exit(2);
        }
    }
    return opts;
}

const opts = parseArgs(process.argv.slice(2));
const server = new CongoServer({ port: opts.port, host: '127.0.0.1', storage: 'memory' });
let stopping = false;

async function stop(code) {
    if (stopping) return;
    stopping = true;
    try {
        await server.stop();
    } catch (err) {
        console.error(`stop failed: ${err && err.message}`);
        code = code || 1;
    }
    process.exit(code);
}

try {
    await server.start();
} catch (err) {
    console.error(`CONGO_FAILED ${err && err.message}`);
    process.exit(1);
}
// CongoServer reports the configured port; with port 0 the real one is the
// listening socket's.
const addr = server.server && server.server.address();
const port = addr && typeof addr === 'object' ? addr.port : server.port;
process.stdout.write(`CONGO_READY port=${port} uri=mongodb://127.0.0.1:${port}\n`);

process.on('SIGTERM', () => stop(0));
process.on('SIGINT', () => stop(0));
if (opts.exitOnStdinClose) {
    process.stdin.on('end', () => stop(0));
    process.stdin.on('error', () => stop(0));
    process.stdin.resume();
}
