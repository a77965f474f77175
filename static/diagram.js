// The live sequence diagram. The model — lanes, rows, links, times,
// deadlines — comes from the Go client (package diagram) through
// lifeline._view(first, n); this file only draws it, a window of rows at a
// time, so a session of any length draws as fast as a short one.
import { h, s, clear, fmtMs, fmtInt } from './dom.js';

const BASE_ROW = 34;       // px per arrow at zoom 1
const TIME_W = 88;         // the time column on the left
const COL_W = 10;          // one exchange column in the link gutter
const GUTTER_W = 4 * COL_W + 12;
const OVERSCAN = 40;       // rows drawn above and below what is visible
const OVERSCAN_LIVE = 3;   // … while following live traffic, when rows scroll by fast
const FLOOD_FPS = 8;       // redraws a second at most while following a flood
const QUEUED_FLOOD = 64;   // arrows waiting to be placed that make a flood
const FLOOD_MIN = 32;      // arrows drawn since the last redraw that may make one
const ZOOMS = [0.6, 0.75, 0.9, 1, 1.2, 1.45, 1.75];

export class Diagram {
  constructor(root, api, onSelect) {
    this.api = api;
    this.classes = api._classes(); // [{class, name}], the Go client's one list (diagram.Classes)
    this.onSelect = onSelect;
    this.zoomIndex = 3;
    this.following = true;
    this.hidden = new Set();
    this.selected = 0;
    this.selectedExchange = 0;
    this.arrows = new Map(); // seq -> {g, row}
    this.layoutKey = '';
    this.lastVersion = -1;
    this.lastWindow = '';
    this.view = null;
    this.labels = {}; // party -> a friendlier lane heading (a lesson's "Cloud app")
    this.connClient = new Map(); // conn -> the page's client that opened it (from browser-leg arrows)

    this.toolbar = root.querySelector('.diagram-toolbar');
    this.followBtn = root.querySelector('#follow');
    this.chips = root.querySelector('#filters');
    this.info = root.querySelector('#diagram-info');
    this.heads = root.querySelector('#lane-heads');
    this.scroller = root.querySelector('#diagram-scroll');
    this.spacer = root.querySelector('#diagram-spacer');
    this.empty = root.querySelector('#diagram-empty');
    this.svg = s('svg', { id: 'diagram', role: 'list', 'aria-label': 'Sequence diagram: one row per message' });
    this.world = s('g');
    this.lanesG = s('g', { class: 'lanes' });
    this.spansG = s('g', { class: 'spans' });
    this.deadlinesG = s('g', { class: 'deadlines' });
    this.arrowsG = s('g', { class: 'arrows' });
    this.world.append(this.lanesG, this.deadlinesG, this.spansG, this.arrowsG);
    this.svg.append(this.world);
    this.spacer.append(this.svg);

    this.followBtn.addEventListener('click', () => this.setFollowing(!this.following));
    root.querySelector('#zoom-in').addEventListener('click', () => this.zoom(+1));
    root.querySelector('#zoom-out').addEventListener('click', () => this.zoom(-1));
    this.scroller.addEventListener('scroll', () => {
      const atEnd = this.scroller.scrollTop + this.scroller.clientHeight >= this.scroller.scrollHeight - this.rowH();
      if (this.programmaticScroll) { this.programmaticScroll = false; return; }
      if (!atEnd && this.following) this.setFollowing(false);
      else if (atEnd && !this.following && this.userScrolled) this.setFollowing(true);
      this.userScrolled = true;
    }, { passive: true });
    this.scroller.addEventListener('click', (ev) => {
      const g = ev.target.closest('[data-seq]');
      if (g) this.select(Number(g.dataset.seq), true);
    });
    this.scroller.addEventListener('keydown', (ev) => this.key(ev));
    // Tooltips are made when the pointer first rests on an arrow, not for
    // every arrow drawn.
    this.scroller.addEventListener('pointerover', (ev) => {
      const g = ev.target.closest('[data-seq]');
      if (g && g.__tip && !g.querySelector('title')) g.prepend(s('title', { text: g.__tip() }));
    });
    this.buildChips();
    this.setFollowing(true);
  }

  label(lane) { return this.labels[lane.party] || lane.label; }

