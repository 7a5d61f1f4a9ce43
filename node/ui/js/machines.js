// machines.js: the Machines page (helpdesk, auditor): search by name, and
// one machine (#machines/NAME) with its verdict, volumes, keys (never a
// password) and history.

import * as api from './api.js';
import { h, fill, field, alertSlot, table, timeEl, newId } from './dom.js';
import {
	statusWord, verdictReasonWord, volumeTypeWord, protectionWord,
	conversionWord, methodWord, protectorWord,
} from './words.js';

const PAGE_SIZE = 25;

export function statusBadge(status, stale) {
	return h('span', { class: `badge badge-${status || 'unknown'}` }, statusWord(status),
		stale ? h('span', { class: 'badge-note', text: ' · stale' }) : null);
}

export function reasonsList(reasons, emptyText) {
	if (!reasons || reasons.length === 0) {
		return h('span', { class: 'muted', text: emptyText || 'None' });
	}
	return h('ul', { class: 'reasons' }, reasons.map(r => h('li', { title: r, text: verdictReasonWord(r) })));
}

export function machineLink(name) {
	return h('a', { href: `#machines/${encodeURIComponent(name)}`, class: 'machine-link', text: name });
}

export function render(main, ctx) {
	const nameInput = h('input', {
		type: 'search', name: 'machine', autocomplete: 'off', spellcheck: 'false',
		placeholder: 'pc-42', value: ctx.rest || '',
	});
	const alerts = alertSlot();
	const results = h('div', { class: 'results' });
	const form = h('form', { class: 'panel search-form', role: 'search', 'aria-label': 'Machines' },
		h('div', { class: 'inline-form' },
			field('Machine name', nameInput, 'The name or its first characters.'),
			h('button', { type: 'submit', class: 'primary', text: 'Search' })));

	let searchSeq = 0;

	async function search(after, append) {
		const prefix = nameInput.value.trim().toLowerCase();
		const seq = ++searchSeq;
		alerts.hide();
		try {
			const r = await api.get(`/v1/machines${api.query({ prefix, limit: PAGE_SIZE, after })}`);
			if (!ctx.alive() || seq !== searchSeq) {
				return;
			}
			showResults(prefix, r.body.machines || [], r.body.next || null, append);
		} catch (err) {
			if (ctx.alive() && seq === searchSeq) {
				alerts.show(err);
			}
		}
	}

	let listBody = null;
	function showResults(prefix, machines, next, append) {
		if (!append || !listBody) {
			const titleId = newId('results');
			listBody = h('ul', { class: 'machine-list', 'aria-labelledby': titleId });
			fill(results, h('section', { class: 'panel' },
				h('h2', { id: titleId, text: prefix ? `Machines beginning with “${prefix}”` : 'All machines' }),
				machines.length === 0
					? h('p', { class: 'empty-state', text: prefix ? 'No machine whose name begins with this has reported.' : 'No machine has reported yet.' })
					: listBody,
				h('div', { class: 'more' })));
		}
		for (const m of machines) {
			listBody.appendChild(h('li', { class: 'machine-row' },
				machineLink(m.machine),
				statusBadge(m.status, m.stale),
				h('span', { class: 'machine-meta muted' },
					m.user ? `${m.user} · ` : '', 'reported ', timeEl(m.reported_at)),
				m.reasons && m.reasons.length ? reasonsList(m.reasons) : null));
		}
		const more = results.querySelector('.more');
		fill(more, next ? h('button', {
			type: 'button', class: 'secondary', text: 'More machines',
			on: { click: () => search(next, true) },
		}) : null);
	}

	async function showMachine(name) {
		alerts.hide();
		fill(results, h('p', { class: 'muted', role: 'status', text: `Loading ${name}…` }));
		try {
			const r = await api.get(`/v1/machines/${encodeURIComponent(name)}`);
			if (!ctx.alive()) {
				return;
			}
			fill(results, machineView(r.body, ctx));
		} catch (err) {
			if (ctx.alive()) {
				fill(results);
				alerts.show(err);
			}
		}
	}

	form.addEventListener('submit', event => {
		event.preventDefault();
		if (ctx.rest) {
			// Searching from a machine's page goes back to the search.
			location.hash = '#machines';
			pending = nameInput.value;
			return;
		}
		search(null, false);
	});

	fill(main,
		h('h1', { tabindex: '-1', text: 'Machines' }),
		h('p', { class: 'lead', text: 'Find a machine: its compliance verdict, volumes, escrowed keys and history.' }),
		form,
		alerts.node,
		results);

	if (ctx.rest) {
		showMachine(ctx.rest);
	} else if (pending !== null) {
		nameInput.value = pending;
		pending = null;
		search(null, false);
	} else {
		// Every machine, in name order, until a name is typed.
		search(null, false);
	}
	return null;
}

