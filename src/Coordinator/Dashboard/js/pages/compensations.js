import { api, can } from '../api.js';
import { clear, h } from '../dom.js';
import { formatDuration, timeEl } from '../time.js';
import { confirmAction, describe, every, section, shortId } from '../ui.js';

const THRESHOLDS = [['0', 'all pending'], ['60000', 'pending over 1 min'], ['300000', 'pending over 5 min'], ['3600000', 'pending over 1 h']];

/** Compensations needing attention: failed ones, and pending ones older than a threshold. */
export async function renderCompensations(main, params) {
  let threshold = Number(params.get('olderThan') ?? '60000');
  const failedBody = h('tbody');
  const pendingBody = h('tbody');
  const error = h('p', { class: 'error', role: 'alert' });
  const status = h('span', { class: 'muted small' });
  const select = h('select', { id: 'f-threshold', onchange: (e) => { threshold = Number(e.target.value); load(); } },
    THRESHOLDS.map(([v, t]) => h('option', { value: v, selected: Number(v) === threshold }, t)));

  main.append(
    h('h1', null, 'Compensations needing attention'),
    h('p', { class: 'muted' }, 'A failed compensation leaves a saga Failed until it is retried (after fixing the cause) or skipped (after undoing the step by hand). ',
      can.operate() ? '' : 'You are signed in as a Reader: actions are not available.'),
    error,
    section('Failed compensations', table('failed', failedBody)),
    section('Long-pending compensations', h('div', { class: 'list-head' }, h('label', { class: 'inline' }, 'Show ', select), status), table('pending', pendingBody)));

  async function load() {
    try {
      const [failed, pending] = await Promise.all([
        api.compensations({ outcome: 'failed', limit: 100 }),
        api.compensations({ outcome: 'pending', limit: 100 }),
      ]);
      rows(failedBody, failed.items, 'failed');
      const now = Date.now();
      rows(pendingBody, pending.items.filter((c) => now - Date.parse(c.startedAt) >= threshold), 'pending');
      status.textContent = `Updated ${new Date().toLocaleTimeString()}`;
      error.textContent = '';
    } catch (e) {
      error.textContent = describe(e);
    }
  }

  function rows(body, items, kind) {
    clear(body);
    if (items.length === 0) {
      body.append(h('tr', null, h('td', { colspan: 9, class: 'muted' }, kind === 'failed' ? 'No failed compensation.' : 'No compensation pending that long.')));
      return;
    }
    for (const c of items) {
      body.append(h('tr', { 'data-saga': c.sagaId, 'data-step': c.step },
        h('td', null, h('a', { href: `#/sagas/${c.sagaId}`, class: 'mono', title: c.sagaId }, shortId(c.sagaId))),
        h('td', null, c.step),
        h('td', null, `${c.definition} v${c.version}`),
        h('td', null, c.trigger),
        h('td', { class: 'num' }, c.attempts),
        h('td', { class: 'reason', title: c.lastError ?? '' }, c.lastError ?? ''),
        h('td', null, timeEl(c.startedAt), h('div', { class: 'small muted' }, `open ${formatDuration((c.completedAt ? Date.parse(c.completedAt) : Date.now()) - Date.parse(c.startedAt))}`)),
        h('td', null, timeEl(c.updatedAt)),
        h('td', { class: 'row-actions' }, actionButtons(c, kind))));
    }
  }

  function actionButtons(c, kind) {
    if (!can.operate()) return null;
    const out = [h('button', {
      type: 'button', class: 'primary small', 'data-action': 'retry',
      onclick: () => act({ title: `Retry the compensation of ${c.step}?`, text: `Saga ${c.sagaId}: sends the compensation of ${c.step} again.`, confirmLabel: 'Retry', action: (r) => api.retry(c.sagaId, r, c.step) }),
    }, 'Retry')];
    if (kind === 'failed' && can.admin()) {
      out.push(h('button', {
        type: 'button', class: 'danger small', 'data-action': 'skip',
        onclick: () => act({ title: `Skip the compensation of ${c.step}?`, text: `Saga ${c.sagaId}: marks ${c.step} as compensated without undoing it. Only after undoing it by hand.`, confirmLabel: 'Skip', action: (r) => api.skip(c.sagaId, c.step, r) }),
      }, 'Skip'));
    }
    if (kind === 'pending') {
      out.push(h('button', {
        type: 'button', class: 'danger small', 'data-action': 'cancel',
        onclick: () => act({ title: 'Cancel this saga?', text: `Saga ${c.sagaId}: stops it and compensates what ran.`, confirmLabel: 'Cancel saga', action: (r) => api.cancel(c.sagaId, r) }),
      }, 'Cancel'));
    }
    return out;
  }

  async function act(options) {
    if (await confirmAction(options)) await load();
  }

  await load();
  return { dispose: every(5000, load) };
}

function table(kind, body) {
  return h('table', { class: 'list', 'data-testid': `compensations-${kind}` },
    h('thead', null, h('tr', null, ['Saga', 'Step', 'Definition', 'Trigger', 'Attempts', 'Last error', 'Started', 'Updated', ''].map((t) => h('th', null, t)))),
    body);
}
