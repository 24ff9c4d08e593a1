import { api, can } from '../api.js';
import { add, badge, clear, h } from '../dom.js';
import { drawDefinition } from '../diagram.js';
import { drawTimeline } from '../timeline.js';
import { formatDuration, timeEl } from '../time.js';
import { confirmAction, describe, every, section } from '../ui.js';

const TERMINAL = ['Completed', 'Compensated', 'Failed', 'Cancelled'];

/** One saga: summary, actions, definition with the current position, timeline, steps, history and data. */
export async function renderSaga(main, id) {
  const root = h('div', { class: 'saga-page', 'data-testid': 'saga-page' });
  main.append(h('p', { class: 'crumbs' }, h('a', { href: '#/sagas' }, '← Sagas')), root);
  let definition = null;
  let lastStamp = null;

  async function load(force) {
    const [saga, history] = await Promise.all([api.saga(id), api.history(id)]);
    const stamp = `${saga.updatedAt}|${history.length}`;
    if (!force && stamp === lastStamp) return saga;
    lastStamp = stamp;
    if (!definition || definition.name !== saga.definition || definition.version !== saga.version) {
      definition = await api.definition(saga.definition, saga.version).catch(() => null);
    }
    render(saga, history);
    return saga;
  }

  function render(saga, history) {
    add(clear(root),
      h('div', { class: 'saga-head' },
        h('h1', null, 'Saga ', h('span', { class: 'mono' }, saga.sagaId)),
        badge(saga.state)),
      summary(saga),
      actions(saga),
      section('Definition and current position',
        definition ? drawDefinition(definition, saga) : h('p', { class: 'muted' }, `Definition ${saga.definition} v${saga.version} is not available.`)),
      section('Timeline', drawTimeline(definition, saga, history)),
      section('Steps', stepsTable(saga)),
      section(`History (${history.length} entries)`, historyTable(history)),
      section('Data', h('pre', { class: 'data' }, JSON.stringify(saga.data, null, 2))));
  }

  function actions(saga) {
    if (!can.operate()) return null; // a Reader sees no controls (and the server would refuse them: 403)
    const buttons = [];
    const failedComps = saga.steps.filter((st) => st.status === 'CompensationFailed');
    const retryable = saga.state === 'Failed' || failedComps.length > 0 || saga.steps.some((st) => st.status === 'RetryScheduled' || st.status === 'CompensationRetryScheduled');
    for (const st of failedComps) {
      buttons.push(h('button', {
        type: 'button', class: 'primary', 'data-action': 'retry', 'data-step': st.name,
        onclick: () => act({ title: `Retry the compensation of ${st.name}?`, text: `Sends the compensation of ${st.name} again (attempt ${st.compensationAttempts + 1}).`, confirmLabel: 'Retry', action: (r) => api.retry(id, r, st.name) }),
      }, `Retry compensation of ${st.name}`));
      if (can.admin()) {
        buttons.push(h('button', {
          type: 'button', class: 'danger', 'data-action': 'skip', 'data-step': st.name,
          onclick: () => act({ title: `Skip the compensation of ${st.name}?`, text: `Marks ${st.name} as compensated without undoing it. Only do this after fixing it by hand.`, confirmLabel: 'Skip', action: (r) => api.skip(id, st.name, r) }),
        }, `Skip compensation of ${st.name}`));
      }
    }
    if (retryable && failedComps.length === 0) {
      buttons.push(h('button', {
        type: 'button', class: 'primary', 'data-action': 'retry',
        onclick: () => act({ title: 'Retry this saga?', text: 'Retries the failed step or the waiting retry now.', confirmLabel: 'Retry', action: (r) => api.retry(id, r) }),
      }, 'Retry'));
    }
    if (!TERMINAL.includes(saga.state)) {
      buttons.push(h('button', {
        type: 'button', class: 'danger', 'data-action': 'cancel',
        onclick: () => act({ title: 'Cancel this saga?', text: 'Stops the saga and compensates every step that ran.', confirmLabel: 'Cancel saga', action: (r) => api.cancel(id, r) }),
      }, 'Cancel saga'));
    }
    return buttons.length ? h('div', { class: 'actions', 'data-testid': 'actions' }, buttons) : null;
  }

  async function act(options) {
    if (await confirmAction(options)) await load(true);
  }

  await load(true);
  const stop = every(3000, async () => {
    try { await load(false); } catch (e) { /* keep the last view */ }
  });
  return { dispose: stop };
}

function summary(saga) {
  const rows = [
    ['Definition', h('a', { href: '#/definitions' }, `${saga.definition} v${saga.version}`)],
    ['Business key', saga.businessKey ?? '—'],
    ['Tenant', saga.tenant ?? '—'],
    ['Created', timeEl(saga.createdAt)],
    ['Updated', timeEl(saga.updatedAt)],
    ['Completed', timeEl(saga.completedAt)],
    ['Duration', saga.completedAt ? formatDuration(Date.parse(saga.completedAt) - Date.parse(saga.createdAt)) : 'still running'],
    ['Next wake-up', timeEl(saga.nextWakeAt)],
  ];
  return h('div', { class: 'card summary' },
    h('dl', null, rows.map(([k, v]) => [h('dt', null, k), h('dd', null, v)])),
    saga.reason ? h('p', { class: 'reason-line', 'data-testid': 'reason' }, h('strong', null, 'Reason: '), saga.reason) : null);
}

function stepsTable(saga) {
  return h('table', { class: 'list', 'data-testid': 'steps' },
    h('thead', null, h('tr', null, ['Step', 'Status', 'Attempts', 'Comp. attempts', 'Started', 'Finished', 'Duration', 'Compensated', 'Last error'].map((t) => h('th', null, t)))),
    h('tbody', null, saga.steps.map((st) => h('tr', { 'data-step': st.name },
      h('td', null, st.name),
      h('td', null, h('span', { class: `pill ss-${st.status.toLowerCase()}` }, st.status)),
      h('td', { class: 'num' }, st.attempts),
      h('td', { class: 'num' }, st.compensationAttempts),
      h('td', null, timeEl(st.startedAt)),
      h('td', null, timeEl(st.finishedAt)),
      h('td', { class: 'num' }, st.startedAt && st.finishedAt ? formatDuration(Date.parse(st.finishedAt) - Date.parse(st.startedAt)) : '—'),
      h('td', null, timeEl(st.compensatedAt)),
      h('td', { class: 'reason', title: st.lastError ?? '' }, st.lastError ?? '')))));
}

function historyTable(history) {
  return h('table', { class: 'list history', 'data-testid': 'history' },
    h('thead', null, h('tr', null, ['#', 'Time', 'Type', 'Step', 'Attempt', 'Detail', 'Actor'].map((t) => h('th', null, t)))),
    h('tbody', null, history.map((e) => h('tr', { class: `ht-${kindOf(e.type)}` },
      h('td', { class: 'num' }, e.sequence),
      h('td', null, timeEl(e.time)),
      h('td', null, e.type),
      h('td', null, e.step ?? ''),
      h('td', { class: 'num' }, e.attempt ?? ''),
      h('td', { class: 'detail' }, e.detail ?? ''),
      h('td', null, e.actor ?? '')))));
}

function kindOf(type) {
  if (/Failed|TimedOut/.test(type)) return 'bad';
  if (/Compensat|Cancel|Skipped/.test(type)) return 'comp';
  if (/Succeeded|Completed|Consumed/.test(type)) return 'good';
  if (/Requested|Paused|Resumed|Deadline|Signal/.test(type)) return 'op';
  return 'plain';
}
