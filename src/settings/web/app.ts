/**
 * Settings → Configuration: the admins' page, in the browser. Plain TypeScript and the DOM, no
 * framework and no dependency: everything it shows comes from the service's REST API with the
 * signed-in token, under the same roles as any other client.
 *
 * Rules it keeps:
 * - The token lives in this module's memory only (never localStorage or sessionStorage): a reload
 *   signs out.
 * - No control reveals or copies a secret: the list shows `••••••`; editing a secret starts from an
 *   empty field and needs the whole new value. A typed secret leaves the page's memory once it is
 *   sent: the field is emptied and the form removed.
 * - Every text from the API is set with textContent, never parsed as HTML.
 */

type Role = 'admin' | 'org_admin' | 'member' | 'service';
type ConfigType = 'string' | 'int' | 'bool' | 'json' | 'secret';
interface Me {
  id: string;
  name: string;
  role: Role;
  orgId: string | null;
}
interface Org {
  id: string;
  name: string;
}
interface Config {
  scope: string;
  key: string;
  type: ConfigType;
  value: unknown;
  masked: boolean;
  hasValue: boolean;
  description: string | null;
  updatedAt: string;
  updatedBy: string | null;
  /** A secret's: when the scrubber last took it out of a workflow's output (rotate it), and a short HMAC to compare values by. */
  exposedAt?: string | null;
  fingerprint?: string | null;
  source?: 'org' | 'global';
}
interface Page<T> {
  items: T[];
  nextCursor: string | null;
}
interface ApiError {
  statusCode: number;
  code: string;
  message: string;
  details?: { field?: string; rules?: string[] }[];
}
interface AuditEntry {
  at: string;
  actor: { name: string; role: string } | null;
  action: string;
  outcome: string;
  executionId: string | null;
}

const TYPES: ConfigType[] = ['string', 'int', 'bool', 'json', 'secret'];
const MASK = '••••••';
const PAGE_SIZE = 50;

const state: {
  token: string | null;
  me: Me | null;
  orgs: Org[];
  scope: string;
  effective: boolean;
  prefix: string;
  type: string;
  /** Cursors of the pages before the one shown (paging back), and the shown page's own. */
  cursors: (string | null)[];
} = { token: null, me: null, orgs: [], scope: 'global', effective: false, prefix: '', type: '', cursors: [null] };

class RequestFailed extends Error {
  constructor(readonly error: ApiError) {
    super(error.message);
  }
}

async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { Authorization: `Bearer ${state.token ?? ''}` };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: 'no-store' });
  if (res.status === 204) return undefined as T;
  const data = (await res.json().catch(() => null)) as unknown;
  if (!res.ok) {
    const err = (data ?? {}) as Partial<ApiError>;
    throw new RequestFailed({ statusCode: res.status, code: err.code ?? `HTTP_${res.status}`, message: err.message ?? res.statusText, details: err.details });
  }
  return data as T;
}

// ---- DOM helpers ------------------------------------------------------------------------------

type Child = Node | string | null | undefined | false;

function h<K extends keyof HTMLElementTagNameMap>(tag: K, props: Record<string, unknown> = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') el.addEventListener(name.slice(2), value as EventListener);
    else if (name === 'className') el.className = String(value);
    else if (value === true) el.setAttribute(name, '');
    else el.setAttribute(name, String(value));
  }
  for (const child of children) if (child !== null && child !== undefined && child !== false) el.append(typeof child === 'string' ? document.createTextNode(child) : child);
  return el;
}

const app = () => document.getElementById('app')!;
let uid = 0;
const nextId = (base: string) => `${base}-${++uid}`;

/** A labelled field: the label names it for screen readers and tests; its error sits beside it. */
function field(label: string, control: HTMLElement, errorId: string): HTMLElement {
  const id = control.id || nextId('f');
  control.id = id;
  control.setAttribute('aria-describedby', errorId);
  return h('div', { className: 'field' }, h('label', { for: id }, label), control, h('p', { id: errorId, className: 'field-error', role: 'alert' }));
}

function describeError(err: unknown): string {
  if (err instanceof RequestFailed) return `${err.error.message} (${err.error.code})`;
  return 'The service could not be reached';
}

// ---- sign-in ----------------------------------------------------------------------------------

