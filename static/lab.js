// The Lab panel: drives window.lifeline.lab for the client the panels are
// on, and shows what the proxy holds for it. Every state shown is the
// proxy's answer (lab.state), never a guess.
import { fmtInt } from './dom.js';

const POLL_MS = 700;

export class LabPanel {
  constructor(api, panels) {
    this.api = api;
    this.panels = panels;
    this.root = document.getElementById('lab-panel');
    this.held = document.getElementById('lab-held');
    this.stateText = document.getElementById('lab-state');
    this.err = document.getElementById('lab-error');
    this.busy = false;
    for (const b of this.root.querySelectorAll('button[data-op]')) {
      b.addEventListener('click', () => this.run(b.dataset.op, b.dataset.dir ? { dir: b.dataset.dir } : {}));
    }
    const drop = document.getElementById('lab-drop-form');
    drop.addEventListener('submit', (ev) => {
      ev.preventDefault();
      this.run('drop', { dir: drop.elements.dir.value, types: [drop.elements.type.value], count: 1 });
    });
    const delay = document.getElementById('lab-delay-form');
    delay.addEventListener('submit', (ev) => {
      ev.preventDefault();
      this.run('delay', { ms: Number(delay.elements.ms.value) });
    });
    api.on('lab', (st) => this.show(st));
    setInterval(() => this.poll(), POLL_MS);
  }

  async run(op, opts) {
    this.error(null);
    try {
      this.show(await this.api.lab[op]({ client: this.panels.client, ...opts }));
    } catch (e) {
      this.error(e);
    }
  }

  // poll asks the proxy what it holds, while the panel is on screen.
  async poll() {
    if (this.busy || this.root.offsetParent === null) return;
    this.busy = true;
    try {
      this.show(await this.api.lab.state({ client: this.panels.client }));
    } catch {
      this.show(null);
    } finally {
      this.busy = false;
    }
  }

  show(st) {
    if (!st) {
      this.held.textContent = '–';
      this.held.dataset.held = 'false';
      this.root.dataset.silenced = 'false';
      this.setText('Connect this client through the proxy to hold, drop, delay or silence its packets.');
      return;
    }
    const up = st.held.toBroker || 0, down = st.held.toPage || 0;
    this.held.textContent = `${fmtInt(up + down)} held`;
    this.held.dataset.held = String(up + down > 0);
    this.root.dataset.silenced = String(!!st.silenced);
    const parts = [];
    if (st.silenced) parts.push('silenced');
    for (const [dir, name] of [['toBroker', 'to the broker'], ['toPage', 'to the client']]) {
      const bits = [];
      if (st.paused[dir]) bits.push('paused');
      if (st.holds[dir].length) bits.push(`holding ${st.holds[dir].join('; ')}`);
      if (st.drops[dir].length) bits.push(`dropping ${st.drops[dir].join('; ')}`);
      if (st.delayMs[dir]) bits.push(`+${st.delayMs[dir]} ms`);
      if (st.held[dir]) bits.push(`${st.held[dir]} held`);
      if (bits.length) parts.push(`${name}: ${bits.join(', ')}`);
    }
    if (st.bytes) parts.push(`${fmtInt(st.bytes)} of ${fmtInt(st.limit)} bytes queued`);
    this.setText(parts.length ? parts.join(' · ') : 'Nothing held: packets pass as they come.');
  }

  setText(t) {
    if (this.stateText.textContent !== t) this.stateText.textContent = t;
  }

  error(e) {
    this.err.hidden = !e;
    this.err.textContent = e ? e.message : '';
  }
}
