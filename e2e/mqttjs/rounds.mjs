// Runs ROUNDS rounds against URL with mqtt.js; each round connects once per
// protocol version (3.1.1 and 5) and QoS (0, 1, 2), subscribes at QoS 2,
// publishes one message to itself and ends gracefully (client.end) inside
// the handler of that message, the moment it arrives: for QoS 2 that is
// before mqtt.js has written its PUBCOMP. Any error event, any close before
// the message, or an end that does not complete counts against the round.
// Prints one JSON line: {rounds, connections, failures: [{round, version,
// qos, error}]}.
import mqtt from 'mqtt';

const [url, roundsArg] = process.argv.slice(2);
const rounds = Number(roundsArg || 50);

const once = (round, version, qos) => new Promise((resolve) => {
  let settled = false;
  let got = false;
  const errors = [];
  const done = (error) => {
    if (settled) return;
    settled = true;
    clearTimeout(timer);
    resolve(error);
  };
  const timer = setTimeout(() => {
    client.end(true);
    done(`no end within 10 s (message ${got ? 'arrived' : 'never arrived'})`);
  }, 10000);
  const client = mqtt.connect(url, {
    protocolVersion: version,
    clientId: `rounds-v${version}-q${qos}-${round}`,
    keepalive: 30,
    reconnectPeriod: 0,
    connectTimeout: 5000,
  });
  client.on('error', (e) => errors.push(e.code ? `${e.code}: ${e.message}` : e.message));
  client.on('close', () => {
    if (!got) done(errors.join('; ') || 'connection closed before the message arrived');
  });
  client.on('message', () => {
    got = true;
    client.end(false, {}, () => {
      // mqtt.js reports a late socket error after the end callback: wait a
      // moment for it before calling the round clean.
      setTimeout(() => done(errors.join('; ') || null), 50);
    });
  });
  client.on('connect', async () => {
    try {
      const topic = `rounds/v${version}/q${qos}/${round}`;
      await client.subscribeAsync(topic, { qos: 2 });
      client.publish(topic, `round ${round}`, { qos });
    } catch (e) {
      errors.push(e.message);
      client.end(true);
    }
  });
});

const failures = [];
let connections = 0;
for (let round = 1; round <= rounds; round++) {
  for (const version of [4, 5]) {
    for (const qos of [0, 1, 2]) {
      connections++;
      const error = await once(round, version, qos);
      if (error) failures.push({ round, version, qos, error });
    }
  }
}
console.log(JSON.stringify({ rounds, connections, failures }));
process.exit(0);
