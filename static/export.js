// Exports of the diagram: SVG (the page's own drawing of every arrow, with
// its colours written in) and PNG (that SVG painted on a canvas). Mermaid
// text comes from the Go client (lifeline._mermaid, package textdiagram);
// JSON and pcapng from the trace (app.js).

// svgCSS is the diagram's style sheet with the current theme's colours
// written out, so the SVG looks the same outside the page (CSS variables
// are resolved here: not every SVG viewer knows them). classes is the
// Go client's list of arrow classes (lifeline._classes()).
export function svgCSS(classes) {
  const cs = getComputedStyle(document.documentElement);
  const v = (name) => cs.getPropertyValue(name).trim();
  const [panel, ink, muted, line, soft, err, ping] = ['--panel', '--ink', '--muted', '--line', '--soft', '--err', '--c-ping'].map(v);
  const mono = 'ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace';
  const rules = [
    `svg { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; font-size: 13px; }`,
    `.bg { fill: ${panel}; }`,
    `.lane-head rect { fill: ${soft}; stroke: ${line}; }`,
    `.lane-head text { fill: ${ink}; font-weight: 600; font-size: 12px; }`,
    `.lifeline { stroke: ${line}; stroke-width: 2; }`,
    `.arrow .hit { fill: none; }`,
    `.arrow .shaft { stroke-width: 2; }`,
    `.arrow.kernel .shaft { stroke-dasharray: 6 4; }`,
    `.arrow .label, .deadline text { paint-order: stroke; stroke: ${panel}; stroke-width: 4px; stroke-linejoin: round; }`,
    `.arrow .label { fill: ${ink}; font-family: ${mono}; font-size: 12px; }`,
    `.arrow .delta { fill: ${ink}; font-size: 11.5px; }`,
    `.arrow .abs { fill: ${muted}; font-size: 10px; }`,
    `.arrow .badge { fill: ${muted}; font-size: 10px; font-style: italic; }`,
    `.arrow .badge.err { fill: ${err}; font-style: normal; font-weight: 600; }`,
    `.span line { stroke-width: 2; opacity: .75; }`,
    `.span.open line { stroke-dasharray: 3 3; }`,
    `.deadline line { stroke: ${ping}; stroke-width: 1.2; stroke-dasharray: 1 4; stroke-linecap: round; }`,
    `.deadline circle { fill: ${panel}; stroke: ${ping}; stroke-width: 2; }`,
    `.deadline text { fill: ${ping}; font-size: 10.5px; }`,
    `.deadline.met line, .deadline.met circle { stroke: ${muted}; }`,
    `.deadline.met text { fill: ${muted}; }`,
    `.deadline.missed line, .deadline.missed circle { stroke: ${err}; }`,
    `.deadline.missed text { fill: ${err}; }`,
  ];
  for (const { class: cls } of classes) {
    const c = v(`--c-${cls}`);
    rules.push(`.c-${cls} .shaft, .span.c-${cls} line { stroke: ${c}; }`, `.c-${cls} .head { fill: ${c}; }`);
  }
  for (let i = 0; i < 6; i++) rules.push(`.ct-${i} .conn-tag, .ct-${i} .conn-dot { fill: ${v(`--ct-${i}`)}; }`, `.span.ct-${i}.of-client line { stroke: ${v(`--ct-${i}`)}; }`);
  rules.push(`.arrow .conn-tag { font-weight: 700; }`, `.arrow .conn-dot { stroke: ${panel}; stroke-width: 1.5; }`);
  rules.push(`.arrow.error .shaft { stroke: ${err}; stroke-dasharray: 3 3; }`, `.arrow.error .head { fill: ${err}; }`);
  return rules.join('\n');
}

// MAX_PNG_SIDE keeps the canvas within what browsers paint.
const MAX_PNG_SIDE = 16384;

// svgToPNG paints an SVG document on a canvas (twice the size, for sharp
// text, where it fits) and returns the PNG's bytes.
export async function svgToPNG(svgText) {
  const doc = new DOMParser().parseFromString(svgText, 'image/svg+xml');
  const w = Number(doc.documentElement.getAttribute('width'));
  const hgt = Number(doc.documentElement.getAttribute('height'));
  const scale = Math.min(2, MAX_PNG_SIDE / w, MAX_PNG_SIDE / hgt);
  if (scale < 0.25) throw new Error(`the diagram is too long for a PNG (${hgt} px): hide some kinds with the filter, or export SVG`);
  const url = URL.createObjectURL(new Blob([svgText], { type: 'image/svg+xml' }));
  try {
    const img = new Image();
    img.src = url;
    await img.decode();
    const canvas = document.createElement('canvas');
    canvas.width = Math.round(w * scale);
    canvas.height = Math.round(hgt * scale);
    const ctx = canvas.getContext('2d');
    ctx.scale(scale, scale);
    ctx.drawImage(img, 0, 0, w, hgt);
    const blob = await new Promise((res) => canvas.toBlob(res, 'image/png'));
    if (!blob) throw new Error('the browser could not make the PNG');
    return new Uint8Array(await blob.arrayBuffer());
  } finally {
    URL.revokeObjectURL(url);
  }
}