  // holdBack draws only the rows up to the last of these arrows (a lesson
  // shows one step at a time, though one call made the next steps' arrows
  // too); null draws every row.
  holdBack(seqs) {
    this.until = seqs && seqs.length ? seqs : null;
    this.lastVersion = -1;
    this.lastWindow = '';
  }

  // shown is the number of rows drawn: all, or those up to the held-back
  // arrows' last (rows move as the clocks are aligned: asked each time).
  // drawn: called during a frame, which sees the arrows placed so far.
  shown(drawn) {
    const total = this.api._total(drawn);
    if (!this.until) return total;
    let last = -1;
    for (const seq of this.until) last = Math.max(last, this.api._rowOf(seq, drawn));
    return Math.min(total, last + 1);
  }

  // setLabels names lanes for people (e.g. a lesson's "Cloud app" for the
  // party "app"); {} restores the model's labels.
  setLabels(labels) {
    this.labels = labels || {};
    this.layoutKey = '';
    this.lastWindow = '';
  }

  // reset forgets what was drawn: the model was replaced or cleared, and
  // seq numbers may be reused. A live diagram follows new arrows; an opened
  // trace is shown from its top.
  reset(follow) {
    this.connClient.clear();
    this.layoutKey = '';
    this.lastWindow = '';
    this.lastVersion = -1;
    this.selected = 0;
    this.selectedExchange = 0;
    this.setFollowing(!!follow);
    if (!follow) {
      this.programmaticScroll = true;
      this.scroller.scrollTop = 0;
    }
  }

  rowH() { return Math.round(BASE_ROW * ZOOMS[this.zoomIndex]); }

  zoom(d) {
    this.zoomIndex = Math.max(0, Math.min(ZOOMS.length - 1, this.zoomIndex + d));
    this.svg.style.setProperty('--zoom', ZOOMS[this.zoomIndex]);
    this.layoutKey = '';
    this.lastWindow = '';
    if (this.selected && !this.following) this.reveal(this.selected);
  }

  setFollowing(on) {
    this.following = on;
    this.followBtn.setAttribute('aria-pressed', String(!on));
    this.followBtn.textContent = on ? 'Pause' : 'Follow live';
    this.followBtn.title = on ? 'Stop following new messages (the diagram keeps recording)' : 'Jump to the newest message and follow';
    this.userScrolled = false;
    this.lastWindow = '';
  }

  buildChips() {
    clear(this.chips);
    for (const { class: cls, name } of this.classes) {
      const b = h('button', {
        type: 'button', class: `chip c-${cls}`, 'aria-pressed': 'true', dataset: { class: cls },
        title: `Show or hide ${name} arrows`,
        onclick: () => {
          if (this.hidden.has(cls)) this.hidden.delete(cls); else this.hidden.add(cls);
          b.setAttribute('aria-pressed', String(!this.hidden.has(cls)));
          this.api._setHidden([...this.hidden]);
          this.lastWindow = '';
        },
      }, h('span', { class: 'swatch', 'aria-hidden': 'true' }), name, h('span', { class: 'count', text: '' }));
      this.chips.append(b);
    }
  }

