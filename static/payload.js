// Payload forms: the bytes of a message as text, JSON, hex or base64, both
// ways. Bytes are Uint8Array.
const enc = new TextEncoder();
const dec = new TextDecoder('utf-8', { fatal: true });

export const FORMATS = ['text', 'json', 'hex', 'base64'];

// parse turns what a person typed into bytes; it throws with a readable
// message when the text is not of the form.
export function parse(text, format) {
  switch (format) {
    case 'text':
      return enc.encode(text);
    case 'json':
      try {
        return enc.encode(JSON.stringify(JSON.parse(text)));
      } catch (e) {
        throw new Error(`The payload is not valid JSON: ${e.message}`);
      }
    case 'hex': {
      const clean = text.replace(/0x/gi, '').replace(/[\s:,-]/g, '');
      if (clean.length % 2 || /[^0-9a-f]/i.test(clean)) throw new Error('The payload is not hex: use pairs of 0-9 a-f, spaces allowed.');
      const out = new Uint8Array(clean.length / 2);
      for (let i = 0; i < out.length; i++) out[i] = parseInt(clean.substr(i * 2, 2), 16);
      return out;
    }
    case 'base64':
      try {
        const bin = atob(text.replace(/\s/g, ''));
        return Uint8Array.from(bin, (c) => c.charCodeAt(0));
      } catch {
        throw new Error('The payload is not base64.');
      }
  }
  throw new Error(`unknown payload format ${format}`);
}

// show writes bytes in a form; ok is false when they are not of it (e.g.
// not UTF-8 text, not JSON).
export function show(bytes, format) {
  switch (format) {
    case 'text':
      try { return { ok: true, text: dec.decode(bytes) }; } catch { return { ok: false, text: 'not UTF-8 text — shown as hex: ' + hex(bytes) }; }
    case 'json':
      try { return { ok: true, text: JSON.stringify(JSON.parse(dec.decode(bytes)), null, 2) }; } catch { return { ok: false, text: 'not JSON' }; }
    case 'hex':
      return { ok: true, text: hex(bytes, ' ') };
    case 'base64': {
      let bin = '';
      for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
      return { ok: true, text: btoa(bin) };
    }
  }
  return { ok: false, text: '' };
}

export function hex(bytes, sep = '') {
  let out = '';
  for (let i = 0; i < bytes.length; i++) out += (i && sep ? sep : '') + bytes[i].toString(16).padStart(2, '0');
  return out;
}

// guess picks the form a payload reads best in.
export function guess(bytes) {
  const t = show(bytes, 'text');
  if (!t.ok) return 'hex';
  const s = t.text.trim();
  if ((s.startsWith('{') || s.startsWith('[')) && show(bytes, 'json').ok) return 'json';
  return /[\x00-\x08\x0e-\x1f]/.test(t.text) ? 'hex' : 'text';
}

export function fromBase64(b64) {
  const bin = atob(b64 || '');
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}
