// node-ws.js - the node + ws peer of the socket benchmarks (Debian's
// node-ws): answers the sys.ping envelope as dropind does, one reply per
// request, in order. Listens on 127.0.0.1:PORT (argv[2]) at path /ws.
'use strict';
const WebSocket = require('ws');
const port = Number(process.argv[2]);
const wss = new WebSocket.Server({ host: '127.0.0.1', port, path: '/ws', perMessageDeflate: false });
wss.on('connection', (ws) => {
  ws.on('message', (data) => {
    let m;
    try { m = JSON.parse(data); } catch (e) { ws.close(4400, 'malformed envelope'); return; }
    if (m.op === 'sys.ping') {
      ws.send(JSON.stringify({ re: m.id, ok: true, data: { time: new Date().toISOString() } }));
    } else {
      ws.send(JSON.stringify({ re: m.id, ok: false, error: { code: 'bad_request', message: 'unknown op' } }));
    }
  });
});
wss.on('listening', () => console.log('node-ws listening on ' + port));
