// cluster.js: the Cluster page (operator): every member's own /v1/status
// and readiness, the leader, whether the state digests agree, and the
// snapshot download.

import * as api from './api.js';
import { h, fill, alertSlot, table, saveBlob } from './dom.js';

export function render(main, ctx) {
	const alerts = alertSlot();
	const summary = h('div', { class: 'cluster-summary' });
	const tableBox = h('div', { class: 'table-box' });
	const refresh = h('button', { type: 'button', class: 'secondary', text: 'Refresh' });
	const snapButton = h('button', { type: 'button', class: 'primary', text: 'Download snapshot' });
	const snapState = h('p', { class: 'muted small', role: 'status', 'aria-live': 'polite' });
	const updated = h('span', { class: 'muted small', 'aria-live': 'polite' });

	async function load() {
		alerts.hide();
		refresh.disabled = true;
		try {
			// The members, from whichever node answers.
			const first = await api.get('/v1/status');
			if (!ctx.alive()) {
				return;
			}
			api.setMembers(first.body.members);
			const members = (first.body.members || []).slice().sort((a, b) => a.id - b.id);
			// Then each member's own view, asked directly (no failover).
			const views = await Promise.all(members.map(memberView));
			if (!ctx.alive()) {
				return;
			}
			show(first.body, views);
			updated.textContent = `Updated ${new Date().toISOString().slice(11, 19)} UTC`;
		} catch (err) {
			if (ctx.alive()) {
				alerts.show(err);
			}
		} finally {
			refresh.disabled = false;
		}
	}

	function show(seen, views) {
		// The leader: the one that says it leads, else what the others think.
		const leaderView = views.find(v => v.status && v.status.role === 'leader');
		const leaderId = leaderView ? leaderView.member.id : (seen.leader ? seen.leader.id : null);
		const leaderReach = views.find(v => v.status && v.status.id === leaderId && v.status.role === 'leader');
		const reach = leaderReach ? Object.fromEntries((leaderReach.status.members || []).map(m => [m.id, m.reachable])) : {};
		const agreement = digestAgreement(views);

		fill(summary,
			h('div', { class: 'stat' },
				h('span', { class: 'stat-label', text: 'Leader' }),
				h('span', { class: 'stat-value', text: leaderId ? `Node ${leaderId}` : 'No leader' })),
			h('div', { class: 'stat' },
				h('span', { class: 'stat-label', text: 'Term' }),
				h('span', { class: 'stat-value', text: String(Math.max(0, ...views.filter(v => v.status).map(v => v.status.term))) })),
			h('div', { class: 'stat' },
				h('span', { class: 'stat-label', text: 'Answering' }),
				h('span', { class: 'stat-value', text: `${views.filter(v => v.status).length} of ${views.length}` })),
			h('div', { class: `stat stat-${agreement.ok ? 'good' : agreement.differ ? 'bad' : 'neutral'}` },
				h('span', { class: 'stat-label', text: 'State digest' }),
				h('span', { class: 'stat-value', text: agreement.text }),
				agreement.detail ? h('span', { class: 'stat-detail muted', text: agreement.detail }) : null));

		fill(tableBox, table('Members', [
			{ label: 'ID', class: 'num', cell: v => String(v.member.id) },
			{ label: 'Role', cell: v => roleCell(v) },
			{ label: 'API', cell: v => h('span', { class: 'mono', text: v.member.api || '—' }) },
			{ label: 'Reachable', cell: v => reachableCell(v, reach) },
			{ label: 'Health', cell: v => healthCell(v) },
			{ label: 'Applied index', class: 'num', cell: v => v.status ? String(v.status.applied_index) : '—' },
			{ label: 'Commit index', class: 'num', cell: v => v.status ? String(v.status.commit_index) : '—' },
			{ label: 'Term', class: 'num', cell: v => v.status ? String(v.status.term) : '—' },
			{ label: 'Digest', cell: v => digestCell(v) },
		], views, 'No member is known.'));
	}

	snapButton.addEventListener('click', async () => {
		snapButton.disabled = true;
		alerts.hide();
		snapState.textContent = 'The node is writing a snapshot…';
		try {
			// Served by the node asked; not retried on a timeout (it would
			// start a second snapshot, each one audited).
			const r = await api.get('/v1/snapshot', { kind: 'blob', timeoutMs: 300000, noRetryOnTimeout: true });
			const index = r.headers.get('X-Escrow-Snapshot-Index') || 'latest';
			const sha = r.headers.get('X-Escrow-Snapshot-Sha256');
			saveBlob(r.body, `escrow-${index}.snap`);
			if (ctx.alive()) {
				snapState.textContent = `Saved escrow-${index}.snap (${formatBytes(r.body.size)}, index ${index}, from node ${r.node})${sha ? `; payload SHA-256 ${sha}` : ''}. Check it with: escrowctl snapshot verify`;
			}
		} catch (err) {
			if (ctx.alive()) {
				snapState.textContent = '';
				alerts.show(err);
			}
		} finally {
			snapButton.disabled = false;
		}
	});
	refresh.addEventListener('click', load);

	fill(main,
		h('h1', { tabindex: '-1', text: 'Cluster' }),
		h('p', { class: 'lead', text: 'Each member as it sees itself: Raft role, indexes, health and the digest of the replicated state.' }),
		alerts.node,
		summary,
		h('section', { class: 'panel' },
			h('div', { class: 'toolbar' },
				h('h2', { text: 'Members' }),
				h('div', { class: 'toolbar-actions' }, updated, refresh)),
			tableBox),
		h('section', { class: 'panel' },
			h('h2', { text: 'Snapshot' }),
			h('p', { text: 'A consistent copy of the whole store (passwords stay sealed), written by the node this console talks to. The download is audited.' }),
			h('div', { class: 'actions' }, snapButton),
			snapState));
	load();
	return null;
}

