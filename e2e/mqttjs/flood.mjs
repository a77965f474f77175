// Floods a subscriber with QoS 1 messages through mqtt.js, both clients over
// WebSocket: argv url-for-the-subscriber url-for-the-publisher version n
// window lead. The subscriber (clientId flood-sub-v<version>) subscribes to
// flood/js at QoS 1; the publisher publishes n QoS 1 messages ("m0" … ) as
// fast as mqtt.js sends them with at most window unacknowledged (0: no
// limit, every message at once — mqtt.js itself keeps no window, not even
// the broker's Receive Maximum in MQTT 5) and, when lead > 0, at most lead
// ahead of what the subscriber got; it waits for every PUBACK, and the
// subscriber waits until n have arrived or none has for 3 s. Prints one
// JSON line: {ok, delivered, acked, duplicates} or {error}.
import mqtt from 'mqtt';

const [subURL, pubURL, version, count, win, ahead] = process.argv.slice(2);
const n = Number(count), window = Number(win) || n, lead = Number(ahead) || 0;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const fail = (error) => {
  console.log(JSON.stringify({ error }));
  process.exit(1);
};
setTimeout(() => fail('timeout after 120 s'), 120000).unref();

const opts = (clientId) => ({ protocolVersion: Number(version), clientId, clean: true, keepalive: 60, reconnectPeriod: 0, connectTimeout: 10000 });
const got = new Set();
let duplicates = 0, acked = 0, last = Date.now();
const sub = mqtt.connect(subURL, opts(`flood-sub-v${version}`));
sub.on('error', (e) => fail(`subscriber: ${e.message}`));
sub.on('message', (topic, payload) => {
  const m = payload.toString();
  if (got.has(m)) duplicates++;
  got.add(m);
  last = Date.now();
});
sub.on('connect', async () => {
  try {
    await sub.subscribeAsync('flood/js', { qos: 1 });
  } catch (e) {
    fail(`subscribe: ${e.message}`);
  }
  const pub = mqtt.connect(pubURL, opts(`flood-pub-v${version}`));
  pub.on('error', (e) => fail(`publisher: ${e.message}`));
  pub.on('connect', async () => {
    let next = 0;
    const lane = async () => {
      while (next < n) {
        const i = next++;
        while (lead > 0 && i - got.size >= lead) await sleep(1);
        await pub.publishAsync('flood/js', `m${i}`, { qos: 1 });
        acked++;
      }
    };
    try {
      await Promise.all(Array.from({ length: Math.min(window, n) }, lane));
    } catch (e) {
      fail(`publish: ${e.message}`);
    }
    last = Date.now();
    const done = () => {
      pub.end(false, {}, () => sub.end(false, {}, () => {
        console.log(JSON.stringify({ ok: true, delivered: got.size, acked, duplicates }));
        process.exit(0);
      }));
    };
    const wait = () => (got.size >= n || Date.now() - last > 3000 ? done() : setTimeout(wait, 50));
    wait();
  });
});