  // frame draws if anything changed; the page calls it every animation frame.
  // Its reads say true ("drawn"): they see the arrows placed so far, and
  // leave those still queued to the client's own tasks (wasm/later_js.go).
  frame() {
    // true: this is also the once-a-frame call that lets the model settle.
    const version = this.api._version(true);
    const H = this.rowH();
    const viewH = this.scroller.clientHeight;
    const changed = version !== this.lastVersion;
    const now = performance.now();
    // Following a flood (hundreds of arrows a second), rows fly past faster
    // than anyone reads them: redraw at most FLOOD_FPS times a second then,
    // and leave the frames to the browser (and the page's thread to the
    // clients: a redraw of fresh rows costs about 10 ms of layout).
    // A flood is more than an arrow every 10 ms drawn since the last
    // redraw, and more than FLOOD_MIN (a connect's burst of DNS, TCP and
    // WebSocket arrows is not one: it is drawn at once), or arrows waiting
    // to be placed (lifeline._queued: the page's clients come first, and a
    // burst they take is placed after it).
    if (changed && this.following && this.lastTotal !== undefined && now - this.lastDraw < 1000 / FLOOD_FPS) {
      if (this.api._queued() > QUEUED_FLOOD) return;
      const total = this.api._total(true);
      if (total - this.lastTotal > Math.max(FLOOD_MIN, (now - this.lastDraw) / 10)) return;
    }
    if (changed) {
      this.lastDraw = now;
      this.lastTotal = this.api._total(true);
      this.lastVersion = version;
      // A cheap look at the total first, to size the spacer and follow.
      const total = this.shown(true);
      this.spacer.style.height = `${(total + 1) * H}px`;
      if (this.following) {
        const target = Math.max(0, (total + 1) * H - viewH);
        if (Math.abs(this.scroller.scrollTop - target) > 1) {
          this.programmaticScroll = true;
          this.scroller.scrollTop = target;
        }
      }
    }
    const top = this.scroller.scrollTop;
    const over = this.following ? OVERSCAN_LIVE : OVERSCAN;
    const first = Math.max(0, Math.floor(top / H) - over);
    const count = Math.ceil(viewH / H) + 2 * over;
    const win = `${version}|${first}|${count}|${H}|${this.scroller.clientWidth}`;
    if (win === this.lastWindow) return;
    this.lastWindow = win;
    this.draw(this.api._view(first, count, true), true);
  }

  draw(v, drawn) {
    if (this.until) {
      const n = this.shown(drawn);
      v = { ...v, total: n, arrows: v.arrows.filter((a) => a.row < n), deadlines: (v.deadlines || []).filter((d) => d.row < n),
        spans: (v.spans || []).map((sp) => ({ ...sp, rows: (sp.rows || []).filter((r) => r < n) })) };
    }
    this.view = v;
    const H = this.rowH();
    // As wide as the panel: a phone's 360 px too (its labels are shortened to their arrows).
    const W = Math.max(320, this.scroller.clientWidth);
    this.empty.hidden = v.total > 0 || v.pagedOut.count > 0;
    this.spacer.style.height = `${(v.total + 1) * H}px`;
    const n = Math.max(v.lanes.length, 1);
    const timeW = W < 600 ? 64 : TIME_W; // "+0.63 ms" fits in 64 px; lanes get the rest
    const lanesW = W - timeW - GUTTER_W;
    const laneX = (i) => timeW + (lanesW * (i + 0.5)) / n;
    this.laneW = lanesW / n;
    this.learnConns(v);
    const key = `${W}|${H}|${v.lanes.map((l) => `${l.party}=${l.label}=${l.detail || ''}`).join(',')}|${this.connClient.size}`; // a new connection may tag arrows
    if (key !== this.layoutKey) {
      this.layoutKey = key;
      this.arrows.clear();
      clear(this.arrowsG);
      clear(this.heads);
      const room = Math.floor(lanesW / n) - 6;
      for (const [i, l] of v.lanes.entries()) {
        // The whole heading, wrapped where it may break (after . : - /),
        // never cut to a fragment; under it the address, smaller. The
        // title has both and the party's name.
        const label = this.label(l);
        const detail = this.labels[l.party] ? '' : (l.detail || '');
        const title = [...new Set([label, detail, l.party].filter(Boolean))].join(' — ');
        // Narrow lanes: a smaller font, so that the longest part of the
        // name fits on a line (down to 9.5 px, then it breaks).
        const need = Math.max(textWidth(label, '600 12px system-ui, sans-serif', /(?<=[.\-/ ])/),
          detail ? textWidth(detail, '10.2px ui-monospace, "DejaVu Sans Mono", monospace', /(?<=[: ])/) : 0);
        const px = Math.max(9, Math.min(12, 12 * (room - 20) / need));
        this.heads.append(h('div', { class: `lane-head party-${safe(l.party)}`, dataset: { party: l.party }, style: `left:${laneX(i)}px;max-width:${room}px;font-size:${px.toFixed(1)}px`, title },
          h('span', { class: 'lh-label' }, ...breakable(label, /(?<=[.\-/ ])/)),
          detail ? h('span', { class: 'lh-detail' }, ...breakable(detail, /(?<=[: ])/)) : null));
      }
      let tall = 0;
      for (const el of this.heads.children) tall = Math.max(tall, el.offsetHeight);
      this.heads.style.height = `${Math.max(tall + 10, 32)}px`;
    }
    this.svg.setAttribute('width', W);
    const height = Math.max(v.arrows.length, 1) * H + H;
    this.svg.setAttribute('height', height);
    this.svg.style.top = `${v.first * H}px`;
    this.world.setAttribute('transform', `translate(0 ${-v.first * H})`);

    // Lifelines.
    clear(this.lanesG);
    const y0 = v.first * H, y1 = y0 + height;
    for (const [i] of v.lanes.entries()) {
      this.lanesG.append(s('line', { class: 'lifeline', x1: laneX(i), x2: laneX(i), y1: y0, y2: y1 }));
    }

    // Arrows, reused by seq.
    const keep = new Set();
    for (const a of v.arrows) {
      keep.add(a.seq);
      let rec = this.arrows.get(a.seq);
      const marks = `${!!a.held}${!!a.notRelayed}`;
      if (rec && rec.marks !== marks) {
        // The proxy held this packet, or closed without relaying it, after
        // it was drawn: draw it again.
        rec.g.remove();
        this.arrows.delete(a.seq);
        rec = undefined;
      }
      if (!rec) {
        rec = { g: this.arrow(a, laneX, H), row: a.row, marks };
        this.arrows.set(a.seq, rec);
        this.arrowsG.append(rec.g);
      } else if (rec.row !== a.row || rec.t !== a.t || rec.delta !== a.delta) {
        // Moved, or moved in time (the clocks' offset was refined).
        rec.row = a.row;
        rec.g.setAttribute('transform', `translate(0 ${a.row * H})`);
        rec.g.querySelector('.delta').textContent = `+${fmtMs(a.delta)}`;
        rec.g.querySelector('.abs').textContent = fmtMs(a.t);
      }
      rec.t = a.t;
      rec.delta = a.delta;
      rec.g.classList.toggle('selected', a.seq === this.selected);
      rec.g.classList.toggle('linked', a.exchange !== 0 && a.exchange === this.selectedExchange && a.seq !== this.selected);
    }
    for (const [seq, rec] of this.arrows) {
      if (!keep.has(seq)) { rec.g.remove(); this.arrows.delete(seq); }
    }

    clear(this.spansG);
    this.drawSpans(this.spansG, v, W, H);
    clear(this.deadlinesG);
    this.drawDeadlines(this.deadlinesG, v.deadlines || [], laneX, W, H);

    this.updateInfo(v);
  }

