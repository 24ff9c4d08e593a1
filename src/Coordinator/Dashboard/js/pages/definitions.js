import { api } from '../api.js';
import { h } from '../dom.js';
import { drawDefinition } from '../diagram.js';

/** Every definition and every version, drawn. */
export async function renderDefinitions(main) {
  const definitions = await api.definitions();
  const byName = new Map();
  for (const d of definitions) byName.set(d.name, [...(byName.get(d.name) ?? []), d]);
  main.append(h('h1', null, 'Definitions'));
  if (byName.size === 0) main.append(h('p', { class: 'muted' }, 'No definition is registered.'));
  for (const [name, versions] of [...byName].sort(([a], [b]) => a.localeCompare(b))) {
    main.append(h('section', { class: 'card', 'data-definition': name },
      h('h2', null, name),
      versions.sort((a, b) => b.version - a.version).map((d) => h('div', { class: 'version', 'data-version': d.version },
        h('h3', null, `Version ${d.version}`, d.deadline ? h('span', { class: 'muted small' }, ` · deadline ${d.deadline}`) : null),
        d.description ? h('p', { class: 'muted' }, d.description) : null,
        drawDefinition(d)))));
  }
  return null;
}
