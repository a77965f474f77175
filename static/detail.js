// The packet panel: the arrow's facts, the exchange it belongs to, the
// Wireshark-style field tree beside the hex dump (selecting one highlights
// the other), and expert notes with their spec clause.
import { h, clear, fmtMs } from './dom.js';
import { fromBase64 } from './payload.js';

// observedText says how an entry was learned, consistent with the panel
// below it: bytes shown, bytes not kept, or no bytes at all.
function observedText(e) {
  if (e.observed === 'kernel') return 'by the kernel: inferred from a socket call, no bytes seen';
  if (e.observed === 'broker') return 'by the embedded broker: its own report of what it did, no packet on the wire';
  if (e.observed === 'proxy') return 'by the proxy: its trace channel dropped entries this page read too slowly; arrows are missing here';
  return e.bytes ? 'on the wire: these are the bytes' : 'on the wire (its bytes were not kept)';
}

export class Detail {
  constructor(root, api, onJump) {
    this.api = api;
    this.onJump = onJump;
    this.root = root;
    this.head = root.querySelector('#detail-head');
    this.tree = root.querySelector('#tree');
    this.hex = root.querySelector('#hex');
    this.expert = root.querySelector('#expert');
    this.bytes = new Uint8Array();
    this.fields = []; // flat: {f, li, depth, parent}
    this.current = null;
    this.tree.addEventListener('keydown', (ev) => this.treeKey(ev));
    this.hex.addEventListener('click', (ev) => {
      const b = ev.target.closest('[data-off]');
      if (b) this.selectByte(Number(b.dataset.off));
    });
    this.hex.addEventListener('keydown', (ev) => {
      const b = ev.target.closest('[data-off]');
      if (!b) return;
      let off = Number(b.dataset.off);
      if (ev.key === 'ArrowRight') off++; else if (ev.key === 'ArrowLeft') off--;
      else if (ev.key === 'ArrowDown') off += 16; else if (ev.key === 'ArrowUp') off -= 16;
      else if (ev.key === 'Enter' || ev.key === ' ') { this.selectByte(off); ev.preventDefault(); return; } else return;
      ev.preventDefault();
      const next = this.hex.querySelector(`.byte[data-off="${off}"]`);
      if (next) { next.focus(); this.selectByte(off); }
    });
  }

  // show displays arrow seq and returns its detail (with the exchange).
  show(seq) {
    const d = this.api._detail(seq);
    if (!d) return null;
    const e = d.entry;
    this.root.dataset.kind = e.kind;
    this.root.dataset.seq = String(e.seq);
    clear(this.head);
    this.head.append(
      h('h2', { id: 'detail-title' }, h('span', { class: `kind-pill c-${d.class}`, text: e.kind }), ' ', h('span', { class: 'summary', text: e.summary || '' })),
      h('dl', { class: 'facts' },
        h('dt', { text: 'time' }), h('dd', { text: fmtMs(e.t) }),
        h('dt', { text: 'from → to' }), h('dd', { text: `${e.from} → ${e.to}` }),
        h('dt', { text: 'leg' }), h('dd', { text: e.leg + (e.conn ? ` (connection ${e.conn})` : '') }),
        h('dt', { text: 'observed' }), h('dd', { text: observedText(e) }),
        e.bytes ? h('dt', { text: 'size' }) : null, e.bytes ? h('dd', { text: `${fromBase64(e.bytes).length} bytes` }) : null,
        e.note ? h('dt', { text: 'note' }) : null, e.note ? h('dd', { text: e.note }) : null,
        e.error ? h('dt', { class: 'err', text: 'error' }) : null, e.error ? h('dd', { class: 'err', text: e.error }) : null),
    );
    if (d.exchange) {
      const x = d.exchange;
      const list = h('ol', { class: 'exchange-steps' });
      const t0 = x.arrows.length ? x.arrows[0].t : 0;
      for (const a of x.arrows) {
        const label = `${a.kind.replace('mqtt.', '')} ${a.from} → ${a.to}${a.t !== t0 ? ` (+${fmtMs(a.t - t0)})` : ''}`;
        list.append(h('li', {}, a.seq === e.seq
          ? h('span', { class: 'this', 'aria-current': 'true', text: label })
          : h('button', { type: 'button', class: 'link', text: label, onclick: () => this.onJump(a.seq) })));
      }
      this.head.append(h('div', { class: 'exchange' },
        h('span', { class: 'exchange-name', text: `${x.name}${x.done ? '' : ' — waiting for the answer'}` }), list));
    }
    this.render(d.tree, e.bytes ? fromBase64(e.bytes) : new Uint8Array(), e.observed);
    return d;
  }

