// Boot: create window.lifeline, load the Go WebAssembly client, and resolve
// window.lifeline.ready once the client has registered its API.
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

// Called by the wasm module (wasm/main.go) once its functions are in place.
lifeline._boot = (info) => {
  delete lifeline._boot;
  lifeline.info = info;
  setStatus('ready', `WebAssembly client ready (${info.goVersion}).`);
  resolveReady(lifeline);
};

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