  // drawSpans draws the exchanges of view v in the gutter: a bracket from
  // the request to its last answer, in its client's colour on the proxy's
  // broker leg when the page has several clients (see client).
  drawSpans(into, v, W, H) {
    const gx = W - GUTTER_W + 8;
    for (const sp of v.spans || []) {
      if (sp.column < 0 || !sp.rows || sp.rows.length < 2) continue;
      const x = gx + sp.column * COL_W;
      const ya = sp.rows[0] * H + H * 0.62, yb = sp.rows[sp.rows.length - 1] * H + H * 0.62;
      const one = v.arrows.find((a) => a.exchange === sp.exchange); // the view has a span for an arrow it shows
      const who = one && this.client(one);
      const g = s('g', { class: `span c-${sp.class}${who ? ` ${who.color} of-client` : ''}${sp.done ? '' : ' open'}${sp.exchange === this.selectedExchange ? ' selected' : ''}`, dataset: { exchange: String(sp.exchange) } },
        s('title', { text: sp.name + (sp.done ? '' : ' (waiting for the answer)') }),
        s('line', { x1: x, x2: x, y1: ya, y2: yb }));
      for (const r of sp.rows) g.append(s('line', { class: 'tick', x1: x - 5, x2: x, y1: r * H + H * 0.62, y2: r * H + H * 0.62 }));
      into.append(g);
    }
  }

