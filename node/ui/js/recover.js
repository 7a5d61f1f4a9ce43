// recover.js: the Recover page (helpdesk). A Key ID (whole, or its first
// 8+ hex digits), a reason, a note; shows one recovery password.
//
// Without a quorum (503 no_quorum) a helpdesk person is offered a
// break-glass read of the same key at the node that said so (docs/console.md
// "Break glass"): only on a press, only once per offer, never at another
// member.
//
// A revealed password lives only in this module's `shown` object and in the
// result's DOM nodes. Both go on "Clear", after 2 minutes, when the person
// navigates to another page (the router calls the cleanup this render
// returns, on hashchange) and on pagehide (main.js).

import * as api from './api.js';
import { h, fill, clear, field, alertSlot, newId, formatTime } from './dom.js';
import { LOOKUP_REASONS, volumeTypeWord } from './words.js';

const SHOW_SECONDS = 120;
const GUID = /^[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}$/;

// What the Key ID field holds: {kind: 'id', id} for a whole key ID,
// {kind: 'prefix', prefix} for 8..32 hex digits (dashes ignored), or
// {kind: 'bad'}.
export function parseKeyInput(text) {
	let s = text.trim().toUpperCase();
	if (s.startsWith('{') && s.endsWith('}')) {
		s = s.slice(1, -1);
	}
	if (GUID.test(s)) {
		return { kind: 'id', id: s };
	}
	const hex = s.replace(/[-{}\s]/g, '');
	if (/^[0-9A-F]{8,32}$/.test(hex)) {
		return { kind: 'prefix', prefix: hex };
	}
	return { kind: 'bad' };
}