  // render draws a dissection tree (as from lifeline.dissect) and bytes.
  // observed ('wire' or 'kernel', as the entry says) words the empty case.
  render(tree, bytes, observed) {
    this.bytes = bytes;
    this.fields = [];
    this.current = null;
    clear(this.tree);
    clear(this.expert);
    if (tree && tree.fields) {
      const ul = h('ul', { role: 'group' });
      for (const f of tree.fields) ul.append(this.fieldNode(f, 1, null));
      this.tree.append(ul);
      if (this.fields.length) this.fields[0].row.tabIndex = 0;
    } else {
      this.tree.append(h('p', { class: 'muted', text: bytes.length ? 'No field tree for this kind: the bytes are on the right.'
        : observed === 'broker' ? 'No bytes: this is the embedded broker\'s own report of what it did, not a packet on the wire.'
        : observed === 'proxy' ? 'No bytes: the proxy dropped this many trace entries because the page read its trace channel too slowly (it keeps at most 4 MiB or 4096 unsent); the diagram misses their arrows here, the traffic itself was not affected.'
        : observed === 'kernel' ? 'No bytes: this step was observed by the kernel (a socket call), not read off the wire.'
          : 'No bytes kept: the message was read on the wire, and what it said is in the summary and note above.' }));
    }
    for (const x of (tree && tree.expert) || []) {
      this.expert.append(h('li', {},
        h('button', { type: 'button', class: 'link', onclick: () => this.selectByte(x.offset), text: `offset ${x.offset}` }),
        ' ', h('span', { class: 'clause', text: x.clause ? `[${x.clause}]` : '' }), ' ', h('span', { text: x.message })));
    }
    this.expert.hidden = !this.expert.children.length;
    this.renderHex(bytes);
  }

  fieldNode(f, depth, parent) {
    const hasKids = f.children && f.children.length > 0;
    const row = h('div', { class: 'field-row', role: 'treeitem', 'aria-level': depth, tabindex: '-1', 'aria-expanded': hasKids ? 'true' : null, dataset: { field: f.name } },
      hasKids ? h('span', { class: 'twisty', 'aria-hidden': 'true' }) : h('span', { class: 'leaf', 'aria-hidden': 'true' }),
      h('span', { class: 'label', text: f.label || `${f.name}: ${f.value}` }),
      h('span', { class: 'fname', text: f.name }));
    const li = h('li', {}, row);
    const rec = { f, li, row, depth, parent };
    this.fields.push(rec);
    row.addEventListener('click', (ev) => {
      if (hasKids && ev.target.classList.contains('twisty')) this.toggle(rec);
      this.selectField(rec, false);
    });
    if (hasKids) {
      const ul = h('ul', { role: 'group' });
      for (const c of f.children) ul.append(this.fieldNode(c, depth + 1, rec));
      li.append(ul);
    }
    return li;
  }

  toggle(rec, open) {
    const now = rec.row.getAttribute('aria-expanded') === 'true';
    const next = open === undefined ? !now : open;
    rec.row.setAttribute('aria-expanded', String(next));
  }

  selectField(rec, scroll) {
    if (this.current) { this.current.row.classList.remove('selected'); this.current.row.tabIndex = -1; }
    this.current = rec;
    rec.row.classList.add('selected');
    rec.row.tabIndex = 0;
    for (let p = rec.parent; p; p = p.parent) this.toggle(p, true);
    this.highlight(rec.f.offset, rec.f.length);
    if (scroll) rec.row.scrollIntoView({ block: 'nearest' });
  }

