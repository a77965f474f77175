// Lesson mode: one small engine that plays lessons written as data
// (static/lessons/*.json, format in static/lessons/README.md). A step's
// actions are window.lifeline calls, performed for real when the learner
// presses Next; the engine waits for the arrows the step expects, then opens
// its key packets with the important fields pointed out. Progress is kept
// in localStorage so a lesson can be left and resumed.
import { h, clear } from './dom.js';

const STORE = 'lifeline-lesson';
const CALL_TIMEOUT = 10000; // ms a lifeline call may take
const EXPECT_TIMEOUT = 10000; // ms a step waits for its arrows, unless it says

// CALLS are the actions a lesson may take: window.lifeline's methods, lab
// (args: [op, options], window.lifeline.lab[op]), and wait (ms).
export const CALLS = ['connect', 'subscribe', 'unsubscribe', 'publish', 'disconnect', 'cut', 'lab', 'wait'];

// fill replaces {run} in every string of a lesson's arguments with the run's
// id, so that clients, topics and sessions of one run never meet another's
// (another run, another page in the same classroom).
function fill(v, run) {
  if (typeof v === 'string') return v.replaceAll('{run}', run);
  if (Array.isArray(v)) return v.map((x) => fill(x, run));
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, fill(x, run)]));
  return v;
}

// matches says whether a trace entry is the arrow a spec describes.
export function matches(e, spec) {
  return e.kind === spec.kind && (!spec.leg || e.leg === spec.leg) &&
    (!spec.from || e.from === spec.from) && (!spec.to || e.to === spec.to);
}

function describe(spec) {
  const where = [spec.from && `from ${spec.from}`, spec.to && `to ${spec.to}`, spec.leg && `on ${spec.leg}`].filter(Boolean).join(' ');
  return `${spec.kind}${where ? ' ' + where : ''}`;
}

const withTimeout = (p, ms, what) => Promise.race([
  p, new Promise((_, rej) => setTimeout(() => rej(new Error(`${what}: no answer within ${ms / 1000} s`)), ms)),
]);

export class Lessons {
  constructor(api, ui) {
    this.api = api;
    this.ui = ui; // {diagram, detail}
    this.root = document.getElementById('lesson');
    this.picker = document.getElementById('lesson-picker');
    this.list = document.getElementById('lesson-list');
    this.lesson = null;
    this.at = -1;       // the step shown; -1 is the lesson's title page
    this.done = 0;      // steps performed in this page (0..done-1)
    this.marks = [];    // per step: index into this.entries where its arrows start
    this.entries = [];  // trace entries since the lesson started
    this.seen = [];     // per step: the seqs of the arrows its expect matched
    this.busy = false;
    this.index = null;
    this.waiters = new Set();

    this.lastEntryAt = 0;
    // Entries are listened to while a lesson is open only: each costs the
    // client a JSON copy, too much for a flood of messages outside lessons.
    this.onEntry = (e) => {
      this.lastEntryAt = performance.now();
      if (!this.lesson) return;
      this.entries.push(e);
      for (const w of this.waiters) w();
    };
    document.getElementById('lessons-open').addEventListener('click', () => this.openPicker());
    // Closed without choosing: focus goes back to the Lessons button.
    this.picker.addEventListener('close', () => { if (!this.lesson && !this.starting) document.getElementById('lessons-open').focus(); });
    this.root.querySelector('#lesson-next').addEventListener('click', () => this.next());
    this.root.querySelector('#lesson-back').addEventListener('click', () => this.back());
    this.root.querySelector('#lesson-replay').addEventListener('click', () => this.replay());
    this.root.querySelector('#lesson-leave').addEventListener('click', () => this.leave());
    document.addEventListener('keydown', (ev) => this.key(ev));
    this.markResumable();
  }

  // catalog loads the lessons named in lessons/index.json.
  async catalog() {
    if (!this.index) {
      const idx = await (await fetch('lessons/index.json')).json();
      this.index = await Promise.all(idx.lessons.map(async (id) => {
        const r = await fetch(`lessons/${id}.json`);
        if (!r.ok) throw new Error(`lesson ${id}: ${r.status}`);
        return r.json();
      }));
    }
    return this.index;
  }

  saved() {
    try { return JSON.parse(localStorage.getItem(STORE) || 'null'); } catch { return null; }
  }

  save() {
    if (this.lesson) localStorage.setItem(STORE, JSON.stringify({ id: this.lesson.id, at: this.at, run: this.run }));
  }

