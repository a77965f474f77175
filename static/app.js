// Boot: create window.lifeline, load the Go WebAssembly client, and resolve
// window.lifeline.ready once the client has registered its API; then draw
// what it computes, once an animation frame.
import { Diagram } from './diagram.js';
import { Detail } from './detail.js';
import { Panels } from './panels.js';
import { Lessons } from './lessons.js';
import { LabPanel } from './lab.js';
import { Findings } from './findings.js';
import { svgCSS, svgToPNG } from './export.js';

const status = document.getElementById('status');

function setStatus(state, text) {
  status.dataset.state = state;
  status.textContent = text;
}

let resolveReady, rejectReady;
const lifeline = {
  ready: new Promise((res, rej) => { resolveReady = res; rejectReady = rej; }),
};
window.lifeline = lifeline;

// exportPcapng asks the server to wrap the trace in pcapng framing (link,
// IP and TCP around the real DNS and MQTT bytes); it returns the bytes.
lifeline.exportPcapng = async () => {
  const r = await fetch('api/export/pcapng', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: lifeline.exportJSON() });
  if (!r.ok) throw new Error(`export failed: ${r.status} ${(await r.text()).trim()}`);
  return new Uint8Array(await r.arrayBuffer());
};

// exportSVG returns the whole diagram (what the filter shows) as an SVG
// document, drawn as the page draws it with the theme's colours written in.
lifeline.exportSVG = () => lifeline._ui.diagram.standalone(svgCSS(lifeline._ui.diagram.classes));
// exportPNG paints that SVG on a canvas; it returns the PNG's bytes.
lifeline.exportPNG = () => svgToPNG(lifeline.exportSVG());
// exportMermaid returns the diagram as Mermaid sequence-diagram text.
// The lanes are headed as the page heads them (a lesson's "Cloud app").
lifeline.exportMermaid = () => lifeline._mermaid(lifeline._ui.diagram.labels);

// importCapture opens a pcap/pcapng capture (read by the server) or a JSON
// trace (read here) and shows it in the diagram. It returns
// {entries, problems}.
lifeline.importCapture = async (bytes) => {
  const b = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  let i = 0;
  while (i < b.length && /\s/.test(String.fromCharCode(b[i]))) i++;
  if (b[i] === 0x7b || b[i] === 0x5b) { // { or [: a JSON trace
    const n = lifeline._load(new TextDecoder().decode(b));
    if (lifeline._ui) lifeline._ui.diagram.reset();
    return { entries: n, problems: [] };
  }
  const r = await fetch('api/import', { method: 'POST', headers: { 'Content-Type': 'application/octet-stream' }, body: b });
  if (!r.ok) {
    // The server answers {"error": "…"}; say it without the package name.
    const text = (await r.text()).trim();
    let why = text;
    try { why = JSON.parse(text).error || text; } catch { /* plain text */ }
    throw new Error(`it is neither a capture (pcap, pcapng) nor a Lifeline JSON trace — ${String(why).replace(/^capture: /, '')}`);
  }
  const res = await r.json();
  const n = lifeline._load(res.entries || []);
  if (lifeline._ui) lifeline._ui.diagram.reset();
  return { entries: n, problems: res.problems || [], conns: res.conns || [] };
};

// problemText says where a problem of an opened capture is and what it is.
export function problemText(p, conns) {
  const c = (conns || []).find((x) => x.id === p.conn);
  const who = p.conn ? ` (connection ${p.conn}${c && c.clientId ? `, client ${c.clientId}` : ''})` : '';
  return `${p.frame ? `Frame ${p.frame}` : 'The file as a whole'}${who}: ${p.reason}`;
}

// Called by the wasm module (wasm/main.go) once its functions are in place.
lifeline._boot = (info) => {
  delete lifeline._boot;
  lifeline.readyAt = performance.now(); // ms since navigation started
  lifeline.info = info;
  setStatus('ready', `WebAssembly client ready (${info.goVersion}).`);
  // Ready once the server's defaults (the embedded broker's name) are in.
  start().then(() => resolveReady(lifeline));
};

