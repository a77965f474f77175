// Small DOM helpers. Everything that came off the network is set as text
// (textContent, setAttribute) — never parsed as HTML.
const SVG = 'http://www.w3.org/2000/svg';

// h('div', {class: 'x', dataset: {kind: 'a'}, onclick: fn}, child, 'text', …)
export function h(tag, attrs, ...children) {
  return build(document.createElement(tag), attrs, children);
}

// s('line', {x1: 0, …}) makes an SVG element.
export function s(tag, attrs, ...children) {
  return build(document.createElementNS(SVG, tag), attrs, children);
}

function build(el, attrs, children) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'text') el.textContent = v;
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    el.append(typeof c === 'string' ? document.createTextNode(c) : c);
  }
  return el;
}

// clear removes an element's children.
export function clear(el) {
  el.replaceChildren();
  return el;
}

export const $ = (sel, root = document) => root.querySelector(sel);

// fmtMs writes a time for people: 0.42 ms, 12.3 ms, 1.20 s, 2 min 3 s.
export function fmtMs(ms) {
  const a = Math.abs(ms);
  if (a < 1) return `${ms.toFixed(2)} ms`;
  if (a < 100) return `${ms.toFixed(1)} ms`;
  if (a < 1000) return `${ms.toFixed(0)} ms`;
  if (a < 60000) return `${(ms / 1000).toFixed(2)} s`;
  const m = Math.floor(a / 60000);
  return `${ms < 0 ? '-' : ''}${m} min ${Math.round((a - m * 60000) / 1000)} s`;
}

// fmtInt writes a count with thousands separators: 12,345. One formatter,
// made once: toLocaleString('en') builds a new one every call (in V8, tens
// of microseconds: 4-12 ms a flood's measure in the page's profile, the
// diagram's legend and the message list calling it every frame).
const intFormat = new Intl.NumberFormat('en');
export const fmtInt = (n) => intFormat.format(n);