function renderSignIn(message = ''): void {
  const input = h('input', { type: 'password', name: 'token', autocomplete: 'off', required: true, spellcheck: 'false' });
  const form = h(
    'form',
    { className: 'card', 'aria-label': 'Sign in' },
    h('h2', {}, 'Sign in'),
    h('p', {}, 'Paste an API token (bft_…). It is kept in this page’s memory only: reloading the page signs you out.'),
    field('Token', input, 'err-token'),
    h('button', { type: 'submit' }, 'Sign in'),
  );
  form.querySelector('#err-token')!.textContent = message;
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    void signIn(input.value.trim(), input);
  });
  document.getElementById('who')!.textContent = '';
  document.getElementById('sign-out')!.hidden = true;
  app().replaceChildren(form);
  input.focus();
}

async function signIn(token: string, input: HTMLInputElement): Promise<void> {
  state.token = token;
  input.value = '';
  try {
    state.me = await api<Me>('GET', '/api/me');
    state.orgs = (await api<Page<Org>>('GET', '/api/orgs')).items;
  } catch (err) {
    state.token = null;
    state.me = null;
    renderSignIn(describeError(err));
    return;
  }
  state.scope = state.me.role === 'admin' || !state.me.orgId ? 'global' : state.me.orgId;
  document.getElementById('who')!.textContent = `Signed in as ${state.me.name} (${state.me.role})`;
  document.getElementById('sign-out')!.hidden = false;
  await renderConfiguration();
}

function signOut(): void {
  state.token = null;
  state.me = null;
  state.orgs = [];
  renderSignIn();
}

// ---- permissions (the API decides; these only hide what it would refuse) -----------------------

const canWrite = (scope: string) => state.me?.role === 'admin' || (state.me?.role === 'org_admin' && scope === state.me.orgId);
const canReadAudit = () => state.me?.role === 'admin' || state.me?.role === 'org_admin';
const scopeName = (scope: string) => (scope === 'global' ? 'Global' : (state.orgs.find((o) => o.id === scope)?.name ?? scope));

// ---- the configuration list -------------------------------------------------------------------

function shownValue(c: Config): string {
  if (c.type === 'secret') return c.hasValue ? MASK : 'no value';
  if (c.value === null || c.value === undefined) return '';
  return c.type === 'json' ? JSON.stringify(c.value) : String(c.value);
}

function listPath(cursor: string | null): string {
  const q = new URLSearchParams({ limit: String(PAGE_SIZE) });
  if (state.prefix) q.set('prefix', state.prefix);
  if (state.type) q.set('type', state.type);
  if (cursor) q.set('cursor', cursor);
  const scope = encodeURIComponent(state.scope);
  return state.effective && state.scope !== 'global' ? `/api/orgs/${scope}/effective-configs?${q}` : `/api/scopes/${scope}/configs?${q}`;
}

