// compliance.js: the Compliance page (auditor): counts per verdict, the
// machines of one status with their reasons, paged, and the CSV download.

import * as api from './api.js';
import { h, fill, field, alertSlot, table, timeEl, saveBlob, today } from './dom.js';
import { STATUSES } from './words.js';
import { statusBadge, reasonsList, machineLink } from './machines.js';

const PAGE_SIZE = 25;
const CSV_PAGE = 10000;

export function render(main, ctx) {
	const statusSelect = h('select', { name: 'status' },
		h('option', { value: '', text: 'All' }),
		STATUSES.map(([code, label]) => h('option', { value: code, text: label })));
	statusSelect.value = 'noncompliant';
	const counts = h('ul', { id: 'counts', class: 'counts', 'aria-label': 'Machines per verdict' });
	const alerts = alertSlot();
	const tableBox = h('div', { class: 'table-box' });
	const pageInfo = h('span', { class: 'page-info muted', 'aria-live': 'polite' });
	const prev = h('button', { type: 'button', class: 'secondary', text: 'Previous page' });
	const next = h('button', { type: 'button', class: 'secondary', text: 'Next page' });
	const download = h('button', { type: 'button', class: 'secondary', text: 'Download CSV' });
	const downloadState = h('span', { class: 'muted small', role: 'status', 'aria-live': 'polite' });

	// Paging: `afters` holds the `after` of every page shown so far.
	let afters = [null];
	let nextAfter = null;
	let seq = 0;

	async function load() {
		const mySeq = ++seq;
		const after = afters[afters.length - 1];
		alerts.hide();
		prev.disabled = true;
		next.disabled = true;
		try {
			const r = await api.get(`/v1/reports/compliance${api.query({
				status: statusSelect.value, after, limit: PAGE_SIZE,
			})}`);
			if (!ctx.alive() || mySeq !== seq) {
				return;
			}
			showCounts(r.body.counts || {});
			nextAfter = r.body.next || null;
			const machines = r.body.machines || [];
			const label = statusSelect.value ? statusSelect.selectedOptions[0].textContent.toLowerCase() : '';
			fill(tableBox, table('Machines', [
				{ label: 'Machine', cell: m => ctx.canUse('machines') ? machineLink(m.machine) : m.machine },
				{ label: 'Status', cell: m => statusBadge(m.status, m.stale) },
				{ label: 'Reasons', cell: m => reasonsList(m.reasons) },
				{ label: 'Reported', cell: m => timeEl(m.reported_at) },
				{ label: 'User', cell: m => m.user || '—' },
			], machines, label ? `No ${label} machine.` : 'No machine has reported yet.'));
			pageInfo.textContent = `Page ${afters.length}${machines.length ? ` · ${machines.length} machine${machines.length === 1 ? '' : 's'}` : ''}`;
			prev.disabled = afters.length <= 1;
			next.disabled = !nextAfter;
		} catch (err) {
			if (ctx.alive() && mySeq === seq) {
				alerts.show(err);
				prev.disabled = afters.length <= 1;
			}
		}
	}

	function showCounts(c) {
		fill(counts, STATUSES.map(([code, label]) => h('li', { class: `count count-${code}` },
			h('span', { class: 'count-label', text: label }), ' ',
			h('span', { class: 'count-num', text: String(c[code] ?? 0) }))));
	}

	statusSelect.addEventListener('change', () => {
		afters = [null];
		load();
	});
	prev.addEventListener('click', () => {
		if (afters.length > 1) {
			afters.pop();
			load();
		}
	});
	next.addEventListener('click', () => {
		if (nextAfter) {
			afters.push(nextAfter);
			load();
		}
	});
	download.addEventListener('click', async () => {
		download.disabled = true;
		downloadState.textContent = 'Preparing the CSV…';
		alerts.hide();
		try {
			const status = statusSelect.value;
			const csv = await fetchCsv(status);
			if (!ctx.alive()) {
				return;
			}
			saveBlob(new Blob([csv], { type: 'text/csv;charset=utf-8' }),
				`compliance-${status || 'all'}-${today()}.csv`);
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
		h('h1', { tabindex: '-1', text: 'Compliance' }),
		h('p', { class: 'lead', text: 'Every machine’s verdict against the policy, from its last report.' }),
		counts,
		h('section', { class: 'panel' },
			h('div', { class: 'toolbar' },
				field('Status', statusSelect),
				h('div', { class: 'toolbar-actions' }, download, downloadState)),
			alerts.node,
			tableBox,
			h('div', { class: 'pager' }, prev, pageInfo, next)));
	showCounts({});
	load();
	return null;
}

// The whole report as one CSV: pages of CSV_PAGE rows, following
// X-Escrow-Next, with the header line kept once.
async function fetchCsv(status) {
	let out = '';
	let after = null;
	for (;;) {
		const r = await api.get(`/v1/reports/compliance${api.query({
			status, after, limit: CSV_PAGE, format: 'csv',
		})}`, { kind: 'text', timeoutMs: 30000 });
		let text = r.body;
		if (out !== '') {
			const nl = text.indexOf('\n');
			text = nl < 0 ? '' : text.slice(nl + 1);
		}
		out += text;
		after = r.headers.get('X-Escrow-Next');
		if (!after) {
			return out;
		}
	}
}
