import { ApiError } from './api.js';
import { h } from './dom.js';

const toastEl = () => document.getElementById('toast');
let toastTimer;

export function toast(message, kind = 'ok') {
  const t = toastEl();
  t.textContent = message;
  t.className = `toast ${kind}`;
  t.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { t.hidden = true; }, kind === 'ok' ? 4000 : 9000);
}

/**
 * Asks for confirmation and a reason, then runs action(reason). Resolves to true when the action succeeded.
 * The dialog stays open with the server's message when the action is refused.
 */
export function confirmAction({ title, text, confirmLabel, action }) {
  const dialog = document.getElementById('confirm');
  const form = document.getElementById('confirm-form');
  const reason = document.getElementById('confirm-reason');
  const error = document.getElementById('confirm-error');
  const ok = document.getElementById('confirm-ok');
  document.getElementById('confirm-title').textContent = title;
  document.getElementById('confirm-text').textContent = text;
  ok.textContent = confirmLabel;
  reason.value = '';
  error.textContent = '';
  dialog.showModal();
  reason.focus();

  return new Promise((resolve) => {
    const done = (result) => {
      form.removeEventListener('submit', submit);
      document.getElementById('confirm-cancel').removeEventListener('click', back);
      dialog.removeEventListener('cancel', back);
      if (dialog.open) dialog.close();
      resolve(result);
    };
    const back = (e) => { e?.preventDefault(); done(false); };
    const submit = async (e) => {
      e.preventDefault();
      if (!reason.value.trim()) {
        error.textContent = 'A reason is required.';
        return;
      }
      ok.disabled = true;
      try {
        await action(reason.value.trim());
        toast(`${confirmLabel}: done`);
        done(true);
      } catch (err) {
        error.textContent = describe(err);
      } finally {
        ok.disabled = false;
      }
    };
    form.addEventListener('submit', submit);
    document.getElementById('confirm-cancel').addEventListener('click', back);
    dialog.addEventListener('cancel', back);
  });
}

export function describe(err) {
  if (err instanceof ApiError) {
    const what = { 403: 'Not allowed for your role', 404: 'Not found', 409: 'Refused', 400: 'Invalid' }[err.status] ?? `HTTP ${err.status}`;
    return `${what}: ${err.message}`;
  }
  return err.message;
}

/** Re-runs fn every `ms` while the page is shown and the tab visible; returns a dispose function. */
export function every(ms, fn) {
  let stopped = false;
  let timer;
  const tick = async () => {
    if (stopped) return;
    if (document.visibilityState === 'visible' && !document.querySelector('dialog[open]')) {
      try { await fn(); } catch { /* shown by the page */ }
    }
    if (!stopped) timer = setTimeout(tick, ms);
  };
  timer = setTimeout(tick, ms);
  return () => { stopped = true; clearTimeout(timer); };
}

export function section(title, ...children) {
  return h('section', { class: 'card' }, h('h2', null, title), ...children);
}

export function shortId(id) {
  return id.slice(0, 8);
}