async function memberView(member) {
	const view = { member, status: null, error: null, health: null };
	if (!member.api) {
		view.error = 'no API address';
		return view;
	}
	const base = api.baseOf(member.api);
	const [st, ready] = await Promise.allSettled([
		api.getAt(base, '/v1/status'),
		api.getAt(base, '/v1/health?ready'),
	]);
	if (st.status === 'fulfilled') {
		view.status = st.value.body;
	} else {
		view.error = st.reason.message;
	}
	if (ready.status === 'fulfilled') {
		view.health = { ok: true, text: 'Ready' };
	} else if (ready.reason.status) {
		view.health = { ok: false, text: ready.reason.code === 'catching_up' ? 'Catching up' : ready.reason.code === 'no_leader' ? 'No leader' : ready.reason.code };
	} else {
		view.health = { ok: false, text: 'Not answering' };
	}
	return view;
}

function roleCell(v) {
	const raftRole = v.status ? v.status.role : null;
	const membership = v.member.role;
	return h('span', { class: 'role' },
		raftRole ? h('span', { class: `badge badge-role-${raftRole}`, text: raftRole }) : h('span', { class: 'muted', text: 'unknown' }),
		membership && membership !== 'voter' ? h('span', { class: 'muted', text: ` ${membership}` }) : null);
}

function reachableCell(v, reach) {
	if (!v.status) {
		return h('span', { class: 'state state-bad', title: v.error || '', text: 'No' });
	}
	const leaderSays = reach[v.member.id];
	if (leaderSays === false) {
		return h('span', { class: 'state state-warn', text: 'Yes (leader cannot reach it)' });
	}
	return h('span', { class: 'state state-good', text: 'Yes' });
}

function healthCell(v) {
	if (!v.health) {
		return '—';
	}
	return h('span', { class: `state state-${v.health.ok ? 'good' : 'bad'}`, text: v.health.text });
}

function digestCell(v) {
	if (!v.status || !v.status.state_digest) {
		return '—';
	}
	return h('span', { class: 'digest' },
		h('span', { class: 'mono', title: v.status.state_digest, text: v.status.state_digest.slice(0, 12) }),
		h('span', { class: 'muted small', text: ` at ${v.status.digest_index}` }));
}

// Digests can be compared only between members at the same digest_index.
function digestAgreement(views) {
	const byIndex = new Map();
	for (const v of views) {
		if (!v.status || !v.status.state_digest) {
			continue;
		}
		const list = byIndex.get(v.status.digest_index) || [];
		list.push(v);
		byIndex.set(v.status.digest_index, list);
	}
	let compared = 0;
	const differ = [];
	for (const [index, list] of byIndex) {
		if (list.length < 2) {
			continue;
		}
		compared += list.length;
		if (new Set(list.map(v => v.status.state_digest)).size > 1) {
			differ.push(index);
		}
	}
	if (differ.length) {
		return { ok: false, differ: true, text: 'Digests differ', detail: `at index ${differ.join(', ')}` };
	}
	if (compared >= 2) {
		const indexes = [...byIndex.keys()];
		return {
			ok: true, differ: false, text: 'Digests agree',
			detail: `${compared} members compared${indexes.length === 1 ? ` at index ${indexes[0]}` : ''}`,
		};
	}
	return { ok: false, differ: false, text: 'Not comparable yet', detail: 'The members are at different indexes; refresh.' };
}

function formatBytes(n) {
	if (n < 1024) {
		return `${n} B`;
	}
	if (n < 1024 * 1024) {
		return `${(n / 1024).toFixed(1)} KiB`;
	}
	return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}