async function renderConfiguration(notice = ''): Promise<void> {
  const cursor = state.cursors[state.cursors.length - 1];
  let page: Page<Config> | null = null;
  let failure = '';
  try {
    page = await api<Page<Config>>('GET', listPath(cursor));
  } catch (err) {
    failure = describeError(err);
  }

  const scopeSelect = h('select', { id: 'scope', onchange: () => void changeScope(scopeSelect.value) });
  for (const scope of ['global', ...state.orgs.map((o) => o.id)]) {
    scopeSelect.append(h('option', { value: scope, selected: scope === state.scope }, scopeName(scope)));
  }
  const prefixInput = h('input', { id: 'prefix', type: 'search', value: state.prefix, placeholder: 'e.g. stripe_' });
  const typeSelect = h('select', { id: 'type-filter' }, h('option', { value: '' }, 'Any type'), ...TYPES.map((t) => h('option', { value: t, selected: t === state.type }, t)));
  const filters = h(
    'form',
    { className: 'toolbar', 'aria-label': 'Filter' },
    h('label', { for: 'scope' }, 'Scope'),
    scopeSelect,
    h('label', { for: 'prefix' }, 'Key prefix'),
    prefixInput,
    h('label', { for: 'type-filter' }, 'Filter by type'),
    typeSelect,
    h('button', { type: 'submit' }, 'Filter'),
  );
  filters.addEventListener('submit', (e) => {
    e.preventDefault();
    state.prefix = prefixInput.value.trim();
    state.type = typeSelect.value;
    state.cursors = [null];
    void renderConfiguration();
  });
  if (state.scope !== 'global') {
    const box = h('input', { type: 'checkbox', id: 'effective', checked: state.effective });
    box.addEventListener('change', () => {
      state.effective = box.checked;
      state.cursors = [null];
      void renderConfiguration();
    });
    filters.append(h('span', { className: 'check' }, box, h('label', { for: 'effective' }, 'Effective view (with global)')));
  }

  const writable = canWrite(state.scope);
  const heading = h('div', { className: 'heading' }, h('h2', {}, `Configuration · ${scopeName(state.scope)}${state.effective && state.scope !== 'global' ? ' (effective)' : ''}`));
  if (writable) heading.append(h('button', { type: 'button', onclick: () => showForm(null) }, 'Add config'));
  else heading.append(h('p', { className: 'note' }, 'Read only: your role cannot change this scope.'));

  const table = h('table', {}, h('caption', {}, `Configs of ${scopeName(state.scope)}`));
  const cols = ['Key', 'Type', 'Value', 'Description', 'Updated', 'Updated by', ...(state.effective && state.scope !== 'global' ? ['Source'] : []), 'Actions'];
  table.append(h('thead', {}, h('tr', {}, ...cols.map((c) => h('th', { scope: 'col' }, c)))));
  const body = h('tbody');
  for (const c of page?.items ?? []) body.append(row(c));
  if (page && page.items.length === 0) body.append(h('tr', {}, h('td', { colspan: String(cols.length) }, 'No configs.')));
  table.append(body);

  const paging = h('div', { className: 'paging' });
  if (state.cursors.length > 1) {
    paging.append(
      h('button', { type: 'button', onclick: () => ((state.cursors = state.cursors.slice(0, -1)), void renderConfiguration()) }, 'Previous page'),
    );
  }
  if (page?.nextCursor) {
    const next = page.nextCursor;
    paging.append(h('button', { type: 'button', onclick: () => (state.cursors.push(next), void renderConfiguration()) }, 'Next page'));
  }

  app().replaceChildren(
    filters,
    heading,
    h('p', { id: 'notice', role: 'status' }, notice),
    h('p', { id: 'list-error', className: 'error', role: 'alert' }, failure),
    h('div', { id: 'form-slot' }),
    table,
    paging,
    h('div', { id: 'history-slot' }),
  );
}

function row(c: Config): HTMLTableRowElement {
  const effective = state.effective && state.scope !== 'global';
  // In the effective view a global row belongs to the global scope: edited there, not here.
  const rowScope = effective && c.source === 'global' ? 'global' : state.scope;
  const actions = h('td', { className: 'actions' });
  if (canWrite(rowScope) && rowScope === state.scope) {
    actions.append(h('button', { type: 'button', onclick: () => showForm(c), 'aria-label': `Edit ${c.key}` }, 'Edit'));
    actions.append(h('button', { type: 'button', onclick: () => void remove(c), 'aria-label': `Delete ${c.key}` }, 'Delete'));
  }
  if (canReadAudit()) actions.append(h('button', { type: 'button', onclick: () => void showHistory(c.key, rowScope), 'aria-label': `History of ${c.key}` }, 'History'));
  const value = h('td', { className: c.type === 'secret' ? 'value masked' : 'value', ...(c.fingerprint ? { title: `fingerprint ${c.fingerprint}` } : {}) }, shownValue(c));
  const exposed = c.exposedAt ? h('span', { className: 'exposed', title: `Reached a workflow's output on ${new Date(c.exposedAt).toLocaleString()}: set a new value` }, 'exposed') : null;
  return h(
    'tr',
    { 'data-key': c.key },
    h('th', { scope: 'row' }, c.key, exposed),
    h('td', {}, c.type),
    value,
    h('td', {}, c.description ?? ''),
    h('td', {}, c.updatedAt ? new Date(c.updatedAt).toLocaleString() : ''),
    h('td', {}, c.updatedBy ?? ''),
    effective ? h('td', {}, c.source ?? '') : null,
    actions,
  );
}

async function changeScope(scope: string): Promise<void> {
  state.scope = scope;
  state.effective = false;
  state.cursors = [null];
  await renderConfiguration();
}