  // drawDeadlines draws the deadlines — a client's keepalive, the broker's
  // timers (message expiry, will delay, session expiry) — as a dotted line
  // across the lanes at the time it falls due, a ring on the lifeline that
  // keeps it, the words at the right end.
  drawDeadlines(into, deadlines, laneX, W, H) {
    const right = W - GUTTER_W - 6;
    for (const d of deadlines) {
      const y = d.row * H + H * 0.62;
      const x = laneX(d.lane);
      const cls = d.pending ? 'pending' : d.met ? 'met' : 'missed';
      into.append(s('g', { class: `deadline ${cls}`, role: 'note', 'aria-label': d.label },
        s('title', { text: `${d.label} (at ${fmtMs(d.t)})` }),
        s('line', { x1: x, x2: right, y1: y, y2: y }),
        s('circle', { cx: x, cy: y, r: 4 }),
        s('text', { x: right, y: y - 3, 'text-anchor': 'end', text: d.label })));
    }
  }

  // standalone draws the whole diagram — every kept arrow the filter
  // shows, not only the rows on screen — as a self-contained SVG document
  // with the lane heads and the page's colours written in (css). The
  // drawing is the page's own: the same arrows, brackets and deadlines.
  standalone(css) {
    const v = this.api._view(0, this.api._total());
    this.learnConns(v);
    const H = BASE_ROW, HEAD = 44;
    const n = Math.max(v.lanes.length, 1);
    const W = Math.max(760, TIME_W + GUTTER_W + n * 160);
    const lanesW = W - TIME_W - GUTTER_W;
    const laneX = (i) => TIME_W + (lanesW * (i + 0.5)) / n;
    const zoom = this.zoomIndex, laneW = this.laneW;
    this.zoomIndex = ZOOMS.indexOf(1);
    this.laneW = lanesW / n;
    const rows = Math.max(v.arrows.length, 1);
    const height = HEAD + rows * H + H / 2;
    const svg = s('svg', { xmlns: 'http://www.w3.org/2000/svg', width: W, height, viewBox: `0 0 ${W} ${height}`, class: 'lifeline-diagram' },
      s('title', { text: `Lifeline sequence diagram: ${v.total} arrows` }),
      s('style', { text: css }),
      s('rect', { class: 'bg', x: 0, y: 0, width: W, height }));
    for (const [i, l] of v.lanes.entries()) {
      const label = this.label(l);
      const w = Math.min(this.laneW - 8, 14 + 7.4 * label.length);
      svg.append(s('g', { class: 'lane-head' },
        s('rect', { x: laneX(i) - w / 2, y: 8, width: w, height: 26, rx: 6 }),
        s('text', { x: laneX(i), y: 26, 'text-anchor': 'middle', text: label })));
    }
    const body = s('g', { transform: `translate(0 ${HEAD})` });
    const lanes = s('g', { class: 'lanes' });
    for (const [i] of v.lanes.entries()) lanes.append(s('line', { class: 'lifeline', x1: laneX(i), x2: laneX(i), y1: 0, y2: rows * H + H / 2 }));
    const deadlines = s('g', { class: 'deadlines' });
    this.drawDeadlines(deadlines, v.deadlines || [], laneX, W, H);
    const spans = s('g', { class: 'spans' });
    this.drawSpans(spans, v, W, H);
    const arrows = s('g', { class: 'arrows' });
    for (const a of v.arrows) arrows.append(this.arrow(a, laneX, H));
    body.append(lanes, deadlines, spans, arrows);
    svg.append(body);
    this.zoomIndex = zoom;
    this.laneW = laneW;
    return new XMLSerializer().serializeToString(svg);
  }

  // learnConns remembers which of the page's clients opened each
  // connection, from the arrows of the browser's leg.
  learnConns(v) {
    this.lanes = v.lanes;
    for (const a of v.arrows) {
      if (a.conn && a.leg === 'browser-proxy') this.connClient.set(a.conn, a.from === 'proxy' ? a.to : a.from);
    }
  }

  // client says whose connection a proxy-side arrow (broker or DNS leg)
  // belongs to when the page has several clients: their connections share
  // the proxy's and the broker's lifelines, so each arrow is tagged with
  // the client's name in the client's colour. Null when there is one.
  client(a) {
    if (!a.conn || a.leg.startsWith('browser-') || (a.from !== 'proxy' && a.to !== 'proxy')) return null;
    const clients = (this.lanes || []).map((l) => l.party).filter((p) => [...this.connClient.values()].includes(p));
    if (clients.length < 2) return null;
    const party = this.connClient.get(a.conn);
    const lane = (this.lanes || []).findIndex((l) => l.party === party);
    const name = party ? this.labels[party] || (lane >= 0 ? this.lanes[lane].label : party) : a.conn;
    return { party: party || a.conn, name, color: `ct-${Math.max(0, party ? clients.indexOf(party) : lane) % 6}` };
  }

