// The expert panel: what the analysis in Go (window.lifeline.findings(),
// package expert) points out in the trace, with counts by severity. A
// finding is a button that shows its packet's arrow. Everything from the
// wire is set as text.
import { h, clear } from './dom.js';

const ORDER = ['error', 'warning', 'note', 'chat'];
const MAX_SHOWN = 200; // findings listed; all are counted

export class Findings {
  constructor(root, api, jump) {
    this.api = api;
    this.jump = jump;
    this.list = root.querySelector('#findings');
    this.counts = root.querySelector('#findings-counts');
    this.version = -1;
    this.last = 0;
    this.cost = 0; // ms the last analysis took
    this.items = [];
  }

  // frame redraws when the trace changed, at most twice a second, and
  // less often when the analysis (it reads every entry kept, up to 20,000)
  // is slow: at most a twentieth of the page's time, so that a flood of
  // messages keeps the rest for the client and the diagram.
  frame() {
    const v = this.api._version();
    const now = performance.now();
    if (v === this.version || now - this.last < Math.max(500, 20 * this.cost)) return;
    this.version = v;
    const fs = this.api.findings(true); // true: what the diagram has drawn, not waiting for the rest
    this.last = performance.now();
    this.cost = this.last - now;
    this.draw(fs);
  }

  draw(fs) {
    this.items = fs;
    const n = Object.fromEntries(ORDER.map((s) => [s, 0]));
    for (const f of fs) n[f.severity] = (n[f.severity] || 0) + 1;
    clear(this.counts);
    for (const s of ORDER) {
      this.counts.append(h('span', { class: `count sev-${s}`, dataset: { severity: s }, title: `${n[s]} ${s}` }, `${n[s]} ${s}`));
    }
    clear(this.list);
    // The counts above say how many there are; the list shows the first
    // MAX_SHOWN (a broken peer can cause thousands, and a list that long
    // costs the page its frames), the rest in lifeline.findings().
    for (const f of fs.slice(0, MAX_SHOWN)) {
      const where = f.seq.map((q) => `#${q}`).join(', ');
      this.list.append(h('li', { class: `finding sev-${f.severity}`, dataset: { code: f.code, severity: f.severity } },
        h('button', { type: 'button', title: `Show ${where}`, onclick: () => this.jump(f.seq[0]) },
          h('span', { class: 'sev' }, f.severity),
          ' ',
          h('span', { class: 'where' }, where),
          ' ',
          h('span', { class: 'text' }, f.text),
          f.clause ? h('span', { class: 'clause muted' }, ` [${f.clause}]`) : null)));
    }
    if (fs.length > MAX_SHOWN) {
      this.list.append(h('li', { class: 'finding more muted' }, `… and ${fs.length - MAX_SHOWN} more (lifeline.findings() lists them all)`));
    }
  }
}
