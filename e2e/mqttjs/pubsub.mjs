// Connects to URL with mqtt.js over WebSocket, subscribes to interop/#,
// publishes one message at each QoS, waits for all three to come back, and
// disconnects. Prints one JSON line: {ok, got} or {error}.
import mqtt from 'mqtt';

const [url, version] = process.argv.slice(2);
const got = [];
const fail = (error) => {
  console.log(JSON.stringify({ error, got }));
  process.exit(1);
};
setTimeout(() => fail('timeout after 15 s'), 15000).unref();

const client = mqtt.connect(url, {
  protocolVersion: Number(version),
  clientId: `mqttjs-v${version}`,
  keepalive: 30,
  reconnectPeriod: 0,
  connectTimeout: 5000,
});
client.on('error', (e) => fail(e.message));
client.on('close', () => { if (got.length < 3) fail('connection closed early'); });
// Disconnect once every publish is acknowledged and every message is in, and
// only after the current task: mqtt.js emits a QoS 2 message before it writes
// the PUBCOMP, which must reach the broker before our DISCONNECT.
let published = false;
const maybeEnd = () => {
  if (!published || got.length < 3) return;
  setImmediate(() => client.end(false, {}, () => {
    console.log(JSON.stringify({ ok: true, got }));
    process.exit(0);
  }));
};
client.on('message', (topic, payload, packet) => {
  got.push({ topic, payload: payload.toString(), qos: packet.qos });
  maybeEnd();
});
client.on('connect', async () => {
  try {
    await client.subscribeAsync('interop/#', { qos: 2 });
    for (const qos of [0, 1, 2]) {
      await client.publishAsync(`interop/q${qos}`, `hello at qos ${qos}`, { qos });
    }
    published = true;
    maybeEnd();
  } catch (e) {
    fail(e.message);
  }
});
