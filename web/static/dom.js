// DOM helpers. Everything on the page is built with createElement and
// textContent: the Content-Security-Policy enforces Trusted Types with no
// policy, so assigning a string to innerHTML would throw.

/**
 * h builds an element. props: class, text, on* listeners, a few properties
 * (value, checked, disabled, hidden, type, htmlFor…) and any other key as an
 * attribute; false and null leave it out. Children may be strings, nodes,
 * arrays or null.
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v === false || v === null || v === undefined) continue;
    if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = v;
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k in PROPS) el[PROPS[k]] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

const PROPS = { value: 'value', checked: 'checked', disabled: 'disabled', hidden: 'hidden', htmlFor: 'htmlFor' };

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c);
  }
}

/** replace empties el and fills it with children. */
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
}

let uid = 0;
/** id returns an id unique on the page, for label and aria references. */
export function id(prefix) {
  uid += 1;
  return `${prefix}-${uid}`;
}

/**
 * field is a label and its input, stacked. The label's text is the input's
 * accessible name.
 */
export function field(label, input) {
  input.id ||= id('f');
  return h('div', { class: 'field' }, h('label', { htmlFor: input.id, text: label }), input);
}

/**
 * alertBox is an element with role="alert" that exists before any message,
 * so that screen readers announce the text set into it later.
 */
export function alertBox() {
  const el = h('p', { role: 'alert', class: 'alert', hidden: true });
  return {
    el,
    show(text) {
      el.textContent = text;
      el.hidden = !text;
    },
    clear() {
      el.textContent = '';
      el.hidden = true;
    },
  };
}

/**
 * busy runs fn for a form unless it is already running for it: a second
 * submit while the first is on its way is dropped. The controls stay enabled
 * (disabling the focused one would throw the keyboard user's focus away).
 */
export async function busy(form, fn) {
  if (form.getAttribute('aria-busy') === 'true') return undefined;
  form.setAttribute('aria-busy', 'true');
  try {
    return await fn();
  } finally {
    form.removeAttribute('aria-busy');
  }
}
