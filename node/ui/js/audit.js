// audit.js: the Audit page (auditor): the audit log, oldest first, paged by
// seq, filtered by action, actor, key and machine; the CSV download.

import * as api from './api.js';
import { h, fill, field, alertSlot, table, timeEl, newId, saveBlob, today } from './dom.js';
import { AUDIT_ACTIONS, lookupReasonWord } from './words.js';

const PAGE_SIZE = 25;
const CSV_PAGE = 10000;

export function render(main, ctx) {
	const listId = newId('actions');
	const inputs = {
		action: h('input', { type: 'text', name: 'action', list: listId, autocomplete: 'off', spellcheck: 'false', placeholder: 'key.read' }),
		actor: h('input', { type: 'text', name: 'actor', autocomplete: 'off', spellcheck: 'false' }),
		key_id: h('input', { type: 'text', name: 'key_id', autocomplete: 'off', spellcheck: 'false', class: 'mono' }),
		machine: h('input', { type: 'text', name: 'machine', autocomplete: 'off', spellcheck: 'false' }),
	};
	const alerts = alertSlot();
	const tableBox = h('div', { class: 'table-box' });
	const pageInfo = h('span', { class: 'page-info muted', 'aria-live': 'polite' });
	const prev = h('button', { type: 'button', class: 'secondary', text: 'Previous page' });
	const next = h('button', { type: 'button', class: 'secondary', text: 'Next page' });
	const download = h('button', { type: 'button', class: 'secondary', text: 'Download CSV' });
	const downloadState = h('span', { class: 'muted small', role: 'status', 'aria-live': 'polite' });

	let filters = {};
	let sinces = [0];      // the `since` of every page shown so far
	let nextSince = null;
	let seq = 0;

	function readFilters() {
		const f = {};
		for (const [name, input] of Object.entries(inputs)) {
			let v = input.value.trim();
			if (name === 'key_id') {
				v = v.replace(/[{}]/g, '').toUpperCase();
			} else if (name === 'machine') {
				v = v.toLowerCase();
			}
			f[name] = v;
		}
		return f;
	}

	async function load() {
		const mySeq = ++seq;
		const since = sinces[sinces.length - 1];
		alerts.hide();
		prev.disabled = true;
		next.disabled = true;
		try {
			const r = await api.get(`/v1/reports/audit${api.query({ ...filters, since, limit: PAGE_SIZE })}`);
			if (!ctx.alive() || mySeq !== seq) {
				return;
			}
			const entries = r.body.entries || [];
			const lastSeq = r.body.last_seq || 0;
			nextSince = entries.length === PAGE_SIZE ? entries[entries.length - 1].seq : null;
			fill(tableBox, table('Audit entries', [
				{ label: 'Seq', class: 'num', cell: e => String(e.seq) },
				{ label: 'At', cell: e => timeEl(e.at) },
				{ label: 'Actor', cell: e => e.actor ? h('span', null, e.actor, e.role ? h('span', { class: 'muted', text: ` (${e.role})` }) : null) : '—' },
				{ label: 'Action', cell: actionCell },
				{ label: 'Key ID', cell: e => e.key_id ? h('span', { class: 'mono nowrap', text: e.key_id }) : '—' },
				{ label: 'Machine', cell: e => e.machine || '—' },
				{ label: 'Reason', cell: e => e.reason ? lookupReasonWord(e.reason) : '—' },
				{ label: 'Note', class: 'wrap', cell: e => e.note || '—' },
				{ label: 'Node', class: 'num', cell: e => String(e.node) },
				{ label: 'Outcome', cell: e => e.outcome || '—' },
			], entries, Object.values(filters).some(Boolean) ? 'No entry matches these filters.' : 'No entry.'));
			const first = entries.length ? entries[0].seq : null;
			const last = entries.length ? entries[entries.length - 1].seq : null;
			const filtered = Object.values(filters).some(Boolean);
			pageInfo.textContent = !entries.length
				? `Page ${sinces.length} · the log holds ${lastSeq} entries`
				: filtered
					? `Page ${sinces.length} · ${entries.length} matching (seq ${first}–${last}) · ${lastSeq} in the log`
					: `Page ${sinces.length} · entries ${first}–${last} of ${lastSeq}`;
			prev.disabled = sinces.length <= 1;
			next.disabled = nextSince === null;
		} catch (err) {
			if (ctx.alive() && mySeq === seq) {
				alerts.show(err);
				prev.disabled = sinces.length <= 1;
			}
		}
	}

	const form = h('form', { class: 'filters', 'aria-label': 'Filter the audit log' },
		h('div', { class: 'filter-grid' },
			field('Action', inputs.action),
			field('Actor', inputs.actor),
			field('Key ID', inputs.key_id),
			field('Machine', inputs.machine)),
		h('datalist', { id: listId }, AUDIT_ACTIONS.map(a => h('option', { value: a }))),
		h('div', { class: 'actions' },
			h('button', { type: 'submit', class: 'primary', text: 'Filter' }),
			download, downloadState));

	form.addEventListener('submit', event => {
		event.preventDefault();
		filters = readFilters();
		sinces = [0];
		load();
	});
	prev.addEventListener('click', () => {
		if (sinces.length > 1) {
			sinces.pop();
			load();
		}
	});
	next.addEventListener('click', () => {
		if (nextSince !== null) {
			sinces.push(nextSince);
			load();
		}
	});
	download.addEventListener('click', async () => {
		download.disabled = true;
		downloadState.textContent = 'Preparing the CSV…';
		alerts.hide();
		try {
			const f = readFilters();
			const csv = await fetchCsv(f);
			if (!ctx.alive()) {
				return;
			}
			saveBlob(new Blob([csv], { type: 'text/csv;charset=utf-8' }), `audit-${today()}.csv`);
			downloadState.textContent = 'CSV saved.';
		} catch (err) {
			if (ctx.alive()) {
				downloadState.textContent = '';
				alerts.show(err);
			}
		} finally {
			download.disabled = false;
		}
	});

	fill(main,
		h('h1', { tabindex: '-1', text: 'Audit' }),
		h('p', { class: 'lead', text: 'Every key reading, escrow, snapshot and cluster change, as the cluster recorded it.' }),
		h('section', { class: 'panel' }, form),
		h('section', { class: 'panel' },
			alerts.node,
			tableBox,
			h('div', { class: 'pager' }, prev, pageInfo, next)));
	load();
	return null;
}

