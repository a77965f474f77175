// The client's panels: the connection form, subscribe and publish, and the
// message list. They call window.lifeline (the same API people use at the
// console) and read the client's state once a frame.
import { h, clear, fmtMs, fmtInt } from './dom.js';
import * as payload from './payload.js';

const MAX_SHOWN = 200;        // messages kept in the list
const MAX_PER_FRAME = 12;     // messages added to it per frame (the rest are counted)
const MAX_CHARS = 4000;       // payload characters shown before "show all"

// showError shows err under a form, or hides the line when err is null.
// An error whose cause was that the client was not connected gives until
// = 'connected': frame() clears it once the client is, as the cause is gone.
function showError(el, err, until) {
  el.hidden = !err;
  const text = err ? String(err.message || err) : '';
  el.textContent = text.charAt(0).toUpperCase() + text.slice(1); // a sentence
  if (err && until) el.dataset.until = until; else delete el.dataset.until;
}

// ERROR_LINES are the forms' error lines that frame() may clear.
const ERROR_LINES = ['connect-error', 'subscribe-error', 'publish-error'];

function num(form, name) {
  const v = form.elements[name].value.trim();
  return v === '' ? undefined : Number(v);
}

// pairs reads "key=value" lines.
function pairs(text) {
  return text.split('\n').map((l) => l.trim()).filter(Boolean).map((l) => {
    const i = l.indexOf('=');
    return i < 0 ? [l, ''] : [l.slice(0, i).trim(), l.slice(i + 1).trim()];
  });
}

function drop(o) {
  for (const k of Object.keys(o)) if (o[k] === undefined || (Array.isArray(o[k]) && !o[k].length)) delete o[k];
  return o;
}