// A search typed on a machine's page, carried to the search page.
let pending = null;

function machineView(m, ctx) {
	const nameId = newId('machine');
	const section = (title, ...body) => {
		const id = newId('sec');
		return h('section', { class: 'panel', 'aria-labelledby': id }, h('h3', { id, text: title }), body);
	};
	const ex = m.exemption;
	return h('article', { class: 'machine', 'aria-labelledby': nameId },
		h('div', { class: 'machine-head' },
			h('a', { href: '#machines', class: 'back', text: '← All machines' }),
			h('h2', { id: nameId, class: 'machine-name', text: m.machine })),
		section('Verdict',
			h('div', { class: 'verdict' },
				statusBadge(m.status, m.stale),
				m.stale ? h('span', { class: 'muted', text: 'The last report is older than the policy allows.' }) : null),
			h('dl', { class: 'facts' },
				fact('Reasons', reasonsList(m.reasons, 'None: every rule is met.')),
				fact('Reported', timeEl(m.reported_at)),
				fact('User', m.user || '—'),
				fact('OS', m.os || '—'),
				ex ? fact('Exemption', h('span', null, 'until ', timeEl(ex.until),
					ex.note ? ` · ${ex.note}` : '', ex.by ? ` · by ${ex.by}` : '')) : null)),
		section('Volumes', table(`Volumes of ${m.machine}`, [
			{ label: 'Volume', class: 'wrap', cell: v => h('span', { class: 'mono', text: v.volume_id }) },
			{ label: 'Type', cell: v => volumeTypeWord(v.volume_type) },
			{ label: 'Protection', cell: v => protectionWord(v.protection) },
			{ label: 'Encryption', class: 'wrap-narrow', cell: v => encryptionText(v) },
			{ label: 'Protectors', class: 'wrap-narrow', cell: v => (v.protectors || []).map(protectorWord).join(', ') || '—' },
			{ label: 'Key IDs', cell: v => (v.key_ids || []).length
				? h('ul', { class: 'plain mono' }, v.key_ids.map(k => h('li', { text: k }))) : '—' },
		], m.volumes || [], 'The last report lists no volume.')),
		section('Keys',
			h('p', { class: 'muted small', text: 'Escrowed recovery keys. Passwords are never shown here; a helpdesk reads one on the Recover page.' }),
			table(`Keys of ${m.machine}`, [
				{ label: 'Key ID', cell: k => h('span', { class: 'mono', text: k.key_id }) },
				{ label: 'Volume', class: 'wrap', cell: k => h('span', null, h('span', { class: 'mono', text: k.volume_id }), ' ', h('span', { class: 'muted', text: `(${volumeTypeWord(k.volume_type)})` })) },
				{ label: 'Escrowed', cell: k => timeEl(k.escrowed_at) },
				{ label: 'Disclosed', cell: k => timeEl(k.disclosed_at) },
				{ label: 'Retired', cell: k => timeEl(k.retired_at) },
			].concat(ctx.canUse('recover') ? [{
				label: 'Recover',
				cell: k => h('a', { href: `#recover/${k.key_id}`, text: 'Recover…', 'aria-label': `Recover ${k.key_id}…` }),
			}] : []), m.keys || [], 'No key escrowed for this machine.')),
		section('History', table(`Verdict history of ${m.machine}`, [
			{ label: 'At', cell: e => timeEl(e.at) },
			{ label: 'Status', cell: e => statusBadge(e.status, false) },
			{ label: 'Reasons', cell: e => reasonsList(e.reasons) },
		], m.history || [], 'No verdict change recorded.')));
}

// "Fully encrypted · XTS-AES 256", "Encrypting 40% · XTS-AES 128", "Fully decrypted".
function encryptionText(v) {
	const conv = conversionWord(v.conversion);
	const pct = v.conversion === 'fully_encrypted' || v.conversion === 'fully_decrypted' ? '' : ` ${v.percent_encrypted}%`;
	const method = v.conversion === 'fully_decrypted' ? '' : ` · ${methodWord(v.encryption_method)}`;
	return `${conv}${pct}${method}`;
}

function fact(label, value) {
	return h('div', { class: 'fact' }, h('dt', { text: label }), h('dd', null, value));
}
