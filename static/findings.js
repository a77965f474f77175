// The expert panel: what the analysis in Go (window.lifeline.findings(),
// package expert) points out in the trace, with counts by severity. A
// finding is a button that shows its packet's arrow. Everything from the
// wire is set as text.
import { h, clear } from './dom.js';

const ORDER = ['error', 'warning', 'note', 'chat'];

export class Findings {
  constructor(root, api, jump) {
    this.api = api;
    this.jump = jump;
    this.list = root.querySelector('#findings');
    this.counts = root.querySelector('#findings-counts');
    this.version = -1;
    this.last = 0;
    this.items = [];
  }

  // frame redraws when the trace changed, at most twice a second: the
  // analysis reads every entry.
  frame() {
    const v = this.api._version();
    const now = performance.now();
    if (v === this.version || now - this.last < 500) return;
    this.version = v;
    this.last = now;
    this.draw(this.api.findings());
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
    for (const f of fs) {
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
  }
}
