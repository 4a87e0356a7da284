#!/usr/bin/env node
// A bare TCP byte relay: the runtime's floor for a Node.js proxy.
//
// `data` events, `write`, backpressure by pause/resume, setNoDelay; nothing is
// parsed or inspected. pgveil should come within 0.9x of this (DESIGN.md,
// "Performance").
//
//   node bench/relay.js --listen 127.0.0.1:PORT --upstream 127.0.0.1:PGPORT
//
// Prints "listening HOST:PORT" on stdout once it accepts connections.
import net from 'node:net';

function parseArgs(argv) {
  const out = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--listen' || a === '--upstream') out[a.slice(2)] = argv[++i];
    else throw new Error(`unknown argument ${a}`);
  }
  if (!out.listen || !out.upstream) throw new Error('usage: relay.js --listen HOST:PORT --upstream HOST:PORT');
  return out;
}

function hostPort(s) {
  const i = s.lastIndexOf(':');
  return { host: s.slice(0, i).replace(/^\[(.*)\]$/, '$1') || '127.0.0.1', port: Number(s.slice(i + 1)) };
}

const args = parseArgs(process.argv.slice(2));
const listen = hostPort(args.listen);
const upstream = hostPort(args.upstream);

function pipe(from, to) {
  from.on('data', (chunk) => {
    if (!to.write(chunk)) from.pause();
  });
  to.on('drain', () => from.resume());
  from.on('end', () => to.end());
}

const server = net.createServer({ noDelay: true }, (client) => {
  const server = net.connect({ host: upstream.host, port: upstream.port });
  server.setNoDelay(true);
  pipe(client, server);
  pipe(server, client);
  const kill = () => {
    client.destroy();
    server.destroy();
  };
  client.on('error', kill);
  server.on('error', kill);
  // The client is gone: nothing left to deliver. The server is gone: let the
  // client read what was already relayed (e.g. a FATAL error), then close.
  client.on('close', () => server.destroy());
  server.on('close', () => client.end());
});

server.on('error', (err) => {
  process.stderr.write(`relay: ${err.message}\n`);
  process.exit(1);
});
server.listen(listen.port, listen.host, () => {
  const a = server.address();
  process.stdout.write(`listening ${a.address}:${a.port}\n`);
});

const stop = () => {
  server.close();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