function start() {
  const detail = new Detail(document.getElementById('detail-panel'), lifeline, (seq) => {
    diagram.reveal(seq);
    diagram.select(seq, true);
  });
  const diagram = new Diagram(document.getElementById('diagram-panel'), lifeline, (seq) => detail.show(seq));
  const panels = new Panels(lifeline);
  const lab = new LabPanel(lifeline, panels);
  const findings = new Findings(document.getElementById('findings-panel'), lifeline, (seq) => {
    diagram.reveal(seq);
    diagram.select(seq, true);
  });
  lifeline._ui = { diagram, detail, panels, lab, findings };
  foldOnPhones();
  lifeline._ui.lessons = new Lessons(lifeline, lifeline._ui);

  // One frame: the diagram and the panels draw what changed. Not during
  // the first HANDSHAKE_HOLD ms of a connect() (lifeline._handshake): a
  // frame's drawing and layout take milliseconds, and the socket's open
  // and the CONNACK would wait behind them; what came meanwhile is drawn
  // right after. A lesson's steps are about what is drawn: while one is
  // open, every frame draws.
  const HANDSHAKE_HOLD = 50;
  const loop = () => {
    try {
      const hs = lifeline._handshake();
      if (hs < 0 || hs >= HANDSHAKE_HOLD || lifeline._ui.lessons.lesson) {
        diagram.frame();
        panels.frame();
        findings.frame();
      }
    } catch (e) {
      console.error(e);
    }
    requestAnimationFrame(loop);
  };
  requestAnimationFrame(loop);

  const download = (bytes, name, type) => {
    const a = document.createElement('a');
    a.href = URL.createObjectURL(new Blob([bytes], { type }));
    a.download = name;
    a.click();
    setTimeout(() => URL.revokeObjectURL(a.href), 1000);
  };
  const stamp = () => new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19);
  const menu = document.getElementById('export-menu');
  const exporter = (id, make, ext, type) => document.getElementById(id).addEventListener('click', async () => {
    menu.open = false;
    try { download(await make(), `lifeline-${stamp()}.${ext}`, type); } catch (e) { setStatus('error', `Export failed: ${e.message}`); }
  });
  exporter('export-json', () => lifeline.exportJSON(), 'json', 'application/json');
  exporter('export-pcapng', () => lifeline.exportPcapng(), 'pcapng', 'application/vnd.tcpdump.pcap');
  exporter('export-svg', () => lifeline.exportSVG(), 'svg', 'image/svg+xml');
  exporter('export-png', () => lifeline.exportPNG(), 'png', 'image/png');
  exporter('export-mermaid', () => lifeline.exportMermaid(), 'mmd', 'text/vnd.mermaid');
  menu.addEventListener('keydown', (ev) => { if (ev.key === 'Escape' && menu.open) { menu.open = false; menu.querySelector('summary').focus(); } });
  // Opening a file, from the picker or dropped anywhere on the page: what
  // could not be read is listed in words, frame by frame; the rest is shown.
  const report = document.getElementById('open-report');
  const reportText = document.getElementById('open-report-text');
  const problemList = document.getElementById('open-problems');
  document.getElementById('open-report-close').addEventListener('click', () => { report.hidden = true; });
  const openFile = async (f) => {
    report.hidden = true;
    problemList.replaceChildren();
    try {
      if (!f.size) throw new Error('the file is empty');
      const r = await lifeline.importCapture(new Uint8Array(await f.arrayBuffer()));
      setStatus('ready', `Opened ${f.name}: ${r.entries} arrows${r.problems.length ? `, ${r.problems.length} problem${r.problems.length === 1 ? '' : 's'}` : ''}.`);
      if (r.problems.length) {
        reportText.textContent = `Opened ${f.name}, but ${r.problems.length === 1 ? 'one part' : `${r.problems.length} parts`} of it could not be read. The rest is shown.`;
        for (const p of r.problems) problemList.append(Object.assign(document.createElement('li'), { textContent: problemText(p, r.conns) }));
        report.hidden = false;
      }
      if (!r.entries && !r.problems.length) {
        reportText.textContent = `${f.name} was read, but it holds no DNS, TCP or MQTT traffic Lifeline recognises.`;
        report.hidden = false;
      }
    } catch (e) {
      const why = String(e.message || e).replace(/^Error: /, '');
      setStatus('error', `Could not open ${f.name}.`);
      reportText.textContent = `Could not open ${f.name}: ${why}.`.replace(/\.\.$/, '.');
      report.hidden = false;
    }
  };
  // A button, not a label around the hidden input: a keyboard reaches it.
  document.getElementById('open-trace').addEventListener('click', () => document.getElementById('open-file').click());
  document.getElementById('open-file').addEventListener('change', async (ev) => {
    const f = ev.target.files[0];
    if (f) await openFile(f);
    ev.target.value = '';
  });
  const dropTarget = document.getElementById('drop-target');
  const withFiles = (ev) => ev.dataTransfer && [...ev.dataTransfer.types].includes('Files');
  let depth = 0; // dragenter/dragleave pairs, one per element crossed
  document.addEventListener('dragenter', (ev) => {
    if (!withFiles(ev)) return;
    ev.preventDefault();
    depth++;
    dropTarget.hidden = false;
  });
  document.addEventListener('dragover', (ev) => {
    if (!withFiles(ev)) return;
    ev.preventDefault(); // allow the drop
    ev.dataTransfer.dropEffect = 'copy';
  });
  document.addEventListener('dragleave', (ev) => {
    if (!withFiles(ev)) return;
    depth = Math.max(0, depth - 1);
    if (!depth) dropTarget.hidden = true;
  });
  document.addEventListener('drop', (ev) => {
    if (!withFiles(ev)) return;
    ev.preventDefault(); // the browser would navigate to the file
    depth = 0;
    dropTarget.hidden = true;
    const f = ev.dataTransfer.files[0];
    if (f) lifeline._opening = openFile(f);
  });
  return panels.config();
}

