// The API reference, rendered from /openapi/json by this same-origin script: no CDN renderer, so
// the page works on a cluster without internet access (and the JSON link works without script).

const main = document.getElementById('reference');
const status = document.getElementById('reference-status');

const METHODS = new Set(['get', 'put', 'post', 'delete', 'patch', 'head', 'options']);

function element(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (className) node.className = className;
  return node;
}

/** A JSON schema in one line: `{ topic: string, event_id: string, … }`, refs by their name. */
function schemaText(schema, depth = 0) {
  if (!schema || typeof schema !== 'object') return 'any';
  if (schema.$ref) return schema.$ref.split('/').at(-1);
  if (depth > 2) return schema.type ?? 'object';
  for (const key of ['anyOf', 'oneOf']) if (schema[key]) return schema[key].map((s) => schemaText(s, depth + 1)).join(' | ');
  if (schema.type === 'array') return `${schemaText(schema.items, depth + 1)}[]`;
  if (schema.properties) {
    const required = new Set(schema.required ?? []);
    const fields = Object.entries(schema.properties).map(([name, s]) => `${name}${required.has(name) ? '' : '?'}: ${schemaText(s, depth + 1)}`);
    return `{ ${fields.join(', ')} }`;
  }
  return schema.type ?? 'any';
}

function operation(method, path, op) {
  const section = element('section', undefined, 'card wide operation');
  const head = element('h2');
  head.append(element('code', method.toUpperCase(), 'method'), ' ', element('code', path));
  section.append(head);
  if (op.summary) section.append(element('p', op.summary));
  if (op.description) section.append(element('p', op.description, 'muted'));
  const list = element('dl', undefined, 'health');
  for (const parameter of op.parameters ?? []) {
    const row = element('div');
    row.append(
      element('dt', `${parameter.name} (${parameter.in}${parameter.required ? ', required' : ''})`),
      element('dd', schemaText(parameter.schema)),
    );
    list.append(row);
  }
  for (const [type, body] of Object.entries(op.requestBody?.content ?? {})) {
    const row = element('div');
    row.append(element('dt', `body ${type}`), element('dd', schemaText(body.schema)));
    list.append(row);
  }
  for (const [code, response] of Object.entries(op.responses ?? {})) {
    const row = element('div');
    row.append(element('dt', `→ ${code}`), element('dd', response.description ?? ''));
    list.append(row);
  }
  if (list.childElementCount > 0) section.append(list);
  return section;
}

try {
  const response = await fetch('/openapi/json', { cache: 'no-store' });
  if (!response.ok) throw new Error(`HTTP ${response.status}: ${(await response.text()).slice(0, 300)}`);
  const spec = await response.json();
  document.title = `${spec.info?.title ?? 'API'} ${spec.info?.version ?? ''}`.trim();
  status.textContent = spec.info?.description ?? '';
  for (const [path, item] of Object.entries(spec.paths ?? {})) {
    for (const [method, op] of Object.entries(item)) {
      if (METHODS.has(method)) main.append(operation(method, path, op));
    }
  }
} catch (error) {
  status.textContent = `Could not load /openapi/json: ${error.message}`;
  status.className = 'error';
}