  markResumable() {
    const s = this.saved();
    const b = document.getElementById('lessons-open');
    b.dataset.resume = s && s.at >= 0 ? 'true' : 'false';
    b.title = s && s.at >= 0 ? `Lessons (one to resume: ${s.id}, step ${s.at + 1})` : 'Lessons: the MQTT lifecycle step by step';
  }

  async openPicker() {
    clear(this.list);
    let lessons;
    try { lessons = await this.catalog(); } catch (e) {
      this.list.append(h('li', { class: 'error', text: `Could not load the lessons: ${e.message}` }));
      this.picker.showModal();
      return;
    }
    const s = this.saved();
    for (const l of lessons) {
      const resume = s && s.id === l.id && s.at >= 0;
      this.list.append(h('li', { class: 'lesson-card', dataset: { lesson: l.id } },
        h('button', { type: 'button', class: 'lesson-start', onclick: () => this.choose(l.id) },
          h('span', { class: 'lesson-title', text: l.title }),
          h('span', { class: 'lesson-summary', text: l.summary }),
          h('span', { class: 'lesson-meta', text: `${l.steps.length} steps · ${Object.values(l.clients || {}).join(', ')}` })),
        resume ? h('button', { type: 'button', class: 'lesson-resume', onclick: () => this.choose(l.id, s) },
          `Resume at step ${s.at + 1}`) : null));
    }
    this.picker.showModal();
    const first = this.list.querySelector('.lesson-resume') || this.list.querySelector('button');
    if (first) first.focus();
  }

  async choose(id, resume) {
    this.starting = true;
    this.picker.close();
    try { await this.start(id, resume); } finally { this.starting = false; }
  }

  // start opens a lesson at its title page, or resumes a saved run: the
  // steps up to the saved one are performed again, so that the clients are
  // where the learner left them.
  async start(id, resume) {
    const lessons = await this.catalog();
    const lesson = lessons.find((l) => l.id === id);
    if (!lesson) throw new Error(`no lesson ${id}`);
    this.api.off('entry', this.onEntry);
    this.api.on('entry', this.onEntry);
    await this.reset();
    this.lesson = lesson;
    this.run = resume && resume.run ? resume.run : Math.random().toString(16).slice(2, 6);
    this.at = -1;
    document.body.classList.add('lesson-mode');
    this.root.hidden = false;
    this.root.dataset.lesson = id;
    this.root.dataset.state = 'ready';
    if (!this.zoomed) { this.ui.diagram.zoom(+1); this.zoomed = true; }
    this.ui.diagram.setLabels(lesson.clients);
    // The header's connection state follows the lesson's first client.
    this.ui.panels.switchClient(Object.keys(lesson.clients || {})[0] || 'browser');
    this.render();
    this.save();
    if (resume && resume.at >= 0) {
      const target = Math.min(resume.at, lesson.steps.length - 1);
      this.note(`Catching up: performing steps 1 to ${target + 1} again, so everything is as you left it…`);
      while (this.at < target) {
        if (!(await this.next(true))) break;
      }
      this.render();
    }
    this.root.querySelector('#lesson-next').focus();
  }

  // reset disconnects the lesson's clients and starts a fresh diagram.
  async reset() {
    this.entries = [];
    this.marks = [];
    this.seen = [];
    this.ui.diagram.holdBack(null);
    this.done = 0;
    const names = new Set(['browser', ...Object.keys((this.lesson && this.lesson.clients) || {})]);
    const c = this.api._client();
    for (const n of c.clients || []) names.add(n);
    let closed = false;
    for (const n of names) {
      const st = this.api._client(n).state;
      if (st === 'connected' || st === 'connecting' || st === 'waiting') {
        closed = true;
        await withTimeout(this.api.disconnect({ client: n }), 3000, 'disconnect').catch(() => {});
      }
    }
    // The proxy reports the broker leg's close a little after ours: let
    // it arrive (300 ms of quiet, 2 s at most) before the diagram is new.
    const until = performance.now() + 2000;
    while (closed && performance.now() < until && performance.now() - this.lastEntryAt < 300) {
      await new Promise((r) => setTimeout(r, 50));
    }
    this.api._clear();
    this.ui.diagram.reset(true);
  }

