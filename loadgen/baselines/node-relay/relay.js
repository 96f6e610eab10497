// The baseline of issue 14: what someone would write instead of TalkApp's realtime path,
// a small Node relay that takes the same events from RabbitMQ (TalkApp's topic exchange
// `<prefix>.events`, routing keys `{user_id}.{session_index}.{type}`, bodies
// `talkapp.realtime.v1.Event` protobuf) and sends each to the WebSockets of its account,
// as the same JSON frame shape the gateway sends (`{event_id, session_index, type, at,
// data}`, `data` the payload's fields). Sockets open at `/ws/{user_id}/{session_index}`
// with the same bearer tokens (HS256, the external provider's secret and issuer).
//
// It does only what a relay does: no replay after a reconnect (`since`), no per-user
// limits, no presence, no push; an event for an account with no socket is dropped.
// Environment: AMQP_URL, AMQP_PREFIX (talkapp), PORT (8099), SECRET, ISSUER.
'use strict';

const crypto = require('node:crypto');
const http = require('node:http');
const path = require('node:path');
const amqp = require('amqplib');
const protobuf = require('protobufjs');
const { WebSocketServer } = require('ws');

const AMQP_URL = process.env.AMQP_URL || 'amqp://guest:guest@127.0.0.1:5672/%2f';
const PREFIX = process.env.AMQP_PREFIX || 'talkapp';
const PORT = Number(process.env.PORT || 8099);
const SECRET = process.env.SECRET || '';
const ISSUER = process.env.ISSUER || '';
const PROTO_ROOT = path.resolve(__dirname, '../../../proto');

/** The token's subject, or null when it is not a valid HS256 token of the issuer. */
function subject(token) {
  const parts = token.split('.');
  if (parts.length !== 3) return null;
  const expected = crypto.createHmac('sha256', SECRET).update(`${parts[0]}.${parts[1]}`).digest();
  const given = Buffer.from(parts[2], 'base64url');
  if (given.length !== expected.length || !crypto.timingSafeEqual(given, expected)) return null;
  let claims;
  try {
    claims = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
  } catch {
    return null;
  }
  if (claims.iss !== ISSUER || !(claims.exp > Date.now() / 1000)) return null;
  return typeof claims.sub === 'string' ? claims.sub : null;
}

async function main() {
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => path.join(PROTO_ROOT, target);
  await root.load('talkapp/realtime/v1/realtime.proto', { keepCase: true });
  const Event = root.lookupType('talkapp.realtime.v1.Event');

  /** `{user_id}.{session_index}` → its open sockets. */
  const sockets = new Map();
  const server = http.createServer((_request, response) => {
    response.writeHead(404).end();
  });
  const wss = new WebSocketServer({ noServer: true });
  server.on('upgrade', (request, socket, head) => {
    const match = /^\/ws\/([0-9a-f-]{36})\/(\d+)(\?.*)?$/.exec(request.url || '');
    const token = (request.headers.authorization || '').replace(/^Bearer /, '');
    if (!match || subject(token) !== match[1]) {
      socket.end('HTTP/1.1 401 Unauthorized\r\n\r\n');
      return;
    }
    const key = `${match[1]}.${match[2]}`;
    wss.handleUpgrade(request, socket, head, (ws) => {
      if (!sockets.has(key)) sockets.set(key, new Set());
      sockets.get(key).add(ws);
      ws.on('close', () => {
        const set = sockets.get(key);
        if (set) {
          set.delete(ws);
          if (set.size === 0) sockets.delete(key);
        }
      });
      ws.on('error', () => ws.terminate());
    });
  });
  server.listen(PORT, '127.0.0.1');

  const connection = await amqp.connect(AMQP_URL);
  const channel = await connection.createChannel();
  const exchange = `${PREFIX}.events`;
  await channel.assertExchange(exchange, 'topic', { durable: true });
  const { queue } = await channel.assertQueue('', { exclusive: true, autoDelete: true });
  await channel.bindQueue(queue, exchange, '#');
  await channel.prefetch(1000);
  await channel.consume(
    queue,
    (delivery) => {
      if (!delivery) return;
      const dot = delivery.fields.routingKey.indexOf('.', 37);
      const key = delivery.fields.routingKey.slice(0, dot);
      const set = sockets.get(key);
      if (set) {
        const event = Event.toObject(Event.decode(delivery.content), {
          longs: Number,
          defaults: true,
          oneofs: true,
        });
        const frame = JSON.stringify({
          event_id: event.event_id,
          session_index: event.session_index,
          type: event.type,
          at: event.at,
          data: event[event.payload] || null,
        });
        for (const ws of set) ws.send(frame);
      }
      channel.ack(delivery);
    },
    { noAck: false },
  );
  console.error(`relay on 127.0.0.1:${PORT}, events of ${exchange}`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
