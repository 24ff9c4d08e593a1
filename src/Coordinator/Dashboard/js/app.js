import { api, learnRole, session, whenUnauthorized } from './api.js';
import { clear, h } from './dom.js';
import { zone } from './time.js';
import { renderSagas } from './pages/sagas.js';
import { renderSaga } from './pages/saga.js';
import { renderCompensations } from './pages/compensations.js';
import { renderDefinitions } from './pages/definitions.js';

const main = document.getElementById('main');
const signin = document.getElementById('signin');
let current = null; // { dispose() } of the page on screen

const routes = [
  [/^#\/sagas$/, 'sagas', (m, q) => renderSagas(main, q)],
  [/^#\/sagas\/([0-9a-fA-F-]{36})$/, 'sagas', (m) => renderSaga(main, m[1])],
  [/^#\/compensations$/, 'compensations', (m, q) => renderCompensations(main, q)],
  [/^#\/definitions$/, 'definitions', () => renderDefinitions(main)],
];

async function route() {
  current?.dispose?.();
  current = null;
  if (!session.key || !session.role) {
    showSignIn();
    return;
  }
  const [path, search] = (location.hash || '#/sagas').split('?');
  const match = routes.find(([re]) => re.test(path));
  if (!match) {
    location.hash = '#/sagas';
    return;
  }
  const [re, page, render] = match;
  for (const a of document.querySelectorAll('#nav a')) a.classList.toggle('active', a.dataset.page === page);
  clear(main);
  main.hidden = false;
  try {
    current = await render(path.match(re), new URLSearchParams(search ?? ''));
  } catch (e) {
    main.append(h('p', { class: 'error', role: 'alert' }, `Could not load this page: ${e.message}`));
  }
}

function showSignIn(message) {
  main.hidden = true;
  document.getElementById('nav').hidden = true;
  document.getElementById('who').hidden = true;
  signin.hidden = false;
  document.getElementById('signin-error').textContent = message ?? '';
  document.getElementById('api-key').focus();
}

function showSignedIn() {
  signin.hidden = true;
  document.getElementById('nav').hidden = false;
  document.getElementById('who').hidden = false;
  const badge = document.getElementById('role-badge');
  badge.textContent = session.role;
  badge.className = `role role-${session.role.toLowerCase()}`;
  document.getElementById('tz').textContent = `Times in ${zone}`;
  document.body.dataset.role = session.role;
}

async function signIn(key) {
  const role = await learnRole(key);
  if (!role) {
    session.key = null;
    showSignIn('That key was refused (401). Check it and try again.');
    return false;
  }
  session.key = key;
  session.role = role;
  showSignedIn();
  return true;
}

document.getElementById('signin-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const input = document.getElementById('api-key');
  try {
    if (await signIn(input.value.trim())) {
      input.value = '';
      if (!location.hash || location.hash === '#/') location.hash = '#/sagas';
      else await route();
    }
  } catch (err) {
    showSignIn(`Sign-in failed: ${err.message}`);
  }
});

document.getElementById('sign-out').addEventListener('click', () => {
  session.key = null;
  session.role = null;
  current?.dispose?.();
  current = null;
  delete document.body.dataset.role;
  showSignIn('Signed out.');
});

whenUnauthorized(() => {
  session.key = null;
  session.role = null;
  current?.dispose?.();
  current = null;
  showSignIn('The key is no longer accepted (401). Sign in again.');
});

window.addEventListener('hashchange', route);

(async () => {
  if (session.key) {
    try {
      await signIn(session.key);
    } catch (err) {
      showSignIn(`Sign-in failed: ${err.message}`);
      return;
    }
  }
  await route();
})();

export { api };
