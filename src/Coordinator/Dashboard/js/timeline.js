import { h, s } from './dom.js';
import { formatAbsolute, formatDuration } from './time.js';

const LABEL_W = 250;
const CHART_W = 700;
const LANE_H = 20;
const ROW_H = 2 * LANE_H + 18;
const TOP = 30;

const FORWARD_END = { StepSucceeded: 'succeeded', StepFailed: 'failed', StepTimedOut: 'timedout', StepRetryScheduled: null };
const COMP_END = { StepCompensated: 'compensated', CompensationFailed: 'failed', CompensationTimedOut: 'timedout', CompensationSkipped: 'skipped' };

/** Attempts of one step from the history: [{attempt, start, end, outcome, detail}] for actions and compensations. */
export function attemptsOf(stepName, history, now) {
  const forward = [];
  const compensation = [];
  for (const e of history) {
    if (e.step !== stepName) continue;
    const t = Date.parse(e.time);
    if (e.type === 'StepCommandSent' || e.type === 'WaitStarted') {
      forward.push({ attempt: e.attempt ?? 1, start: t, end: null, outcome: 'running', wait: e.type === 'WaitStarted' });
    } else if (e.type === 'CompensationCommandSent') {
      compensation.push({ attempt: e.attempt ?? 1, start: t, end: null, outcome: 'running' });
    } else if (e.type in FORWARD_END || e.type === 'SignalConsumed' || e.type === 'WaitTimedOut') {
      const open = [...forward].reverse().find((a) => a.end === null);
      if (open) {
        open.end = t;
        open.outcome = e.type === 'SignalConsumed' ? 'succeeded' : e.type === 'WaitTimedOut' ? 'timedout' : (FORWARD_END[e.type] ?? 'failed');
        open.detail = e.detail;
      }
    } else if (e.type in COMP_END) {
      const open = [...compensation].reverse().find((a) => a.end === null);
      if (open) {
        open.end = t;
        open.outcome = COMP_END[e.type];
        open.detail = e.detail;
      } else if (e.type === 'CompensationSkipped') {
        compensation.push({ attempt: e.attempt ?? 0, start: t, end: t, outcome: 'skipped', detail: e.detail });
      }
    }
  }
  for (const a of [...forward, ...compensation]) if (a.end === null) a.end = now;
  return { forward, compensation };
}

/**
 * The saga's steps on a time axis: each step's action attempts on its upper lane, its compensation attempts
 * on the lane beneath, so the rollback is read against the forward work it undoes.
 */
export function drawTimeline(definition, saga, history) {
  const terminal = ['Completed', 'Compensated', 'Failed', 'Cancelled'].includes(saga.state);
  const last = history.length ? Date.parse(history[history.length - 1].time) : Date.parse(saga.updatedAt);
  const t0 = Date.parse(saga.createdAt);
  const now = terminal ? last : Math.max(Date.now(), last);
  const span = Math.max(now - t0, 1);
  const x = (t) => LABEL_W + ((t - t0) / span) * CHART_W;
  const steps = definition?.steps ?? saga.steps.map((st) => ({ name: st.name }));
  const height = TOP + steps.length * ROW_H + 8;
  const width = LABEL_W + CHART_W + 20;

  const svg = s('svg', { class: 'timeline', viewBox: `0 0 ${width} ${height}`, width, height, role: 'img', 'aria-label': 'Step timeline', 'data-testid': 'timeline' });

  // Axis: offsets from the start, five ticks.
  for (let i = 0; i <= 4; i++) {
    const tx = LABEL_W + (CHART_W * i) / 4;
    svg.append(s('line', { x1: tx, y1: TOP - 8, x2: tx, y2: height - 6, class: 'grid' }),
      s('text', { x: tx, y: TOP - 14, class: 'axis', 'text-anchor': i === 0 ? 'start' : i === 4 ? 'end' : 'middle' },
        i === 0 ? 'start' : `+${formatDuration((span * i) / 4)}`));
  }

  const rollback = history.find((e) => e.type === 'CompensationStarted');
  if (rollback) {
    const rx = x(Date.parse(rollback.time));
    svg.append(s('line', { x1: rx, y1: TOP - 6, x2: rx, y2: height - 6, class: 'rollback-line' },
      s('title', null, `Compensation started ${formatAbsolute(rollback.time)}: ${rollback.detail ?? ''}`)));
  }

  const stateByName = new Map(saga.steps.map((st) => [st.name, st]));
  steps.forEach((def, i) => {
    const y = TOP + i * ROW_H;
    const st = stateByName.get(def.name);
    const { forward, compensation } = attemptsOf(def.name, history, now);
    const g = s('g', { class: 'tl-row', 'data-step': def.name });
    if (i % 2 === 1) g.append(s('rect', { x: 0, y: y - 4, width, height: ROW_H, class: 'zebra' }));

    const fwdMs = forward.length ? forward[forward.length - 1].end - forward[0].start : null;
    g.append(s('text', { x: 8, y: y + 13, class: 'tl-name' }, def.name));
    g.append(s('text', { x: 8, y: y + 13 + LANE_H, class: 'tl-sub' },
      st ? `${st.status} · ${plural(st.attempts, 'attempt')} · ${formatDuration(fwdMs)}` : 'not started'));
    if (compensation.length) {
      const c = compensation;
      const compMs = c[c.length - 1].end - c[0].start;
      g.append(s('text', { x: 8, y: y + 13 + 2 * LANE_H - 4, class: 'tl-sub comp' },
        `↩ ${def.compensation ?? 'compensation'} · ${plural(c.length, 'attempt')} · ${formatDuration(compMs)}`));
    }

    for (const a of forward) g.append(bar(a, x, y, 'action', def.name));
    for (const a of compensation) g.append(bar(a, x, y + LANE_H, 'compensation', def.name));
    svg.append(g);
  });
  return h('div', { class: 'timeline-wrap' }, svg,
    h('p', { class: 'legend small' },
      legend('succeeded', 'succeeded'), legend('failed', 'failed'), legend('timedout', 'timed out'), legend('running', 'in flight'),
      legend('compensated', 'compensated (lower lane)'), legend('skipped', 'skipped'),
      rollback ? h('span', { class: 'key' }, h('span', { class: 'swatch rollback' }), 'rollback began') : null));
}

function bar(a, x, y, kind, step) {
  const x1 = x(a.start);
  const w = Math.max(x(a.end) - x1, 4);
  const label = `${kind === 'action' ? 'Attempt' : 'Compensation attempt'} ${a.attempt}: ${a.outcome}, ${formatDuration(a.end - a.start)}`
    + `\n${formatAbsolute(new Date(a.start).toISOString())}${a.detail ? `\n${a.detail}` : ''}`;
  return s('rect', {
    x: x1, y: y + 2, width: w, height: LANE_H - 6, rx: 3,
    class: `bar ${kind} o-${a.outcome}`, 'data-kind': kind, 'data-step': step, 'data-outcome': a.outcome, 'data-attempt': a.attempt,
  }, s('title', null, label));
}

function legend(cls, text) {
  return h('span', { class: 'key' }, h('span', { class: `swatch o-${cls}` }), text);
}

function plural(n, word) {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}