  // selectField by its Wireshark name (e.g. 'mqtt.kalive'): for lessons
  // that point a field out. Returns whether the shown packet has it.
  selectFieldByName(name) {
    const rec = this.fields.find((r) => r.f.name === name);
    if (rec) this.selectField(rec, true);
    return !!rec;
  }

  // point marks the fields a lesson points out — their rows and their
  // bytes — and selects the first. A spec is a field name
  // ('mqtt.kalive') or {field, label} where the label must contain label
  // (e.g. one property among several). It returns the names found.
  point(specs) {
    for (const el of this.root.querySelectorAll('.pointed')) el.classList.remove('pointed');
    const found = [];
    let first = null;
    for (const spec of specs) {
      const name = typeof spec === 'string' ? spec : spec.field;
      const label = typeof spec === 'string' ? '' : spec.label || '';
      const rec = this.fields.find((r) => r.f.name === name && (r.f.label || '').includes(label));
      if (!rec) continue;
      found.push(name);
      rec.row.classList.add('pointed');
      for (let p = rec.parent; p; p = p.parent) this.toggle(p, true);
      for (let i = rec.f.offset; i < rec.f.offset + rec.f.length && i < this.bytes.length; i++) {
        for (const el of this.hex.querySelectorAll(`[data-off="${i}"]`)) el.classList.add('pointed');
      }
      if (!first) first = rec;
    }
    if (first) this.selectField(first, true);
    return found;
  }

  // selectByte selects the deepest field whose bytes hold off.
  selectByte(off) {
    let best = null;
    for (const rec of this.fields) {
      const f = rec.f;
      if (off >= f.offset && off < f.offset + f.length && (!best || rec.depth >= best.depth)) best = rec;
    }
    if (best) { this.selectField(best, true); return; }
    this.highlight(off, 1);
  }

  highlight(off, len) {
    for (const b of this.hex.querySelectorAll('.on')) b.classList.remove('on');
    for (let i = off; i < off + len && i < this.bytes.length; i++) {
      for (const el of this.hex.querySelectorAll(`[data-off="${i}"]`)) el.classList.add('on');
    }
    const first = this.hex.querySelector(`.byte[data-off="${off}"]`);
    if (first) first.scrollIntoView({ block: 'nearest' });
  }

  renderHex(bytes) {
    clear(this.hex);
    if (!bytes.length) return;
    const frag = document.createDocumentFragment();
    for (let row = 0; row < bytes.length; row += 16) {
      const line = h('div', { class: 'hex-line' }, h('span', { class: 'off', text: row.toString(16).padStart(4, '0') }));
      const hexes = h('span', { class: 'bytes' });
      const ascii = h('span', { class: 'ascii' });
      for (let i = row; i < Math.min(row + 16, bytes.length); i++) {
        const b = bytes[i];
        hexes.append(h('span', { class: 'byte', tabindex: i === 0 ? '0' : '-1', dataset: { off: String(i) }, text: b.toString(16).padStart(2, '0') }));
        ascii.append(h('span', { dataset: { off: String(i) }, text: b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '·' }));
      }
      line.append(hexes, ascii);
      frag.append(line);
    }
    this.hex.append(frag);
  }

  treeKey(ev) {
    const rows = [...this.tree.querySelectorAll('.field-row')].filter((r) => r.offsetParent !== null);
    const i = rows.indexOf(document.activeElement);
    if (i < 0) return;
    const rec = this.fields.find((r) => r.row === rows[i]);
    let next = null;
    switch (ev.key) {
      case 'ArrowDown': next = rows[i + 1]; break;
      case 'ArrowUp': next = rows[i - 1]; break;
      case 'ArrowRight': if (rec.row.getAttribute('aria-expanded') === 'false') this.toggle(rec, true); else next = rows[i + 1]; break;
      case 'ArrowLeft': if (rec.row.getAttribute('aria-expanded') === 'true') this.toggle(rec, false); else if (rec.parent) next = rec.parent.row; break;
      case 'Enter': case ' ': this.selectField(rec, false); break;
      default: return;
    }
    ev.preventDefault();
    if (next) {
      const r = this.fields.find((x) => x.row === next);
      this.selectField(r, true);
      next.focus();
    }
  }
}