export class Panels {
  constructor(api) {
    this.api = api;
    this.cf = document.getElementById('connect-form');
    this.sf = document.getElementById('subscribe-form');
    this.pf = document.getElementById('publish-form');
    this.list = document.getElementById('messages');
    this.count = document.getElementById('msg-count');
    this.note = document.getElementById('msg-note');
    this.subs = document.getElementById('subscriptions');
    this.connState = document.getElementById('conn-state');
    this.tpl = document.getElementById('message-tpl');
    this.client = 'browser'; // the client the panels drive (options.client)
    this.known = ['browser'];  // clients added here, connected or not
    this.ids = {};             // client -> its client id in the form
    this.clientForm = document.getElementById('client-form');
    this.clientSelect = document.getElementById('client-select');
    this.lastMsg = 0;
    this.lastClient = '';
    this.unshown = 0;

    this.cf.elements.clientId.value = `lifeline-${Math.random().toString(16).slice(2, 8)}`;
    for (const r of this.cf.elements.mode) r.addEventListener('change', () => this.mode());
    this.cf.elements.version.addEventListener('change', () => this.versionChanged());
    this.versionChanged();
    this.cf.addEventListener('submit', (ev) => { ev.preventDefault(); this.connect(); });
    document.getElementById('disconnect').addEventListener('click', () => this.disconnect());
    this.sf.addEventListener('submit', (ev) => { ev.preventDefault(); this.subscribe(); });
    this.pf.addEventListener('submit', (ev) => { ev.preventDefault(); this.publish(); });
    this.clientSelect.addEventListener('change', () => this.switchClient(this.clientSelect.value));
    this.clientForm.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const input = this.clientForm.elements.newClient;
      const name = input.value.trim();
      if (!/^[A-Za-z0-9-]{1,32}$/.test(name) || ['proxy', 'dns', 'broker'].includes(name)) {
        showError(document.getElementById('connect-error'), new Error('A client name is 1 to 32 letters, digits or -, and not proxy, dns or broker.'));
        return;
      }
      input.value = '';
      if (!this.known.includes(name)) this.known.push(name);
      this.switchClient(name);
      this.cf.elements.clientId.focus();
    });
  }

  // switchClient points the panels at another client: its connection
  // state, subscriptions, and what Connect, Subscribe and Publish do.
  switchClient(name) {
    // Each client keeps its own client id in the form (two clients with
    // one id would take each other's session at the broker).
    this.ids[this.client] = this.cf.elements.clientId.value;
    this.cf.elements.clientId.value = this.ids[name] || `${name}-${Math.random().toString(16).slice(2, 6)}`;
    this.client = name;
    if (!this.known.includes(name)) this.known.push(name);
    this.lastClient = '';
    this.syncClients([]);
    showError(document.getElementById('connect-error'), null);
  }

  syncClients(connected) {
    for (const n of connected) if (!this.known.includes(n)) this.known.push(n);
    const names = this.known.join(',');
    if (this.clientSelect.dataset.names !== names) {
      this.clientSelect.dataset.names = names;
      clear(this.clientSelect);
      for (const n of this.known) this.clientSelect.append(h('option', { value: n, text: n }));
    }
    this.clientSelect.value = this.client;
  }

  async config() {
    try {
      const r = await fetch('api/config');
      if (!r.ok) return;
      const c = await r.json();
      if (c.defaultBroker) { this.cf.elements.broker.value = c.defaultBroker; this.api._setDefaultBroker(c.defaultBroker); }
    } catch { /* an older server: keep the defaults */ }
  }

  mode() {
    const direct = this.cf.elements.mode.value === 'direct';
    this.cf.querySelector('.mode-proxy').hidden = direct;
    this.cf.querySelector('.mode-direct').hidden = !direct;
    this.cf.elements.url.required = direct;
    this.cf.elements.broker.required = !direct;
  }

  versionChanged() {
    const v5 = this.cf.elements.version.value === '5';
    for (const el of document.querySelectorAll('.v5')) el.hidden = !v5;
  }

  options() {
    const f = this.cf.elements;
    const v5 = f.version.value === '5';
    const o = {
      client: this.client,
      version: Number(f.version.value),
      clientId: f.clientId.value,
      keepAlive: num(this.cf, 'keepAlive') ?? 30,
      cleanStart: f.cleanStart.checked,
      username: f.username.value || undefined,
      password: f.password.value || undefined,
    };
    if (f.mode.value === 'direct') o.url = f.url.value.trim();
    else { o.broker = f.broker.value.trim(); o.tls = f.tls.checked; }
    if (f.willTopic.value) {
      o.will = { topic: f.willTopic.value, payload: f.willPayload.value, qos: Number(f.willQos.value), retain: f.willRetain.checked };
      if (v5 && num(this.cf, 'willDelay')) o.will.properties = { willDelayInterval: num(this.cf, 'willDelay') };
    }
    if (v5) {
      o.properties = drop({
        sessionExpiryInterval: num(this.cf, 'sessionExpiry') || undefined,
        receiveMaximum: num(this.cf, 'receiveMaximum'),
        maximumPacketSize: num(this.cf, 'maximumPacketSize'),
        topicAliasMaximum: num(this.cf, 'topicAliasMaximum'),
        requestResponseInformation: f.requestResponseInformation.checked || undefined,
        requestProblemInformation: f.requestProblemInformation.checked ? undefined : false,
        userProperties: pairs(f.userProperties.value),
      });
    }
    return drop(o);
  }

  // causeGone is the state that ends an error raised now: 'connected' if
  // the client is not (its errors then say "connect first"), else none.
  causeGone() {
    const c = this.api._client ? this.api._client(this.client) : null;
    return c && c.state !== 'connected' ? 'connected' : undefined;
  }

  async connect() {
    const err = document.getElementById('connect-error');
    showError(err, null);
    try {
      await this.api.connect(this.options());
    } catch (e) {
      showError(err, e);
    }
  }

  async disconnect() {
    try { await this.api.disconnect({ client: this.client }); } catch (e) { showError(document.getElementById('connect-error'), e); }
  }

  async subscribe() {
    const f = this.sf.elements;
    const err = document.getElementById('subscribe-error');
    showError(err, null);
    const o = { client: this.client, qos: Number(f.qos.value) };
    if (this.cf.elements.version.value === '5') {
      Object.assign(o, { noLocal: f.noLocal.checked, retainAsPublished: f.retainAsPublished.checked, retainHandling: Number(f.retainHandling.value) });
      if (num(this.sf, 'subscriptionIdentifier')) o.properties = { subscriptionIdentifier: num(this.sf, 'subscriptionIdentifier') };
    }
    try { await this.api.subscribe(f.filter.value, o); } catch (e) { showError(err, e, this.causeGone()); }
  }

  async publish() {
    const f = this.pf.elements;
    const err = document.getElementById('publish-error');
    showError(err, null);
    try {
      const bytes = payload.parse(f.payload.value, f.format.value);
      const o = { client: this.client, qos: Number(f.qos.value), retain: f.retain.checked };
      if (this.cf.elements.version.value === '5') {
        o.properties = drop({
          contentType: f.contentType.value || undefined,
          messageExpiryInterval: num(this.pf, 'messageExpiryInterval'),
          responseTopic: f.responseTopic.value || undefined,
          correlationData: f.correlationData.value || undefined,
          payloadFormatIndicator: f.payloadFormatIndicator.checked ? 1 : undefined,
          userProperties: pairs(f.userProperties.value),
        });
      }
      await this.api.publish(f.topic.value, bytes, o);
    } catch (e) {
      showError(err, e, this.causeGone());
    }
  }

  // frame updates the connection state, subscriptions and new messages.
  frame() {
    if (!this.api._client) return;
    const c = this.api._client(this.client);
    const key = JSON.stringify(c);
    if (key !== this.lastClient) {
      this.lastClient = key;
      this.syncClients(c.clients || []);
      this.connState.dataset.state = c.state;
      this.connState.textContent = c.text;
      const busy = c.state === 'connecting' || c.state === 'connected' || c.state === 'closing';
      document.getElementById('connect').disabled = busy;
      document.getElementById('disconnect').disabled = !busy;
      for (const id of ERROR_LINES) {
        const el = document.getElementById(id);
        if (!el.hidden && el.dataset.until === c.state) showError(el, null);
      }
      if (c.error) showError(document.getElementById('connect-error'), c.error, 'connected');
      clear(this.subs);
      for (const s of c.subscriptions || []) {
        this.subs.append(h('li', { class: 'chip sub' },
          h('span', { class: 'filter', text: s.filter }),
          h('span', { class: 'muted', text: ` QoS ${s.granted ?? s.qos}` }),
          h('button', { type: 'button', class: 'x', 'aria-label': `Unsubscribe from ${s.filter}`, title: 'Unsubscribe', text: '×', onclick: () => this.api.unsubscribe(s.filter, { client: this.client }).catch((e) => showError(document.getElementById('subscribe-error'), e)) })));
      }
    }
    // The list is redrawn at most ten times a second, and four while
    // messages come faster than a thousand a second: nobody reads them as
    // they pass, and each redraw (12 messages, their payloads formatted,
    // and a layout) took 3-5 ms of the page's thread that the client
    // receiving them needs (receiving 10,000 at once: 10 ms of the page's
    // 160, BenchmarkPageClients's profile).
    const t = performance.now();
    if (t - (this.listAt || 0) < (this.flooded ? 250 : 100)) return;
    this.listAt = t;
    // Only the newest it lists: in a flood, all those since the last
    // look were a thousand, each written, parsed and thrown away.
    const m = this.api._messages(this.lastMsg, MAX_PER_FRAME);
    this.flooded = m.total - this.lastMsg > 100;
    if (!m.messages.length && m.total === this.lastMsg) return;
    const skipped = m.messages.length ? m.messages[0].n - this.lastMsg - 1 : 0;
    if (skipped > 0) this.unshown += skipped;
    this.lastMsg = m.total;
    const frag = document.createDocumentFragment();
    const fresh = m.messages.slice(-MAX_PER_FRAME);
    this.unshown += m.messages.length - fresh.length;
    for (const msg of fresh) frag.prepend(this.message(msg));
    this.list.prepend(frag);
    while (this.list.children.length > MAX_SHOWN) { this.list.lastElementChild.remove(); this.unshown++; }
    this.count.textContent = `${fmtInt(m.total)} received`;
    this.count.dataset.total = String(m.total);
    this.note.hidden = this.unshown === 0;
    this.note.textContent = `The list shows the newest ${fmtInt(MAX_SHOWN)} and at most ${MAX_PER_FRAME} new ones a frame; ${fmtInt(this.unshown)} messages are counted but not listed (the diagram and the JSON export have them while they are kept).`;
  }

  message(msg) {
    const li = this.tpl.content.firstElementChild.cloneNode(true);
    li.dataset.n = String(msg.n);
    li.querySelector('.msg-topic').textContent = msg.topic;
    const bytes = payload.fromBase64(msg.payload);
    li.querySelector('.msg-meta').textContent = `${msg.client && msg.client !== 'browser' ? `to ${msg.client} · ` : ''}#${fmtInt(msg.n)} · ${fmtMs(msg.t)} · QoS ${msg.qos}${msg.retain ? ' · retained' : ''}${msg.dup ? ' · dup' : ''} · ${fmtInt(bytes.length)} B`;
    const pre = li.querySelector('.msg-payload');
    const forms = li.querySelector('.msg-forms');
    const render = (fmt, all) => {
      const { text } = payload.show(bytes, fmt);
      clear(pre);
      if (!all && text.length > MAX_CHARS) {
        pre.append(text.slice(0, MAX_CHARS), h('button', { type: 'button', class: 'link more', text: `… ${fmtInt(text.length - MAX_CHARS)} more characters — show all`, onclick: () => render(fmt, true) }));
      } else {
        pre.textContent = text;
      }
      for (const b of forms.children) b.setAttribute('aria-pressed', String(b.dataset.format === fmt));
    };
    for (const fmt of payload.FORMATS) {
      forms.append(h('button', { type: 'button', class: 'fmt', dataset: { format: fmt }, text: fmt === 'json' ? 'JSON' : fmt, onclick: () => render(fmt, false) }));
    }
    render(payload.guess(bytes), false);
    return li;
  }
}
