// DOM helpers shared by the views: element builder, status badges, number
// formatting, toasts and the two dialogs (form and confirmation).
import { ApiError } from './api.js';

/**
 * Builds an element. attrs: plain attributes, plus `class`, `text`,
 * `on<Event>` handlers and `dataset`. Children: nodes, strings, arrays, null.
 * Text always goes through text nodes, never innerHTML.
 */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key === 'text') el.textContent = value;
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2).toLowerCase(), value);
    else if (value === true) el.setAttribute(key, '');
    else el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

const STATUS_TONE = {
  ACTIVE: 'ok', ONLINE: 'ok',
  PENDING_CREATE: 'pending', PENDING_UPDATE: 'pending', PENDING_DELETE: 'pending',
  DEGRADED: 'warn', ERROR: 'bad', OFFLINE: 'off', DELETED: 'off', DISABLED: 'off',
};

/** A coloured status badge that always shows the word. */
export function badge(status, kind) {
  const value = status || 'UNKNOWN';
  const tone = STATUS_TONE[value] || 'off';
  const title = (kind === 'operating' ? 'Operating status: ' : kind === 'provisioning' ? 'Provisioning status: ' : '') + value;
  return h('span', { class: `badge badge-${tone}`, title, dataset: { status: value, kind: kind || '' } },
    h('span', { class: 'sr-only' }, kind === 'operating' ? 'Operating status ' : kind === 'provisioning' ? 'Provisioning status ' : ''),
    h('span', { class: 'badge-dot', 'aria-hidden': 'true' }),
    h('span', { class: 'badge-text' }, value));
}

export const isPending = (status) => typeof status === 'string' && status.startsWith('PENDING_');

/** Bytes in IEC units: 0 B, 1.5 KiB, 12.0 MiB. */
export function formatBytes(n) {
  if (typeof n !== 'number' || !Number.isFinite(n)) return '—';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit += 1; }
  return unit === 0 ? `${value} B` : `${value.toFixed(value < 10 ? 2 : value < 100 ? 1 : 0)} ${units[unit]}`;
}

/** An integer with thousands separators, or a dash. */
export function formatCount(n) {
  return typeof n === 'number' && Number.isFinite(n) ? n.toLocaleString('en-US') : '—';
}

/** A short form of a UUID for display (full value in the title). */
export function shortId(id) {
  return h('code', { class: 'id', title: id || '' }, id ? id.slice(0, 8) : '—');
}

/** A transient message in the corner. */
export function toast(message, tone = 'ok') {
  const box = document.getElementById('toasts');
  if (!box) return;
  const item = h('div', { class: `toast toast-${tone}`, role: tone === 'bad' ? 'alert' : 'status' }, message);
  box.append(item);
  setTimeout(() => item.classList.add('toast-out'), 3200);
  setTimeout(() => item.remove(), 3700);
}

/** A panel with an error message and a Retry button. */
export function errorPanel(title, err, onRetry, note) {
  const message = err instanceof Error ? err.message : String(err);
  return h('section', { class: 'panel panel-error', role: 'alert' },
    h('div', { class: 'panel-error-icon', 'aria-hidden': 'true' }, '!'),
    h('div', { class: 'panel-error-body' },
      h('h2', {}, title),
      h('p', { class: 'error-message' }, message, note ? h('span', { class: 'muted' }, ` ${note}`) : null),
      onRetry ? h('button', { type: 'button', class: 'btn btn-primary', onclick: onRetry }, 'Retry') : null));
}

// ---------------------------------------------------------------------------
// Dialogs

function makeDialog(labelId) {
  const dialog = h('dialog', { class: 'dialog', 'aria-labelledby': labelId });
  document.body.append(dialog);
  dialog.addEventListener('close', () => dialog.remove());
  return dialog;
}

/** Closes every open dialog (used when the route changes). */
export function closeDialogs() {
  for (const dialog of document.querySelectorAll('dialog[open]')) dialog.close();
}

let dialogSeq = 0;

/**
 * Opens a modal form. `fields`: [{name, label, type, options, placeholder,
 * help, disabled, showIf(values), width, check(value, values), api}].
 * `values`: initial values. Before sending, every visible field's `check`
 * runs and every message shows next to its field at once; nothing is sent
 * until they all pass. `onSubmit(payload, values)` returns a promise; an
 * ApiError keeps the dialog open with each field error the API listed next
 * to its field (matched by name, the last part of a dotted name, or a name
 * in the field's `api` list), what names no field in the box on top, and
 * every input as typed. Each message appears once.
 */
