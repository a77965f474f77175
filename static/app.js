// Boot: create window.lifeline, load the Go WebAssembly client, and resolve
// window.lifeline.ready once the client has registered its API; then draw
// what it computes, once an animation frame.
import { Diagram } from './diagram.js';
import { Detail } from './detail.js';
import { Panels } from './panels.js';

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

// importCapture opens a pcap/pcapng capture (read by the server) or a JSON
// trace (read here) and shows it in the diagram. It returns
// {entries, problems}.
lifeline.importCapture = async (bytes) => {
  const b = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  let i = 0;
  while (i < b.length && /\s/.test(String.fromCharCode(b[i]))) i++;
  if (b[i] === 0x7b || b[i] === 0x5b) { // { or [: a JSON trace
    const n = lifeline._load(new TextDecoder().decode(b));
    return { entries: n, problems: [] };
  }
  const r = await fetch('api/import', { method: 'POST', headers: { 'Content-Type': 'application/octet-stream' }, body: b });
  if (!r.ok) throw new Error(`import failed: ${r.status} ${(await r.text()).trim()}`);
  const res = await r.json();
  const n = lifeline._load(res.entries || []);
  return { entries: n, problems: res.problems || [] };
};

// Called by the wasm module (wasm/main.go) once its functions are in place.
lifeline._boot = (info) => {
  delete lifeline._boot;
  lifeline.info = info;
  setStatus('ready', `WebAssembly client ready (${info.goVersion}).`);
  start();
  resolveReady(lifeline);
};

function start() {
  const detail = new Detail(document.getElementById('detail-panel'), lifeline, (seq) => {
    diagram.reveal(seq);
    diagram.select(seq, true);
  });
  const diagram = new Diagram(document.getElementById('diagram-panel'), lifeline, (seq) => detail.show(seq));
  const panels = new Panels(lifeline);
  panels.config();
  lifeline._ui = { diagram, detail, panels };

  // One frame: the diagram and the panels draw what changed.
  const loop = () => {
    try {
      diagram.frame();
      panels.frame();
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
  document.getElementById('export-json').addEventListener('click', () => download(lifeline.exportJSON(), `lifeline-${stamp()}.json`, 'application/json'));
  document.getElementById('export-pcapng').addEventListener('click', async () => {
    try { download(await lifeline.exportPcapng(), `lifeline-${stamp()}.pcapng`, 'application/vnd.tcpdump.pcap'); } catch (e) { setStatus('error', e.message); }
  });
  document.getElementById('open-file').addEventListener('change', async (ev) => {
    const f = ev.target.files[0];
    if (!f) return;
    try {
      const r = await lifeline.importCapture(new Uint8Array(await f.arrayBuffer()));
      setStatus('ready', `Opened ${f.name}: ${r.entries} arrows${r.problems.length ? `, ${r.problems.length} problems` : ''}.`);
    } catch (e) { setStatus('error', `Could not open ${f.name}: ${e.message}`); }
    ev.target.value = '';
  });
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

async function load() {
  const go = new Go();
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
