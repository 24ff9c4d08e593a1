// Tiny DOM helpers: everything is built with text nodes, never parsed HTML, so data cannot inject markup.

const SVG_NS = 'http://www.w3.org/2000/svg';

/** h('a', {href: '#', class: 'x', dataset: {id: 1}, onclick: fn}, 'text', child, [more]) */
export function h(tag, attrs, ...children) {
  return build(document.createElement(tag), attrs, children);
}

/** The same for SVG elements. */
export function s(tag, attrs, ...children) {
  return build(document.createElementNS(SVG_NS, tag), attrs, children);
}

function build(el, attrs, children) {
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function clear(el) {
  el.replaceChildren();
  return el;
}

export const STATES = ['Running', 'Compensating', 'Paused', 'Completed', 'Compensated', 'Failed', 'Cancelled'];

/** A coloured state badge; the colour comes from the class, the text always says the state. */
export function badge(state) {
  return h('span', { class: `badge st-${String(state).toLowerCase()}`, 'data-testid': 'state' }, state);
}

/** el.append for nested arrays and optional children (null/false are left out). */
export function add(el, ...children) {
  append(el, children);
  return el;
}