export function openForm({ title, intro, fields, values = {}, submitLabel = 'Save', onSubmit, id }) {
  const labelId = `dlg-title-${++dialogSeq}`;
  const dialog = makeDialog(labelId);
  const errorBox = h('div', { class: 'form-error', role: 'alert', hidden: true });
  const inputs = new Map();
  const rows = new Map();
  const fieldErrors = new Map();

  for (const field of fields) {
    const inputId = `f-${dialogSeq}-${field.name}`;
    const hintId = `${inputId}-hint`;
    const errId = `${inputId}-err`;
    let input;
    const initial = values[field.name];
    if (field.type === 'select') {
      input = h('select', { id: inputId, name: field.name, disabled: field.disabled });
      for (const opt of field.options || []) {
        const [value, label] = Array.isArray(opt) ? opt : [opt, opt];
        input.append(h('option', { value }, label));
      }
      if (initial !== undefined && initial !== null) input.value = String(initial);
    } else if (field.type === 'checkbox') {
      input = h('input', { id: inputId, name: field.name, type: 'checkbox', disabled: field.disabled });
      input.checked = initial === undefined ? true : Boolean(initial);
    } else if (field.type === 'textarea') {
      input = h('textarea', { id: inputId, name: field.name, rows: 2, disabled: field.disabled, placeholder: field.placeholder });
      input.value = initial ?? '';
    } else {
      input = h('input', {
        id: inputId, name: field.name, type: 'text', disabled: field.disabled,
        inputmode: field.type === 'number' ? 'numeric' : null,
        placeholder: field.placeholder, autocomplete: 'off', spellcheck: 'false',
      });
      input.value = initial === undefined || initial === null ? '' : String(initial);
    }
    const describedBy = [field.help ? hintId : null, errId].filter(Boolean).join(' ');
    input.setAttribute('aria-describedby', describedBy);
    inputs.set(field.name, input);
    const err = h('p', { class: 'field-error', id: errId, hidden: true });
    fieldErrors.set(field.name, err);
    const hint = field.help ? h('p', { class: 'field-hint', id: hintId }, field.help) : null;
    const row = field.type === 'checkbox'
      ? h('div', { class: 'field field-check' }, h('label', { for: inputId }, input, h('span', {}, field.label)), hint, err)
      : h('div', { class: `field${field.width === 'half' ? ' field-half' : ''}` },
          h('label', { for: inputId }, field.label, field.optional ? h('span', { class: 'optional' }, ' (optional)') : null),
          input, hint, err);
    rows.set(field.name, row);
  }

  const readValues = () => {
    const out = {};
    for (const [name, input] of inputs) out[name] = input.type === 'checkbox' ? input.checked : input.value;
    return out;
  };
  const applyVisibility = () => {
    const current = readValues();
    for (const field of fields) {
      if (field.showIf) rows.get(field.name).hidden = !field.showIf(current);
    }
  };

  const cancel = h('button', { type: 'button', class: 'btn', onclick: () => dialog.close() }, 'Cancel');
  const submit = h('button', { type: 'submit', class: 'btn btn-primary' }, submitLabel);
  const form = h('form', { class: 'form', novalidate: true, method: 'dialog', id: id || null },
    h('header', { class: 'dialog-head' },
      h('h2', { id: labelId }, title),
      h('button', { type: 'button', class: 'icon-btn', 'aria-label': 'Close', onclick: () => dialog.close() }, '×')),
    h('div', { class: 'dialog-body' },
      intro ? h('p', { class: 'dialog-intro' }, intro) : null,
      errorBox,
      h('div', { class: 'fields' }, [...rows.values()])),
    h('footer', { class: 'dialog-foot' }, cancel, submit));
  dialog.append(form);
  form.addEventListener('input', applyVisibility);
  form.addEventListener('change', applyVisibility);
  applyVisibility();

  const clearErrors = () => {
    errorBox.hidden = true;
    errorBox.textContent = '';
    for (const [name, el] of fieldErrors) {
      el.hidden = true;
      el.textContent = '';
      inputs.get(name).removeAttribute('aria-invalid');
    }
  };

  const visible = (name) => !rows.get(name).hidden && !inputs.get(name).disabled;
  /** Shows each {field, message} next to its field; returns the ones that name no field here. */
  const showFieldErrors = (errors) => {
    const unplaced = [];
    let first = null;
    for (const { field, message } of errors) {
      const name = fieldFor(field, fields);
      if (!name || !visible(name)) { unplaced.push(field ? `${field}: ${message}` : message); continue; }
      const el = fieldErrors.get(name);
      el.textContent = el.textContent ? `${el.textContent}; ${message}` : message;
      el.hidden = false;
      inputs.get(name).setAttribute('aria-invalid', 'true');
      first = first || inputs.get(name);
    }
    if (first) first.focus();
    return unplaced;
  };

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (submit.disabled) return;
    clearErrors();
    const current = readValues();
    const mistakes = fields
      .filter((f) => f.check && visible(f.name))
      .map((f) => ({ field: f.name, message: f.check(current[f.name], current) }))
      .filter((m) => m.message);
    if (mistakes.length) {
      showFieldErrors(mistakes);
      return;
    }
    submit.disabled = true;
    submit.classList.add('is-busy');
    form.setAttribute('aria-busy', 'true');
    try {
      await onSubmit(current);
      dialog.close();
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      const listed = err instanceof ApiError && err.errors.length
        ? err.errors
        : [{ field: fieldNamedBy(message, fields.map((f) => f.name)), message }];
      const unplaced = showFieldErrors(listed);
      const status = err instanceof ApiError && err.status ? `Error ${err.status}: ` : 'Error: ';
      errorBox.replaceChildren(h('strong', {}, status),
        unplaced.length ? unplaced.join(' · ') : `the ${listed.length === 1 ? 'field' : `${listed.length} fields`} marked below.`);
      errorBox.hidden = false;
    } finally {
      submit.disabled = false;
      submit.classList.remove('is-busy');
      form.removeAttribute('aria-busy');
    }
  });

  dialog.showModal();
  const first = [...inputs.values()].find((el) => !el.disabled && !el.closest('[hidden]'));
  if (first) first.focus();
  return dialog;
}

