// Go's share of each receive measure of BenchmarkPageClients: every call
// from JavaScript into Go passes through the Go instance's _resume, timed
// here, and each measure's calls and time are logged, by the id of the Go
// function called (the client's socket, the trace channel's, timers …).
// Run with (docs/performance.md, "What the page does inside a burst"):
//   LIFELINE_BENCH_EVAL="$(cat e2e/testdata/bench-gotime.js)" \
//   LIFELINE_BENCH_DUMP="window.__goTime.join('\n')" \
//   go test -tags e2e -run '^$' -bench BenchmarkPageClients -benchtime 1x ./e2e/
window.__goTime = [];
const rc = {n: 0, t: 0, by: {}};
{
  const resume = Go.prototype._resume;
  Go.prototype._resume = function () {
    const id = this._pendingEvent ? this._pendingEvent.id : 'none';
    const t = performance.now();
    rc.n++;
    try {
      return resume.call(this);
    } finally {
      const d = performance.now() - t, b = rc.by[id] || (rc.by[id] = [0, 0]);
      rc.t += d; b[0]++; b[1] += d;
    }
  };
}
{
  const arm = __b.arm;
  __b.arm = (topic, n) => {
    const r = arm(topic, n), n0 = rc.n, t0 = rc.t, by0 = JSON.parse(JSON.stringify(rc.by));
    window.__recvDone = window.__recvDone.then((rate) => {
      const by = Object.entries(rc.by)
        .map(([id, [c, t]]) => [id, c - (by0[id] || [0, 0])[0], t - (by0[id] || [0, 0])[1]])
        .filter((x) => x[1] > 0).sort((a, b) => b[2] - a[2]).slice(0, 6)
        .map(([id, c, t]) => `id ${id}: ${c} calls ${t.toFixed(1)} ms`).join('; ');
      __goTime.push(`${topic}: ${rate.toFixed(0)} msg/s, ${rc.n - n0} calls into Go, ${(rc.t - t0).toFixed(1)} ms; ${by}`);
      return rate;
    });
    return r;
  };
}