  arrow(a, laneX, H) {
    // A message the broker dropped (broker.drop, from and to the broker)
    // is a red arrow that ends at the broker's lifeline, coming from the
    // side of the lanes it would have gone to, marked with a cross.
    const drop = a.kind === 'broker.drop';
    const x2 = laneX(a.toLane);
    const x1 = drop ? x2 + (a.toLane > 0 ? -1 : 1) * this.laneW * 0.8 : laneX(a.fromLane);
    const dir = x2 >= x1 ? 1 : -1;
    const y = H * 0.62;
    const cls = `arrow c-${a.class}${drop ? ' dropped' : ''}${a.observed === 'kernel' ? ' kernel' : ''}${a.error ? ' error' : ''}${a.held ? ' held' : ''}`;
    const label = `${a.summary || a.kind}`;
    const where = `${a.from} → ${a.to}`;
    const g = s('g', {
      class: cls, transform: `translate(0 ${a.row * H})`, role: 'listitem', tabindex: '-1',
      'aria-label': `${fmtMs(a.t)}, ${where}: ${label}${a.error ? `, error: ${a.error}` : ''}`,
      dataset: { kind: a.kind, leg: a.leg, seq: String(a.seq), from: a.from, to: a.to },
    });
    g.__tip = () => `${label}\n${where} (${a.leg}) at ${fmtMs(a.t)}${a.observed === 'kernel' ? '\nobserved by the kernel (a socket call), not on the wire' : ''}${a.note ? '\n' + a.note : ''}${a.error ? '\nerror: ' + a.error : ''}`;
    g.append(s('rect', { class: 'hit', x: 0, y: 0, width: '100%', height: H }));
    g.append(s('text', { class: 'delta', x: 8, y: H * 0.45, text: `+${fmtMs(a.delta)}` }));
    g.append(s('text', { class: 'abs', x: 8, y: H * 0.85, text: `${fmtMs(a.t)}` }));
    if (a.fromLane === a.toLane && !drop) {
      // An event at one party (the lab holding or dropping a packet at the
      // proxy, the kernel's socket state): a mark on its lifeline, not an arrow.
      g.classList.add('mark');
      const sym = { 'lab.hold': '‖', 'lab.release': '▶', 'lab.drop': '✕', 'lab.silence': '…', 'lab.delay': '~' }[a.kind] || '•';
      g.append(s('rect', { class: 'mark-box', x: x1 - 9, y: y - 9, width: 18, height: 18, rx: 4 }));
      g.append(s('text', { class: 'mark-sym', x: x1, y: y + 4, 'text-anchor': 'middle', text: sym }));
      const room = Math.max(12, Math.floor(this.laneW * 1.7 / (7.2 * ZOOMS[this.zoomIndex])));
      g.append(s('text', { class: 'label', x: x1 + 14, y: y + 4, 'text-anchor': 'start', text: clip(label, room) }));
      return g;
    }
    const head = 7;
    g.append(s('line', { class: 'shaft', x1: x1, x2: x2 - dir * head, y1: y, y2: y }));
    g.append(s('path', { class: 'head', d: `M${x2},${y} l${-dir * head * 1.4},${-head * 0.7} v${head * 1.4} z` }));
    // A label may reach a little past its arrow's ends, over the lifelines.
    const span = Math.abs(x2 - x1) + this.laneW * 0.7;
    const maxChars = Math.max(6, Math.floor(span / (7.2 * ZOOMS[this.zoomIndex])));
    // A close whose reason is its error says it once: the code above the
    // arrow, the reason in red below it.
    const said = a.error && label.endsWith(a.error) && label.length > a.error.length ? label.slice(0, -a.error.length).replace(/[\s:]+$/, '') : label;
    const who = this.client(a);
    if (who) {
      // Whose connection: the client's name and colour, and a dot in that
      // colour where the arrow leaves or reaches the proxy.
      g.dataset.client = who.party;
      g.classList.add(who.color);
      const px = a.from === 'proxy' ? x1 : x2;
      g.append(s('circle', { class: 'conn-dot', cx: px + (px === x1 ? dir : -dir) * 4, cy: y, r: 4 }));
      const tag = `${who.name} ▸ `;
      g.append(s('text', { class: 'label', x: (x1 + x2) / 2, y: y - 5, 'text-anchor': 'middle' },
        s('tspan', { class: 'conn-tag', text: tag }), clip(said, Math.max(6, maxChars - tag.length))));
    } else {
      g.append(s('text', { class: 'label', x: (x1 + x2) / 2, y: y - 5, 'text-anchor': 'middle', text: clip(said, maxChars) }));
    }
    if (a.held) {
      // The proxy's lab bench held this packet on arrival (the Go model says which).
      g.append(s('text', { class: 'badge held-badge', x: x2 - dir * 6, y: y + 11, 'text-anchor': dir > 0 ? 'end' : 'start', text: '‖ held at the proxy' }));
    }
    const links = links5Text(a.mqtt5);
    if (links) {
      g.append(s('text', { class: 'badge v5', x: (x1 + x2) / 2, y: y + 11, 'text-anchor': 'middle', text: clip(links, maxChars) }));
      const tip = g.__tip;
      g.__tip = () => `${tip()}\n${links}`;
    }
    if (a.observed === 'kernel') {
      g.append(s('text', { class: 'badge', x: x1 + dir * 6, y: y + 11, 'text-anchor': dir > 0 ? 'start' : 'end', text: 'kernel' }));
    }
    if (drop) {
      g.append(s('text', { class: 'badge err drop', x: x2 + dir * 6, y: y + 4, 'text-anchor': dir > 0 ? 'start' : 'end', text: '✕ dropped' }));
    }
    if (a.notRelayed) {
      // The page sent it, the proxy closed first: it went no further (the
      // model's note, in the tooltip, says so).
      g.append(s('text', { class: 'badge err not-relayed', x: x2 - dir * 6, y: y + 11, 'text-anchor': dir > 0 ? 'end' : 'start', text: '✕ not relayed' }));
    }
    if (a.error) {
      // Under the shaft from its head back, short of the "kernel" badge at
      // its tail when there is one (else a little past the tail).
      const zoom = ZOOMS[this.zoomIndex];
      const room = a.observed === 'kernel' ? Math.abs(x2 - x1) - 12 - 46 * zoom : Math.abs(x2 - x1) + this.laneW * 0.45;
      g.append(s('text', { class: 'badge err', x: x2 - dir * 6, y: y + 11, 'text-anchor': dir > 0 ? 'end' : 'start', text: clip(`✕ ${a.error}`, Math.max(8, Math.floor(room / (6.6 * zoom)))) }));
    }
    return g;
  }

