import { api } from '../api.js';
import { add, badge, clear, h, STATES } from '../dom.js';
import { isoToLocalInput, localInputToIso, timeEl } from '../time.js';
import { every, describe, shortId } from '../ui.js';

const REFRESH_MS = 5000;

/** The sagas page: counts per state, a filtered and paged list, refreshed every few seconds. */
export async function renderSagas(main, params) {
  const filters = {
    state: params.get('state') ?? '',
    definition: params.get('definition') ?? '',
    businessKey: params.get('businessKey') ?? '',
    from: params.get('from') ?? '',
    to: params.get('to') ?? '',
  };
  const cursors = [null]; // cursor of each page seen; the last is the page on screen
  let auto = true;

  const countsEl = h('div', { class: 'counts', 'data-testid': 'counts' });
  const tableBody = h('tbody');
  const status = h('span', { class: 'muted small', 'data-testid': 'refreshed' });
  const error = h('p', { class: 'error', role: 'alert' });
  const prev = h('button', { type: 'button', onclick: () => { cursors.pop(); load(); } }, '← Newer');
  const next = h('button', { type: 'button', 'data-testid': 'next-page', onclick: () => { cursors.push(next.dataset.cursor); load(); } }, 'Older →');
  const pageLabel = h('span', { class: 'muted small' });

  const definitionSelect = h('select', { name: 'definition', id: 'f-definition' }, h('option', { value: '' }, 'any'));
  const form = h('form', { class: 'filters', 'data-testid': 'filters', onsubmit: (e) => { e.preventDefault(); apply(); } },
    field('State', h('select', { name: 'state', id: 'f-state' }, h('option', { value: '' }, 'any'),
      STATES.map((st) => h('option', { value: st, selected: st === filters.state }, st)))),
    field('Definition', definitionSelect),
    field('Business key', h('input', { name: 'businessKey', id: 'f-businessKey', value: filters.businessKey, placeholder: 'exact key' })),
    field('Created from', h('input', { type: 'datetime-local', name: 'from', id: 'f-from', value: isoToLocalInput(filters.from) })),
    field('Created before', h('input', { type: 'datetime-local', name: 'to', id: 'f-to', value: isoToLocalInput(filters.to) })),
    h('div', { class: 'filter-buttons' },
      h('button', { type: 'submit', class: 'primary' }, 'Apply'),
      h('button', { type: 'button', onclick: () => { location.hash = '#/sagas'; } }, 'Clear')));

  main.append(
    h('h1', null, 'Sagas'),
    countsEl,
    h('section', { class: 'card' },
      form,
      h('div', { class: 'list-head' },
        h('label', { class: 'inline' },
          h('input', { type: 'checkbox', checked: true, onchange: (e) => { auto = e.target.checked; } }), ' Auto-refresh every 5 s'),
        status),
      error,
      h('table', { class: 'list', 'data-testid': 'saga-list' },
        h('thead', null, h('tr', null, ['Saga', 'State', 'Definition', 'Business key', 'Created', 'Updated', 'Reason'].map((t) => h('th', null, t)))),
        tableBody),
      h('div', { class: 'pager' }, prev, pageLabel, next)));

  api.definitions().then((defs) => {
    for (const name of [...new Set(defs.map((d) => d.name))].sort()) {
      definitionSelect.append(h('option', { value: name, selected: name === filters.definition }, name));
    }
  }).catch(() => {});

  function apply() {
    const data = new FormData(form);
    const q = new URLSearchParams();
    for (const k of ['state', 'definition', 'businessKey']) if (data.get(k)) q.set(k, String(data.get(k)).trim());
    for (const k of ['from', 'to']) if (data.get(k)) q.set(k, localInputToIso(String(data.get(k))));
    const target = `#/sagas${q.toString() ? `?${q}` : ''}`;
    if (location.hash === target) load(); else location.hash = target;
  }

  async function load() {
    try {
      const cursor = cursors[cursors.length - 1];
      const [counts, page] = await Promise.all([
        api.counts({ definition: filters.definition, from: filters.from, to: filters.to }),
        api.search({ ...filters, limit: 25, cursor }),
      ]);
      renderCounts(counts);
      renderRows(page.items);
      next.disabled = !page.nextCursor;
      next.dataset.cursor = page.nextCursor ?? '';
      prev.disabled = cursors.length === 1;
      pageLabel.textContent = `page ${cursors.length}`;
      status.textContent = `Updated ${new Date().toLocaleTimeString()}`;
      error.textContent = '';
    } catch (e) {
      error.textContent = describe(e);
    }
  }

  function renderCounts(counts) {
    add(clear(countsEl),
      h('a', { class: 'count total', href: '#/sagas' }, h('span', { class: 'n' }, counts.total), h('span', { class: 'label' }, 'Total')),
      STATES.map((st) => h('a', {
        class: `count st-${st.toLowerCase()}${filters.state === st ? ' selected' : ''}`,
        href: `#/sagas?state=${st}`,
        'data-testid': `count-${st}`,
      }, h('span', { class: 'n' }, counts.states?.[st] ?? 0), h('span', { class: 'label' }, st))));
  }

  function renderRows(items) {
    clear(tableBody);
    if (items.length === 0) {
      tableBody.append(h('tr', null, h('td', { colspan: 7, class: 'muted' }, 'No saga matches these filters.')));
      return;
    }
    for (const s of items) {
      tableBody.append(h('tr', { 'data-saga': s.sagaId },
        h('td', null, h('a', { href: `#/sagas/${s.sagaId}`, class: 'mono', title: s.sagaId }, shortId(s.sagaId))),
        h('td', null, badge(s.state)),
        h('td', null, `${s.definition} v${s.version}`),
        h('td', null, s.businessKey ?? h('span', { class: 'muted' }, '—')),
        h('td', null, timeEl(s.createdAt)),
        h('td', null, timeEl(s.updatedAt)),
        h('td', { class: 'reason', title: s.reason ?? '' }, s.reason ?? '')));
    }
  }

  await load();
  const stop = every(REFRESH_MS, () => (auto ? load() : undefined));
  return { dispose: stop };
}

function field(label, control) {
  return h('label', { class: 'field' }, h('span', null, label), control);
}