// Light and dark: the system's choice unless the person picks one.
const themeBtn = document.getElementById('theme');
const applyTheme = (t) => {
  if (t) document.documentElement.dataset.theme = t; else delete document.documentElement.dataset.theme;
  const dark = t ? t === 'dark' : matchMedia('(prefers-color-scheme: dark)').matches;
  themeBtn.setAttribute('aria-pressed', String(dark));
  themeBtn.textContent = dark ? '☀ Light' : '☾ Dark';
};
applyTheme(localStorage.getItem('lifeline-theme'));
themeBtn.addEventListener('click', () => {
  const dark = themeBtn.getAttribute('aria-pressed') === 'true';
  const t = dark ? 'light' : 'dark';
  localStorage.setItem('lifeline-theme', t);
  applyTheme(t);
});

let go;
// _memory reports what the page holds: the WebAssembly memory and, where
// the browser tells, the JavaScript heap (for the benchmark).
lifeline._memory = () => ({
  wasm: go && go.mem ? go.mem.buffer.byteLength : 0,
  js: performance.memory ? performance.memory.usedJSHeapSize : 0,
  nodes: document.getElementsByTagName('*').length,
});

async function load() {
  go = new Go();
  // Memory for time: Go's collector runs on the page's one thread, its
  // marking in the time Go would otherwise give back to the browser, and
  // with the diagram's 20,000 arrows live each cycle marks them all:
  // receiving 10,000 messages at once, its idle mark worker took 39 ms of
  // a 248 ms profile, a sixth of the page's time. GOGC 800 runs it a
  // quarter as often as 200 did (receiving 10,000 at QoS 0: 0.70x -> 0.87x
  // mqtt.js), for a heap that grows further between cycles: 85-95 MB of wasm
  // memory after 30 s of 10,000 messages a second, 38 MB before. The limit
  // holds it near 128 MiB whatever comes (a wasm memory never shrinks).
  // Set here, read by the Go runtime at start: runtime/debug would bring
  // fmt and os into the wasm (15 KB).
  go.env = { ...go.env, GOGC: '800', GOMEMLIMIT: '128MiB' };
  const resp = fetch('wasm/main.wasm');
  const { instance } = await WebAssembly.instantiateStreaming(resp, go.importObject);
  go.run(instance).then(() => {
    setStatus('error', 'The WebAssembly client stopped.');
  });
}

load().catch((err) => {
  setStatus('error', `Could not load the WebAssembly client: ${err.message}`);
  rejectReady(err);
});

// foldOnPhones wires the one-column layout of a narrow screen (style.css
// shows its buttons there, and only there): the client's panels fold away
// behind a button, and a tapped arrow's packet, below the diagram, is
// scrolled to, with a button back up.
function foldOnPhones() {
  const fold = document.getElementById('side-fold');
  fold.addEventListener('click', () => fold.setAttribute('aria-expanded', String(fold.getAttribute('aria-expanded') !== 'true')));
  const back = document.getElementById('detail-back');
  const diagram = document.getElementById('diagram-panel');
  const packet = document.getElementById('detail-panel');
  back.addEventListener('click', () => diagram.scrollIntoView({ block: 'start' }));
  document.getElementById('diagram-scroll').addEventListener('click', (ev) => {
    if (getComputedStyle(back).display !== 'none' && ev.target.closest('[data-seq]')) packet.scrollIntoView({ block: 'start' });
  });
}