  updateInfo(v) {
    for (const b of this.chips.children) {
      const n = (v.counts && v.counts[b.dataset.class]) || 0;
      b.querySelector('.count').textContent = n ? fmtInt(n) : '';
      b.hidden = n === 0 && !this.hidden.has(b.dataset.class);
    }
    const parts = [];
    parts.push(`${fmtInt(v.total)} arrow${v.total === 1 ? '' : 's'}${this.hidden.size ? ' shown' : ''}`);
    if (v.clock.aligned) {
      parts.push(`proxy's clock aligned to the page's within ± ${fmtMs(v.clock.uncertainty)} (best of ${v.clock.samples} ping${v.clock.samples === 1 ? '' : 's'}${v.clock.pairs ? `, narrowed by ${fmtInt(v.clock.pairs)} relayed packets: none is drawn before its cause` : ''})`);
    }
    if (v.pagedOut.count > 0) {
      const top = Object.entries(v.pagedOut.byKind).sort((a, b) => b[1] - a[1]).slice(0, 3)
        .map(([k, n]) => `${k.replace('mqtt.', '')} ${fmtInt(n)}`).join(', ');
      parts.push(`${fmtInt(v.pagedOut.count)} older arrows paged out to keep memory bounded (${top}); counts include them`);
    }
    const text = parts.join(' · ');
    if (this.info.textContent !== text) this.info.textContent = text;
  }