/** The form field an API field name (`vip.ip_address`) belongs to, if any. */
function fieldFor(apiField, fields) {
  if (!apiField) return null;
  const byAlias = fields.find((f) => (f.api || []).includes(apiField));
  if (byAlias) return byAlias.name;
  const last = apiField.split('.').pop();
  const byName = fields.find((f) => f.name === apiField || f.name === last);
  return byName ? byName.name : null;
}

/** The form field a fault string names ("protocol_port: must be ..."), if any. */
function fieldNamedBy(message, names) {
  const match = /^\s*([a-z_][a-z0-9_.]*)\s*:/i.exec(message);
  const candidates = match ? [match[1], match[1].split('.').pop()] : [];
  for (const candidate of candidates) if (names.includes(candidate)) return candidate;
  // Some messages name the field mid-sentence ("... protocol_port 70000 ...").
  const sorted = [...names].sort((a, b) => b.length - a.length);
  return sorted.find((name) => name.includes('_') && new RegExp(`\\b${name}\\b`).test(message)) || null;
}

/**
 * Asks for confirmation; resolves when the action succeeded, or rejects
 * silently on cancel. `action()` errors are shown inside the dialog.
 */
export function confirmDelete({ title, message, consequences = [], confirmLabel = 'Delete', action }) {
  const labelId = `dlg-title-${++dialogSeq}`;
  const dialog = makeDialog(labelId);
  dialog.classList.add('dialog-narrow');
  const errorBox = h('div', { class: 'form-error', role: 'alert', hidden: true });
  const confirm = h('button', { type: 'submit', class: 'btn btn-danger' }, confirmLabel);
  const cancel = h('button', { type: 'button', class: 'btn', onclick: () => dialog.close() }, 'Cancel');
  const form = h('form', { class: 'form', method: 'dialog' },
    h('header', { class: 'dialog-head' },
      h('h2', { id: labelId }, title),
      h('button', { type: 'button', class: 'icon-btn', 'aria-label': 'Close', onclick: () => dialog.close() }, '×')),
    h('div', { class: 'dialog-body' },
      h('p', { class: 'confirm-message' }, message),
      consequences.length ? h('ul', { class: 'cascade-list' }, consequences.map((c) => h('li', {}, c))) : null,
      h('p', { class: 'field-hint' }, 'This cannot be undone.'),
      errorBox),
    h('footer', { class: 'dialog-foot' }, cancel, confirm));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (confirm.disabled) return;
    confirm.disabled = true;
    confirm.classList.add('is-busy');
    errorBox.hidden = true;
    try {
      await action();
      dialog.close();
    } catch (err) {
      errorBox.replaceChildren(h('strong', {}, err instanceof ApiError && err.status ? `Error ${err.status}: ` : 'Error: '),
        err instanceof Error ? err.message : String(err));
      errorBox.hidden = false;
    } finally {
      confirm.disabled = false;
      confirm.classList.remove('is-busy');
    }
  });
  dialog.append(form);
  dialog.showModal();
  cancel.focus();
  return dialog;
}