  leave() {
    this.ui.diagram.holdBack(null);
    document.body.classList.remove('lesson-mode');
    this.root.hidden = true;
    if (this.zoomed) { this.ui.diagram.zoom(-1); this.zoomed = false; }
    this.lesson = null;
    this.api.off('entry', this.onEntry);
    this.ui.panels.switchClient('browser');
    this.ui.diagram.setLabels({});
    this.markResumable();
    document.getElementById('lessons-open').focus();
  }

  async replay() {
    if (this.busy || !this.lesson) return;
    const id = this.lesson.id;
    localStorage.removeItem(STORE);
    await this.start(id);
  }

  back() {
    if (this.busy || !this.lesson || this.at < 0) return;
    this.at--;
    this.save();
    this.render();
    if (this.at >= 0) this.showPackets(this.at, 0);
  }

  // next moves to the next step: performs it if it has not been, waits for
  // its arrows and opens its key packet. It returns whether it succeeded.
  async next(quiet) {
    if (this.busy || !this.lesson) return false;
    // A step that failed is tried again; otherwise on to the next.
    const i = this.at >= 0 && this.at >= this.done ? this.at : this.at + 1;
    if (i >= this.lesson.steps.length) {
      localStorage.removeItem(STORE);
      this.leave();
      return false;
    }
    this.at = i;
    this.save();
    if (i < this.done) { // performed already: Back, then Next
      this.render();
      this.showPackets(i, 0);
      return true;
    }
    const step = this.lesson.steps[i];
    this.busy = true;
    this.root.dataset.state = 'running';
    this.ui.diagram.setFollowing(true);
    if (!quiet) this.render();
    let ok = true;
    try {
      this.marks[i] = step.actions && step.actions.length ? this.entries.length : (i > 0 ? this.marks[i - 1] : 0);
      for (const a of step.actions || []) await this.act(a);
      await this.expect(i, step);
      this.done = i + 1;
      this.pace();
    } catch (e) {
      ok = false;
      this.fail(e);
    } finally {
      this.busy = false;
    }
    if (ok) {
      this.root.dataset.state = 'shown';
      this.render();
      this.showPackets(i, 0);
    }
    return ok;
  }

  // pace holds back, in the diagram, the arrows after those of the steps
  // performed when the next step has no actions: its arrows were made by
  // an earlier step's (the TCP handshake and the upgrade by the DNS step's
  // connect), and each Next shows one step's.
  pace() {
    const next = this.lesson.steps[this.done];
    const waits = next && !(next.actions && next.actions.length);
    if (!waits) { this.ui.diagram.holdBack(null); return; }
    // The arrows each step expected and the packets it opens.
    const shown = [];
    for (let k = 0; k < this.done; k++) {
      shown.push(...(this.seen[k] || []));
      for (const spec of this.lesson.steps[k].show || []) {
        const e = this.packet(k, spec);
        if (e) shown.push(e.seq);
      }
    }
    this.ui.diagram.holdBack(shown);
  }

  async act(a) {
    const args = fill(a.args || [], this.run);
    if (a.call === 'wait') {
      await new Promise((r) => setTimeout(r, Number(args[0]) || 0));
      return;
    }
    if (!CALLS.includes(a.call)) throw new Error(`unknown action ${a.call}`);
    const p = a.call === 'lab' ? this.api.lab[args[0]](args[1]) : this.api[a.call](...args);
    if (a.background) {
      // A call whose answer the step does not wait for (a publish whose
      // acknowledgement the lab drops): its arrows are what the step expects.
      p.catch(() => {});
      return;
    }
    await withTimeout(p, CALL_TIMEOUT, a.call === 'lab' ? `lab.${args[0]}` : a.call);
  }