  // select highlights an arrow and its exchange and opens its detail.
  select(seq, focus) {
    this.selected = seq;
    const d = this.onSelect(seq);
    this.selectedExchange = d && d.exchange ? d.exchange.id : 0;
    this.lastWindow = '';
    if (focus) {
      this.frame();
      const rec = this.arrows.get(seq);
      if (rec) rec.g.focus({ preventScroll: true });
    }
  }

  // reveal scrolls an arrow into view.
  reveal(seq) {
    const row = this.api._rowOf(seq);
    if (row < 0) return;
    const H = this.rowH();
    // Rows may have arrived since the last frame: size the spacer first,
    // or the browser clamps the scroll to the old height.
    this.spacer.style.height = `${(this.shown() + 1) * H}px`;
    const top = row * H, bottom = top + H;
    if (top < this.scroller.scrollTop || bottom > this.scroller.scrollTop + this.scroller.clientHeight) {
      this.setFollowing(false);
      this.programmaticScroll = true;
      this.scroller.scrollTop = Math.max(0, top - this.scroller.clientHeight / 2);
    }
  }

  selectRow(row) {
    const v = this.api._view(row, 1);
    if (v.arrows.length) {
      this.reveal(v.arrows[0].seq);
      this.select(v.arrows[0].seq, true);
    }
  }

  key(ev) {
    const row = this.selected ? this.api._rowOf(this.selected) : -1;
    const total = this.shown();
    const page = Math.max(1, Math.floor(this.scroller.clientHeight / this.rowH()) - 1);
    let target = null;
    switch (ev.key) {
      case 'ArrowDown': case 'j': target = row < 0 ? 0 : row + 1; break;
      case 'ArrowUp': case 'k': target = row < 0 ? total - 1 : row - 1; break;
      case 'PageDown': target = row + page; break;
      case 'PageUp': target = row - page; break;
      case 'Home': target = 0; break;
      case 'End': target = total - 1; break;
      case 'f': this.setFollowing(!this.following); break;
      case '+': case '=': this.zoom(+1); break;
      case '-': this.zoom(-1); break;
      default: return;
    }
    ev.preventDefault();
    if (target !== null && total > 0) this.selectRow(Math.max(0, Math.min(total - 1, target)));
  }
}

// breakable returns a text as text nodes with a <wbr> where the pattern
// splits it, so that a long name or address wraps at its parts.
function breakable(text, at) {
  const out = [];
  for (const part of String(text).split(at)) {
    if (out.length) out.push(document.createElement('wbr'));
    out.push(part);
  }
  return out;
}

// textWidth is the width in px of the widest part of a text (split where
// it may wrap) in a CSS font.
let measure;
function textWidth(text, font, at) {
  measure = measure || document.createElement('canvas').getContext('2d');
  measure.font = font;
  return Math.max(1, ...String(text).split(at).map((p) => measure.measureText(p).width));
}

// clip shortens a text to at most n characters, cut after a whole word and
// marked with …; the whole text is in the arrow's title and the packet
// panel. Only a first word longer than n is cut inside.
function clip(t, n) {
  if (t.length <= n) return t;
  const cut = t.slice(0, n);
  const end = cut.search(/\s\S*$/);
  return (end > 0 ? cut.slice(0, end).replace(/[\s,;:(—-]+$/, '') : cut.slice(0, n - 1)) + '…';
}

const safe = (p) => String(p).replace(/[^a-z0-9-]/gi, '_');

// links5Text says what an arrow's MQTT 5.0 properties link it to (the
// diagram model's MQTT5, computed in Go): the topic an alias stands for,
// the request a response answers, the subscriptions a delivery matched.
function links5Text(m) {
  if (!m) return '';
  const parts = [];
  if (m.alias) {
    if (m.aliasSet) parts.push(`sets alias ${m.alias} = ${m.aliasTopic}`);
    else if (m.aliasTopic) parts.push(`alias ${m.alias} = ${m.aliasTopic}`);
    else parts.push(`alias ${m.alias} never set`);
  }
  if (m.request) parts.push(`answers #${m.request} after ${fmtMs(m.elapsed)}`);
  if (m.response) parts.push(`answered by #${m.response}`);
  for (const sub of m.subs || []) parts.push(`subscription ${sub.id}${sub.filter ? ` (${sub.filter})` : ''}`);
  return parts.join(' · ');
}