export function render(main, ctx) {
	// The one revealed key: {record, timer, node} or null.
	let shown = null;
	// Break glass is a helpdesk action (an operator holds the role too, but
	// is not offered it).
	const helpdesk = Boolean(ctx.me && ctx.me.role === 'helpdesk');

	const keyInput = h('input', {
		type: 'text', name: 'key_id', autocomplete: 'off', spellcheck: 'false',
		autocapitalize: 'characters', required: true, class: 'mono',
		placeholder: '6F1D2C3B',
		value: ctx.rest || '',
	});
	const reasonSelect = h('select', { name: 'reason', required: true },
		LOOKUP_REASONS.map(([code, label]) => h('option', { value: code, text: label })));
	const noteInput = h('input', { type: 'text', name: 'note', autocomplete: 'off', maxlength: '1024' });
	const noteField = field('Note', noteInput, 'Required when the reason is Other.');
	const submit = h('button', { type: 'submit', class: 'primary', text: 'Recover' });
	const alerts = alertSlot();
	const result = h('div', { class: 'recover-result' });
	const busy = h('p', { class: 'busy', role: 'status', 'aria-live': 'polite' });

	function syncNote() {
		const other = reasonSelect.value === 'other';
		noteInput.required = other;
		noteField.classList.toggle('is-required', other);
	}
	reasonSelect.addEventListener('change', syncNote);

	const form = h('form', { class: 'panel recover-form', novalidate: true, 'aria-label': 'Recover a key' },
		h('div', { class: 'form-grid' },
			field('Key ID', keyInput, 'The whole key ID, or at least its first 8 hex digits.'),
			field('Reason', reasonSelect),
			noteField),
		h('div', { class: 'actions' }, submit, busy));
	syncNote();

	function hideKey() {
		if (shown) {
			clearInterval(shown.timer);
			shown.record = null;
			shown = null;
		}
		clear(result);
	}

	function setBusy(text) {
		busy.textContent = text || '';
		submit.disabled = Boolean(text);
	}

	// Reason and note as the form holds them now; null (and an alert) if
	// the note is missing for "other".
	function reasonParams() {
		const reason = reasonSelect.value;
		const note = noteInput.value.trim();
		if (reason === 'other' && note === '') {
			alerts.show({ message: 'A note is required when the reason is Other.', code: 'note_required' });
			noteInput.setAttribute('aria-invalid', 'true');
			noteInput.focus();
			return null;
		}
		noteInput.removeAttribute('aria-invalid');
		return { reason, note };
	}

	// One key read at a time: a second click must not disclose (and audit)
	// the key twice.
	let reading = false;

	async function readKey(keyId) {
		if (reading) {
			return;
		}
		const params = reasonParams();
		if (!params) {
			return;
		}
		reading = true;
		// A password on show (or a break-glass offer, made for another
		// read) goes at once; a list of matches stays until the chosen key
		// arrives (so that a failed read can be retried).
		if (shown || result.querySelector('.break-glass')) {
			hideKey();
		}
		alerts.hide();
		setBusy('Reading the key…');
		try {
			const r = await api.get(`/v1/keys/${encodeURIComponent(keyId)}${api.query(params)}`,
				{ disclosure: true });
			if (!ctx.alive()) {
				return;   // the person left the page: drop the answer
			}
			showKey(r.body, r.node);
		} catch (err) {
			if (ctx.alive()) {
				alerts.show(err);
				if (helpdesk && err.code === 'no_quorum' && typeof err.base === 'string') {
					offerBreakGlass({ base: err.base, node: err.node, keyId, params });
				}
			}
		} finally {
			reading = false;
			if (ctx.alive()) {
				setBusy('');
			}
		}
	}

	async function lookup(event) {
		event.preventDefault();
		if (reading || submit.disabled) {
			return;
		}
		alerts.hide();
		keyInput.removeAttribute('aria-invalid');
		const parsed = parseKeyInput(keyInput.value);
		if (parsed.kind === 'bad') {
			hideKey();
			keyInput.setAttribute('aria-invalid', 'true');
			alerts.show({
				message: 'Type the whole key ID (8-4-4-4-12 hex digits) or at least its first 8 hex digits.',
				code: 'invalid_key_id',
			});
			keyInput.focus();
			return;
		}
		if (!reasonParams()) {
			return;
		}
		if (parsed.kind === 'id') {
			await readKey(parsed.id);
			return;
		}
		hideKey();
		setBusy('Looking for matching keys…');
		try {
			// list=1: the matching keys without passwords; not audited.
			const r = await api.get(`/v1/keys${api.query({ prefix: parsed.prefix, list: 1 })}`);
			if (!ctx.alive()) {
				return;
			}
			setBusy('');
			const keys = (r.body && r.body.keys) || [];
			if (keys.length === 0) {
				alerts.show({ message: `No key ID begins with ${parsed.prefix}.`, code: 'key_not_found' });
				keyInput.focus();
			} else if (keys.length === 1) {
				await readKey(keys[0].key_id);
			} else {
				showMatches(parsed.prefix, keys, Boolean(r.body.truncated));
			}
		} catch (err) {
			if (ctx.alive()) {
				setBusy('');
				alerts.show(err);
				if (helpdesk && err.code === 'no_quorum') {
					fill(result, h('p', { class: 'notice', text: 'A break-glass read needs the whole key ID: type all of it (8-4-4-4-12 hex digits) to be offered one.' }));
				}
			}
		}
	}

	// The offer after a 503 no_quorum: {base, node, keyId, params} of that
	// answer and of the lookup it refused.
	function offerBreakGlass(offer) {
		const where = offer.node ? `node ${offer.node}` : 'this node';
		const titleId = newId('bg');
		const button = h('button', {
			type: 'button', class: 'danger', text: 'Break glass: read this node\'s own copy',
			on: { click: () => breakGlass(offer, button) },
		});
		const heading = h('h2', { id: titleId, tabindex: '-1', text: 'No quorum: break glass?' });
		fill(result, h('section', { class: 'panel break-glass', 'aria-labelledby': titleId },
			heading,
			h('p', null, `${where.charAt(0).toUpperCase()}${where.slice(1)} cannot reach a majority of the cluster, `,
				'so no ordinary lookup can be served. As helpdesk staff you may read key ',
				h('span', { class: 'mono', text: offer.keyId }),
				` from ${where}'s own copy, with the same reason and note.`),
			h('p', { class: 'notice' },
				h('strong', null, 'Warning: '),
				`the read is journaled on ${where} before the password is sent, and audited when the cluster is back. `,
				'That copy may lack keys escrowed lately; a password it holds is correct.'),
			h('div', { class: 'actions' }, button)));
		heading.focus();
	}

	// The break-glass read: the refused lookup again, with break_glass=1,
	// at the node that refused it only. Sent once: whatever the answer (or
	// its absence), the offer goes.
	async function breakGlass(offer, button) {
		if (reading) {
			return;
		}
		reading = true;
		button.disabled = true;
		alerts.hide();
		const where = offer.node ? `node ${offer.node}` : 'this node';
		setBusy(`Reading ${where}'s own copy…`);
		const path = `/v1/keys/${encodeURIComponent(offer.keyId)}${api.query({ ...offer.params, break_glass: 1 })}`;
		try {
			const r = await api.readAt(offer.base, path);
			if (!ctx.alive()) {
				return;
			}
			showKey(r.body, r.node || offer.node);
		} catch (err) {
			if (ctx.alive()) {
				hideKey();
				alerts.show(err);
				keyInput.focus();
			}
		} finally {
			reading = false;
			if (ctx.alive()) {
				setBusy('');
			}
		}
	}

	function showMatches(prefix, keys, truncated) {
		const titleId = newId('matches');
		const list = h('ul', { class: 'matches', 'aria-labelledby': titleId },
			keys.map(k => h('li', { class: 'match' },
				h('button', {
					type: 'button', class: 'match-button mono', text: `Recover ${k.key_id}`,
					on: { click: () => readKey(k.key_id) },
				}),
				h('span', { class: 'match-info' },
					h('span', { class: 'match-machine', text: k.machine }),
					h('span', { class: 'muted' }, volumeTypeWord(k.volume_type), ' volume ',
						h('span', { class: 'mono', text: k.volume_id })),
					k.user ? h('span', { class: 'muted', text: k.user }) : null,
					keyState(k)))));
		const heading = h('h2', { id: titleId, tabindex: '-1', text: 'Matching keys' });
		fill(result, h('section', { class: 'panel' },
			heading,
			h('p', null, `${keys.length} keys begin with `, h('span', { class: 'mono', text: prefix }),
				'. Choose one: only that key is read, and its reading is audited.'),
			truncated ? h('p', { class: 'notice', text: 'There are more matches than shown: type more digits to narrow the list.' }) : null,
			list));
		heading.focus();
	}

	function keyState(k) {
		const tags = [];
		if (k.retired_at) {
			tags.push(h('span', { class: 'tag tag-muted', text: `Retired ${formatTime(k.retired_at)}` }));
		}
		if (k.disclosed_at) {
			tags.push(h('span', { class: 'tag tag-warn', text: `Disclosed ${formatTime(k.disclosed_at)}` }));
		}
		return tags.length ? h('span', { class: 'tags' }, tags) : null;
	}

	function showKey(record, node) {
		hideKey();
		const password = record.recovery_password || '';
		const blocks = password.split('-');
		const titleId = newId('pw');
		const countdown = h('span', { class: 'countdown-time' });
		const bar = h('progress', { max: String(SHOW_SECONDS), value: String(SHOW_SECONDS), 'aria-hidden': 'true' });
		const copyState = h('span', { class: 'copy-state', role: 'status', 'aria-live': 'polite' });
		const copyButton = h('button', {
			type: 'button', class: 'primary', text: 'Copy',
			on: { click: () => copy(copyState) },
		});
		const clearButton = h('button', {
			type: 'button', class: 'secondary', text: 'Clear',
			on: { click: () => { hideKey(); keyInput.focus(); } },
		});
		const heading = h('h2', { id: titleId, tabindex: '-1', text: 'Recovery password' });
		const section = h('section', { class: 'panel reveal', 'aria-labelledby': titleId },
			h('div', { class: 'reveal-head' },
				heading,
				h('p', { class: 'countdown' }, 'Hidden in ', countdown, bar)),
			h('ol', { class: 'pw', 'aria-label': 'Password blocks' },
				blocks.map((b, i) => h('li', { class: 'pw-cell' },
					h('span', { class: 'pw-num', 'aria-hidden': 'true', text: String(i + 1) }),
					h('span', { class: 'pw-block', text: b })))),
			h('div', { class: 'actions' }, copyButton, clearButton, copyState),
			h('dl', { class: 'facts' },
				fact('Machine', record.machine),
				fact('Volume', h('span', null, h('span', { class: 'mono', text: record.volume_id }),
					' ', h('span', { class: 'muted', text: `(${volumeTypeWord(record.volume_type)})` }))),
				fact('User', record.user || '—'),
				fact('Key ID', h('span', { class: 'mono', text: record.key_id }))),
			record.break_glass === true
				? h('p', { class: 'notice notice-break-glass' },
					h('strong', null, 'Break glass. '),
					`Served by node ${node || '?'} from its own copy at index ${record.index}, without a quorum; `,
					'audited when the cluster is back.')
				: null,
			h('p', { class: 'notice' },
				h('strong', null, 'This password is now spent. '),
				record.break_glass === true
					? `Its reading is journaled on node ${node || '?'} and enters the audit log when the cluster is back; then the laptop will be asked to rotate it `
					: 'Its reading is in the audit log, and the laptop will be asked to rotate it ',
				'(replace it with a new recovery password) at its next report.'),
			node ? h('p', { class: 'muted small', text: `Read through node ${node}.` }) : null);
		fill(result, section);
		// Counted from the clock, not from ticks: timers of a sleeping
		// laptop or a background tab run late, and the password must not
		// outstay its 2 minutes.
		shown = { record: { password }, timer: 0, until: Date.now() + SHOW_SECONDS * 1000 };
		const tick = () => {
			if (!shown) {
				return;
			}
			shown.left = Math.max(0, Math.ceil((shown.until - Date.now()) / 1000));
			const m = Math.floor(shown.left / 60);
			const s = String(shown.left % 60).padStart(2, '0');
			countdown.textContent = `${m}:${s}`;
			bar.value = shown.left;
			if (shown.left <= 0) {
				hideKey();
				alerts.show({ message: 'The password was hidden after 2 minutes. Recover it again if you still need it (the reading is audited again).' });
				return;
			}
		};
		tick();
		shown.timer = setInterval(tick, 1000);
		heading.focus();
	}

	async function copy(status) {
		if (!shown || !shown.record) {
			return;
		}
		const text = shown.record.password;
		let ok = false;
		try {
			await navigator.clipboard.writeText(text);
			ok = true;
		} catch (e) {
			// Fallback: a temporary, off-screen text area, removed at once.
			const ta = h('textarea', { class: 'offscreen', readonly: true, 'aria-hidden': 'true' });
			ta.value = text;
			document.body.appendChild(ta);
			ta.select();
			try {
				ok = document.execCommand('copy');
			} catch (e2) {
				ok = false;
			}
			ta.value = '';
			ta.remove();
		}
		status.textContent = ok ? 'Copied.' : 'Copy failed: select the blocks and copy them.';
	}

	function fact(label, value) {
		return h('div', { class: 'fact' }, h('dt', { text: label }), h('dd', null, value));
	}

	form.addEventListener('submit', lookup);
	fill(main,
		h('h1', { tabindex: '-1', text: 'Recover' }),
		h('p', { class: 'lead' }, 'Find a recovery password to read to a user. Every reading is audited, and the password is spent once read.'),
		form,
		alerts.node,
		result);
	keyInput.focus();

	return hideKey;
}
