// The API client: every call carries the key from session storage. Roles are learned by probing (see learnRole).

const KEY = 'sagas.apiKey';
const NIL = '00000000-0000-0000-0000-000000000000';

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail || problem?.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

export const session = {
  get key() { return sessionStorage.getItem(KEY); },
  set key(v) { if (v) sessionStorage.setItem(KEY, v); else sessionStorage.removeItem(KEY); },
  role: null,
};

let onUnauthorized = () => {};
export function whenUnauthorized(fn) { onUnauthorized = fn; }

async function call(method, path, body, key = session.key) {
  const headers = { 'X-Api-Key': key ?? '', Accept: 'application/json' };
  const init = { method, headers, cache: 'no-store' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  return fetch(path, init);
}

async function json(method, path, body) {
  const response = await call(method, path, body);
  const text = await response.text();
  const data = text ? JSON.parse(text) : null;
  if (!response.ok) {
    if (response.status === 401) onUnauthorized();
    throw new ApiError(response.status, data);
  }
  return data;
}

export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, v);
  const text = q.toString();
  return text ? `?${text}` : '';
}

export const api = {
  counts: (filters = {}) => json('GET', `/api/sagas/counts${query(filters)}`),
  search: (filters) => json('GET', `/api/sagas${query(filters)}`),
  saga: (id) => json('GET', `/api/sagas/${encodeURIComponent(id)}`),
  history: (id) => json('GET', `/api/sagas/${encodeURIComponent(id)}/history`),
  compensations: (filters) => json('GET', `/api/compensations${query(filters)}`),
  definitions: () => json('GET', '/api/definitions'),
  definition: (name, version) => json('GET', `/api/definitions/${encodeURIComponent(name)}/${version}`),
  retry: (id, reason, step) => json('POST', `/api/sagas/${encodeURIComponent(id)}/retry`, step ? { reason, step } : { reason }),
  cancel: (id, reason) => json('POST', `/api/sagas/${encodeURIComponent(id)}/cancel`, { reason }),
  skip: (id, step, reason) => json('POST', `/api/sagas/${encodeURIComponent(id)}/compensations/${encodeURIComponent(step)}/skip`, { reason }),
};

/**
 * Learns the caller's role without any API of its own: a GET any Reader may do, then two operator actions sent
 * with no body on the nil saga id. Authorization runs before the body is read, so 403 means the role is too low
 * and 400 ("reason is required") means it is allowed; nothing is ever applied. Returns null for a bad key.
 */
export async function learnRole(key) {
  const read = await call('GET', '/api/sagas/counts', undefined, key);
  if (read.status === 401) return null;
  if (!read.ok) throw new ApiError(read.status, null);
  const operator = await call('POST', `/api/sagas/${NIL}/cancel`, undefined, key);
  if (operator.status === 403) return 'Reader';
  const admin = await call('POST', `/api/sagas/${NIL}/compensations/-/skip`, undefined, key);
  return admin.status === 403 ? 'Operator' : 'Admin';
}

export const can = {
  operate: () => session.role === 'Operator' || session.role === 'Admin',
  admin: () => session.role === 'Admin',
};