  // expect waits until every expected arrow has appeared since the step's
  // mark, each matched by a different arrow.
  expect(i, step) {
    const want = step.expect || [];
    const used = new Set();
    const missing = () => {
      used.clear();
      const out = [];
      for (const spec of want) {
        let found = -1;
        for (let k = this.marks[i]; k < this.entries.length; k++) {
          if (!used.has(k) && matches(this.entries[k], spec)) { found = k; break; }
        }
        if (found < 0) out.push(spec); else used.add(found);
      }
      return out;
    };
    return new Promise((resolve, reject) => {
      const check = () => {
        if (missing().length === 0) {
          done();
          this.seen[i] = [...used].map((k) => this.entries[k].seq);
          resolve();
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`Waited ${(step.timeout || EXPECT_TIMEOUT) / 1000} s and did not see: ${missing().map(describe).join('; ')}`));
      }, step.timeout || EXPECT_TIMEOUT);
      const done = () => { clearTimeout(timer); this.waiters.delete(check); };
      this.waiters.add(check);
      check();
    });
  }

  // packet finds the arrow a show spec names among the step's arrows.
  packet(i, spec) {
    for (let k = this.marks[i] || 0; k < this.entries.length; k++) {
      if (matches(this.entries[k], spec)) return this.entries[k];
    }
    return null;
  }

  // showPackets opens show[j] of step i: selects its arrow and points out
  // its fields.
  showPackets(i, j) {
    const step = this.lesson.steps[i];
    const spec = (step.show || [])[j];
    for (const b of this.root.querySelectorAll('.lesson-packets button')) b.setAttribute('aria-pressed', String(Number(b.dataset.index) === j));
    if (!spec) return;
    const e = this.packet(i, spec);
    if (!e) return;
    this.ui.diagram.reveal(e.seq);
    this.ui.diagram.select(e.seq, false);
    this.ui.detail.point(spec.fields || []);
  }

  note(text) {
    const p = this.root.querySelector('#lesson-note');
    p.hidden = !text;
    p.textContent = text || '';
  }

  fail(e) {
    this.root.dataset.state = 'error';
    this.render();
    const p = this.root.querySelector('#lesson-note');
    p.hidden = false;
    p.className = 'lesson-error';
    p.textContent = `${e.message}. Press Replay to start the lesson again.`;
  }

  render() {
    const l = this.lesson;
    if (!l) return;
    const i = this.at;
    const step = i >= 0 ? l.steps[i] : null;
    this.root.dataset.step = String(i);
    this.root.querySelector('#lesson-title').textContent = l.title;
    this.root.querySelector('#lesson-progress').textContent = step ? `Step ${i + 1} of ${l.steps.length}` : `${l.steps.length} steps`;
    const bar = this.root.querySelector('#lesson-dots');
    clear(bar);
    for (let k = 0; k < l.steps.length; k++) {
      bar.append(h('li', { class: k === i ? 'now' : k < this.done ? 'done' : '', title: l.steps[k].title, 'aria-current': k === i ? 'step' : null }));
    }
    this.root.querySelector('#lesson-step-title').textContent = step ? step.title : l.title;
    this.root.querySelector('#lesson-text').textContent = step ? step.text : `${l.summary} Press Next to begin: each step is performed for real, and its key packet opens with the important fields pointed out.`;
    const note = this.root.querySelector('#lesson-note');
    note.className = 'lesson-note';
    note.hidden = !this.busy;
    note.textContent = this.busy ? (step && step.actions && step.actions.length ? 'Performing this step…' : 'Waiting for the arrows of this step…') : '';
    const packets = this.root.querySelector('.lesson-packets');
    clear(packets);
    if (step && !this.busy && this.root.dataset.state !== 'error') {
      for (const [j, spec] of (step.show || []).entries()) {
        const fields = (spec.fields || []).map((f) => (typeof f === 'string' ? f : f.field).replace('mqtt.', '')).join(', ');
        packets.append(h('li', {}, h('button', { type: 'button', dataset: { index: String(j) }, 'aria-pressed': 'false', onclick: () => this.showPackets(i, j) },
          h('span', { class: 'kind', text: spec.kind.replace('mqtt.', '') }),
          fields ? h('span', { class: 'fields', text: fields }) : null)));
      }
    }
    packets.hidden = !packets.children.length;
    const last = i === l.steps.length - 1;
    const next = this.root.querySelector('#lesson-next');
    next.textContent = i < 0 ? 'Begin ▶' : last ? 'Finish ✓' : 'Next ▶';
    next.disabled = this.busy;
    this.root.querySelector('#lesson-back').disabled = this.busy || i < 0;
    this.root.querySelector('#lesson-replay').disabled = this.busy;
  }

  // key: → or PageDown (a presenter's clicker) is Next, ← or PageUp Back,
  // unless focus is in a field, the diagram or the packet.
  key(ev) {
    if (!this.lesson || ev.altKey || ev.ctrlKey || ev.metaKey) return;
    const t = ev.target;
    if (t.closest && t.closest('input, textarea, select, dialog, #diagram-scroll, #tree, #hex')) return;
    if (ev.key === 'ArrowRight' || ev.key === 'PageDown') { ev.preventDefault(); this.next(); }
    else if (ev.key === 'ArrowLeft' || ev.key === 'PageUp') { ev.preventDefault(); this.back(); }
  }
}