async function remove(c: Config): Promise<void> {
  if (!window.confirm(`Delete ${c.key} from ${scopeName(state.scope)}? This cannot be undone.`)) return;
  try {
    await api('DELETE', `/api/scopes/${encodeURIComponent(state.scope)}/configs/${encodeURIComponent(c.key)}`);
  } catch (err) {
    document.getElementById('list-error')!.textContent = describeError(err);
    return;
  }
  await renderConfiguration(`Deleted ${c.key}.`);
}

// ---- add and edit -----------------------------------------------------------------------------

/** Which form field an API error concerns, by its code (or a validation detail's field). */
function fieldOf(err: ApiError): 'key' | 'type' | 'value' | 'description' | null {
  if (err.code === 'INVALID_KEY') return 'key';
  if (['INVALID_VALUE', 'MASK_AS_VALUE', 'VALUE_TOO_LARGE', 'SECRET_VALUE_REQUIRED'].includes(err.code)) return 'value';
  if (err.code === 'SECRET_TYPE_CHANGE' || err.code === 'INVALID_TYPE') return 'type';
  const detail = err.details?.find((d) => d.field && ['key', 'type', 'value', 'description'].includes(d.field));
  return (detail?.field as 'key' | 'type' | 'value' | 'description' | undefined) ?? null;
}

function valueControl(type: ConfigType, current: unknown, editingSecret: boolean): HTMLInputElement | HTMLTextAreaElement | HTMLSelectElement {
  if (type === 'secret') {
    return h('input', { type: 'password', id: 'value', autocomplete: 'new-password', required: true, placeholder: editingSecret ? 'Enter the new value' : '' });
  }
  if (type === 'json') {
    const area = h('textarea', { id: 'value', rows: '6', spellcheck: 'false', className: 'json' });
    area.value = current === undefined ? '' : JSON.stringify(current, null, 2);
    return area;
  }
  if (type === 'bool') {
    return h('select', { id: 'value' }, h('option', { value: 'true', selected: current === true }, 'true'), h('option', { value: 'false', selected: current === false }, 'false'));
  }
  const input = h('input', { type: 'text', id: 'value', inputmode: type === 'int' ? 'numeric' : undefined, spellcheck: 'false' });
  input.value = current === undefined || current === null ? '' : String(current);
  return input;
}

function showForm(existing: Config | null): void {
  const slot = document.getElementById('form-slot')!;
  const editingSecret = existing?.type === 'secret';
  const key = h('input', { type: 'text', id: 'key', required: true, spellcheck: 'false', autocomplete: 'off', readonly: existing !== null });
  key.value = existing?.key ?? '';
  const type = h('select', { id: 'config-type' }, ...TYPES.map((t) => h('option', { value: t, selected: t === (existing?.type ?? 'string') }, t)));
  const description = h('input', { type: 'text', id: 'description', autocomplete: 'off' });
  description.value = existing?.description ?? '';
  const valueSlot = h('div', { className: 'value-slot' });
  const discard = h('input', { type: 'checkbox', id: 'allow-type-change' });
  const discardRow = h('span', { className: 'check', hidden: true }, discard, h('label', { for: 'allow-type-change' }, 'Discard the secret and change the type'));

  let value = valueControl((existing?.type ?? 'string') as ConfigType, existing?.value, editingSecret);
  const placeValue = () => valueSlot.replaceChildren(field('Value', value, 'err-value'));
  placeValue();
  type.addEventListener('change', () => {
    // A secret's field never carries over into a plain one (or the other way round).
    const t = type.value as ConfigType;
    value = valueControl(t, existing && existing.type === t && t !== 'secret' ? existing.value : undefined, editingSecret && t === 'secret');
    placeValue();
    discardRow.hidden = !(editingSecret && t !== 'secret');
  });

  const form = h(
    'form',
    { className: 'card', 'aria-label': existing ? `Edit ${existing.key}` : 'Add config', novalidate: true },
    h('h3', {}, existing ? `Edit ${existing.key}` : 'Add config'),
    editingSecret ? h('p', { className: 'note' }, 'A secret is never shown again: enter the whole new value to replace it.') : null,
    field('Key', key, 'err-key'),
    field('Type', type, 'err-type'),
    discardRow,
    valueSlot,
    field('Description', description, 'err-description'),
    h('p', { id: 'err-form', className: 'error', role: 'alert' }),
    h('div', { className: 'buttons' }, h('button', { type: 'submit' }, 'Save'), h('button', { type: 'button', onclick: () => slot.replaceChildren() }, 'Cancel')),
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    void save(form, existing, { key, type, value: () => value, description, discard });
  });
  slot.replaceChildren(form);
  (existing ? (editingSecret ? value : description) : key).focus();
}

