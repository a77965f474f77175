// How soon the page's client answers what it receives: per receive
// measure of BenchmarkPageClients, for each client (Lifeline's, mqtt.js's),
// the message events on its /mqtt WebSocket, its sends, the time from a
// message's arrival to the socket's next send (at QoS 1, the PUBACK the
// broker waits for before it sends the next of its 20 in flight) and the
// gaps between arrivals. Run with (docs/performance.md, "The trace
// channel's cost on the page"):
//   LIFELINE_BENCH_EVAL="$(cat e2e/testdata/bench-ackdelay.js)" \
//   LIFELINE_BENCH_DUMP="window.__ack.join('\n')" \
//   go test -tags e2e -run '^$' -bench BenchmarkPageClients -benchtime 1x ./e2e/
window.__ack = [];
const log = {on: false, arr: [], snd: []};
{
  const WS = window.WebSocket;
  window.WebSocket = class extends WS {
    constructor(...a) {
      super(...a);
      if (String(a[0]).includes('/mqtt')) this.addEventListener('message', () => { if (log.on) log.arr.push(performance.now()); });
    }
  };
  const send = WS.prototype.send;
  WS.prototype.send = function (d) { if (log.on && this.url.includes('/mqtt')) log.snd.push(performance.now()); return send.call(this, d); };
}
{
  const arm = __b.arm;
  __b.arm = (topic, n) => {
    const r = arm(topic, n);
    log.on = true; log.arr = []; log.snd = [];
    window.__recvDone = window.__recvDone.then((rate) => {
      log.on = false;
      const d = []; let j = 0;
      for (const t of log.arr) { while (j < log.snd.length && log.snd[j] < t) j++; if (j < log.snd.length) d.push(log.snd[j] - t); }
      d.sort((a, b) => a - b);
      const q = (p) => d.length ? d[Math.floor(d.length * p)].toFixed(2) : '-';
      const gaps = []; for (let i = 1; i < log.arr.length; i++) gaps.push(log.arr[i] - log.arr[i-1]); gaps.sort((a,b)=>a-b);
      const g = (p) => gaps.length ? gaps[Math.floor(gaps.length * p)].toFixed(2) : '-';
      __ack.push(`${topic}: ${rate.toFixed(0)} msg/s; ${log.arr.length} message events, ${log.snd.length} sends; arrival→next send p10/50/90 ${q(.1)}/${q(.5)}/${q(.9)} ms; arrival gaps p50/90/99 ${g(.5)}/${g(.9)}/${g(.99)}`);
      return rate;
    });
    return r;
  };
}