// The action; a break-glass lookup (replayed from a node's journal: `at`
// and `node` are when and where it was served, without a quorum) is marked
// with a badge whose title holds its break_glass_id (the Outcome column
// shows it too, as break_glass:ID).
function actionCell(e) {
	const code = h('code', { text: e.action });
	if (e.break_glass !== true) {
		return code;
	}
	return h('span', null, code, h('span', {
		class: 'badge badge-break-glass',
		title: `Break-glass lookup ${e.break_glass_id || ''}, served by node ${e.node} without a quorum`,
		text: 'break glass',
	}));
}

// The records of a CSV text (RFC 4180: quoted fields may hold commas,
// quotes and line breaks): [count of records after the header, first
// field of the last record].
export function csvTail(text) {
	let records = 0;
	let inQuotes = false;
	let lastStart = -1;
	let start = 0;
	for (let i = 0; i < text.length; i++) {
		const c = text[i];
		if (inQuotes) {
			if (c === '"') {
				if (text[i + 1] === '"') {
					i++;
				} else {
					inQuotes = false;
				}
			}
		} else if (c === '"') {
			inQuotes = true;
		} else if (c === '\n') {
			if (i > start) {
				records++;
				lastStart = start;
			}
			start = i + 1;
		}
	}
	if (start < text.length) {
		records++;
		lastStart = start;
	}
	let firstField = null;
	if (records > 1 && lastStart >= 0) {
		const end = text.slice(lastStart).search(/[,\r\n]/);
		firstField = end < 0 ? text.slice(lastStart) : text.slice(lastStart, lastStart + end);
	}
	return [Math.max(0, records - 1), firstField];
}

// The whole (filtered) log as one CSV. The audit report pages by `since`
// and has no "next" header: a page of CSV_PAGE rows may have a successor,
// which starts after the seq of its last row.
async function fetchCsv(filters) {
	let out = '';
	let since = 0;
	for (;;) {
		const r = await api.get(`/v1/reports/audit${api.query({
			...filters, since, limit: CSV_PAGE, format: 'csv',
		})}`, { kind: 'text', timeoutMs: 30000 });
		let text = r.body;
		const [rows, lastSeq] = csvTail(text);
		if (out !== '') {
			const nl = text.indexOf('\n');
			text = nl < 0 ? '' : text.slice(nl + 1);
		}
		out += text;
		const n = Number(lastSeq);
		if (rows < CSV_PAGE || !Number.isSafeInteger(n) || n <= since) {
			return out;
		}
		since = n;
	}
}
