import { h, s } from './dom.js';

const BOX_W = 190;
const BOX_H = 80;
const GAP_X = 44;
const GAP_Y = 22;
const PAD = 14;

/** Consecutive steps with the same group run at once: one stage each; other steps are a stage of their own. */
export function stages(definition) {
  const result = [];
  for (const step of definition.steps) {
    const last = result[result.length - 1];
    if (step.group && last && last.group === step.group) last.steps.push(step);
    else result.push({ group: step.group ?? null, steps: [step] });
  }
  return result;
}

/**
 * The definition as an SVG diagram, left to right; parallel steps stacked in one column inside a group frame,
 * wait steps dashed with their signal. With `saga`, every box is coloured by its step's status and the current
 * position is marked.
 */
export function drawDefinition(definition, saga) {
  const all = stages(definition);
  const rows = Math.max(...all.map((st) => st.steps.length));
  const height = PAD * 2 + rows * BOX_H + (rows - 1) * GAP_Y + 22 + 10;
  const width = PAD * 2 + all.length * BOX_W + (all.length - 1) * GAP_X;
  const statusOf = new Map((saga?.steps ?? []).map((st) => [st.name, st]));
  const current = saga ? currentSteps(definition, saga) : new Set();

  const svg = s('svg', {
    class: 'diagram', viewBox: `0 0 ${width} ${height}`, width, height, role: 'img',
    'aria-label': `Definition ${definition.name} version ${definition.version}`, 'data-testid': 'definition-diagram',
  });
  svg.append(s('defs', null, s('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto' },
    s('path', { d: 'M0,0 L10,5 L0,10 z', class: 'arrowhead' }))));

  const centreY = PAD + 22 + (rows * BOX_H + (rows - 1) * GAP_Y) / 2;
  all.forEach((stage, i) => {
    const x = PAD + i * (BOX_W + GAP_X);
    const stackH = stage.steps.length * BOX_H + (stage.steps.length - 1) * GAP_Y;
    const top = centreY - stackH / 2;
    if (stage.steps.length > 1 || stage.group) {
      svg.append(s('rect', { x: x - 6, y: top - 20, width: BOX_W + 12, height: stackH + 26, rx: 8, class: 'group-frame' }),
        s('text', { x: x, y: top - 7, class: 'group-label' }, `parallel: ${stage.group}`));
    }
    stage.steps.forEach((step, j) => {
      const y = top + j * (BOX_H + GAP_Y);
      svg.append(box(step, x, y, statusOf.get(step.name), current.has(step.name)));
    });
    if (i > 0) {
      const fromX = x - GAP_X + 2;
      svg.append(s('line', { x1: fromX, y1: centreY, x2: x - 8, y2: centreY, class: 'edge', 'marker-end': 'url(#arrow)' }));
    }
  });
  return h('div', { class: 'diagram-wrap' }, svg);
}

function box(step, x, y, state, isCurrent) {
  const wait = Boolean(step.waitFor);
  const status = state?.status ?? 'Pending';
  const g = s('g', {
    class: `step-box ss-${status.toLowerCase()}${wait ? ' wait' : ''}${isCurrent ? ' current' : ''}`,
    'data-step': step.name, 'data-status': status, 'data-current': isCurrent ? 'true' : null,
  });
  g.append(s('title', null, tooltip(step, state)));
  g.append(s('rect', { x, y, width: BOX_W, height: BOX_H, rx: 6 }));
  g.append(s('text', { x: x + 10, y: y + 19, class: 'name' }, clip(step.name, 22)));
  const line2 = wait ? `WAIT for signal '${step.waitFor}'` : `${step.participant} · ${step.action}`;
  g.append(s('text', { x: x + 10, y: y + 37, class: 'detail' }, clip(line2, 28)));
  const line3 = wait ? `timeout ${step.timeout ?? ''}`
    : step.compensation ? `↩ ${step.compensation}` : kindLabel(step);
  g.append(s('text', { x: x + 10, y: y + 54, class: 'detail comp' }, clip(line3, 28)));
  if (state) g.append(s('text', { x: x + 10, y: y + 72, class: 'status' }, shortStatus(status)));
  if (isCurrent) {
    g.append(s('text', { x: x + BOX_W / 2, y: y + BOX_H + 13, class: 'here', 'text-anchor': 'middle' }, '▲ current'));
  }
  return g;
}

function kindLabel(step) {
  if (step.kind === 'Pivot') return 'pivot: no compensation';
  if (step.kind === 'Retriable') return 'retried until done';
  return 'no compensation';
}

function tooltip(step, state) {
  const lines = [step.name];
  if (step.waitFor) lines.push(`waits for signal '${step.waitFor}'`);
  else lines.push(`${step.participant}.${step.action}${step.compensation ? `, compensation ${step.compensation}` : ''}`);
  if (step.timeout) lines.push(`timeout ${step.timeout}`);
  if (state) lines.push(`status ${state.status}, attempts ${state.attempts}, compensation attempts ${state.compensationAttempts}`);
  if (state?.lastError) lines.push(`last error: ${state.lastError}`);
  return lines.join('\n');
}

function shortStatus(status) {
  return { CompensationFailed: 'comp. failed', CompensationRetryScheduled: 'comp. retry', CompensationSkipped: 'comp. skipped', RetryScheduled: 'retry due' }[status] ?? status;
}

function clip(text, n) {
  return text.length > n ? `${text.slice(0, n - 1)}…` : text;
}

/** Where the saga is: the steps in flight, or, when it has ended, the step it ended on. */
export function currentSteps(definition, saga) {
  const active = ['Running', 'RetryScheduled', 'Waiting', 'Compensating', 'CompensationRetryScheduled', 'CompensationFailed'];
  const names = saga.steps.filter((st) => active.includes(st.status)).map((st) => st.name);
  if (names.length > 0) return new Set(names);
  const failed = saga.steps.find((st) => st.status === 'Failed' || st.status === 'TimedOut');
  if (failed) return new Set([failed.name]);
  const started = saga.steps.filter((st) => st.status !== 'Pending');
  return new Set(started.length ? [started[started.length - 1].name] : [definition.steps[0]?.name]);
}