interface FormFields {
  key: HTMLInputElement;
  type: HTMLSelectElement;
  value: () => HTMLInputElement | HTMLTextAreaElement | HTMLSelectElement;
  description: HTMLInputElement;
  discard: HTMLInputElement;
}

async function save(form: HTMLFormElement, existing: Config | null, f: FormFields): Promise<void> {
  for (const el of form.querySelectorAll('.field-error, #err-form')) el.textContent = '';
  const show = (where: string, message: string) => (form.querySelector(`#err-${where}`)!.textContent = message);
  const key = f.key.value.trim();
  const type = f.type.value as ConfigType;
  const control = f.value();
  const raw = control.value;
  if (!key) return void show('key', 'Enter a key');
  let value: unknown = raw;
  if (type === 'secret' && raw === '') return void show('value', existing?.type === 'secret' ? 'Enter the new value' : 'Enter the secret’s value');
  if (type === 'json') {
    try {
      value = JSON.parse(raw);
    } catch {
      return void show('value', 'Not valid JSON');
    }
  } else if (type === 'bool') value = raw === 'true';
  else if (type === 'int') value = /^-?\d+$/.test(raw.trim()) ? Number(raw.trim()) : raw;
  const body: Record<string, unknown> = { type, value, description: f.description.value === '' ? null : f.description.value };
  if (existing?.type === 'secret' && type !== 'secret' && f.discard.checked) body.allowTypeChange = true;
  try {
    await api('PUT', `/api/scopes/${encodeURIComponent(state.scope)}/configs/${encodeURIComponent(key)}`, body);
  } catch (err) {
    if (!(err instanceof RequestFailed)) return void show('form', describeError(err));
    const where = fieldOf(err.error);
    show(where ?? 'form', `${err.error.message} (${err.error.code})`);
    if (err.error.code === 'SECRET_TYPE_CHANGE') (form.querySelector('.check') as HTMLElement | null)?.removeAttribute('hidden');
    return;
  } finally {
    // The typed secret does not stay in the page, whatever the answer.
    if (type === 'secret') control.value = '';
  }
  form.remove();
  await renderConfiguration(`Saved ${key}.`);
}

// ---- history ----------------------------------------------------------------------------------

async function showHistory(key: string, scope: string): Promise<void> {
  const slot = document.getElementById('history-slot')!;
  const q = new URLSearchParams({ key, scope, limit: '50' });
  let entries: AuditEntry[] = [];
  let failure = '';
  try {
    entries = (await api<Page<AuditEntry>>('GET', `/api/audit?${q}`)).items;
  } catch (err) {
    failure = describeError(err);
  }
  const table = h(
    'table',
    {},
    h('caption', {}, `History of ${key} (${scopeName(scope)})`),
    h('thead', {}, h('tr', {}, ...['When', 'Who', 'Action', 'Outcome', 'Execution'].map((c) => h('th', { scope: 'col' }, c)))),
    h(
      'tbody',
      {},
      ...entries.map((e) =>
        h('tr', {}, h('td', {}, new Date(e.at).toLocaleString()), h('td', {}, e.actor ? `${e.actor.name} (${e.actor.role})` : 'unauthenticated'), h('td', {}, e.action), h('td', {}, e.outcome), h('td', {}, e.executionId ?? '')),
      ),
    ),
  );
  slot.replaceChildren(
    h('section', { className: 'card', 'aria-label': `History of ${key}` }, h('h3', {}, `History of ${key}`), h('p', { className: 'error', role: 'alert' }, failure), table, h('button', { type: 'button', onclick: () => slot.replaceChildren() }, 'Close history')),
  );
}

// ---- start ------------------------------------------------------------------------------------

document.getElementById('sign-out')!.addEventListener('click', signOut);
renderSignIn();
