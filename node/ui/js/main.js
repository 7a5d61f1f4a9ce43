// main.js: start-up (identity, members), the navigation, and the router
// that shows one page per hash.

import * as api from './api.js';
import { h, fill, alertBox } from './dom.js';
import * as recover from './recover.js';
import * as machines from './machines.js';
import * as compliance from './compliance.js';
import * as audit from './audit.js';
import * as cluster from './cluster.js';

// Pages in navigation order, with the roles that may use them (the operator
// holds every role, and whoami lists them all in `roles`).
const PAGES = [
	{ id: 'recover', title: 'Recover', roles: ['helpdesk'], page: recover },
	{ id: 'machines', title: 'Machines', roles: ['helpdesk', 'auditor'], page: machines },
	{ id: 'compliance', title: 'Compliance', roles: ['auditor'], page: compliance },
	{ id: 'audit', title: 'Audit', roles: ['auditor'], page: audit },
	{ id: 'cluster', title: 'Cluster', roles: ['operator'], page: cluster },
];

const main = document.getElementById('main');
const nav = document.getElementById('nav-list');
const whoamiEl = document.getElementById('whoami');
const servedBy = document.getElementById('served-by');
const failoverNote = document.getElementById('failover-note');

let me = null;            // {actor, role, roles, node}
let current = null;       // {cleanup, alive}
let firstRender = true;

function allowed(page) {
	const roles = me.roles && me.roles.length ? me.roles : [me.role];
	return page.roles.some(r => roles.includes(r) || roles.includes('operator'));
}

function roleList(roles) {
	const words = roles.map(r => `the ${r} role`);
	return words.length === 1 ? words[0] : `${words.slice(0, -1).join(', ')} or ${words[words.length - 1]}`;
}

api.onAnswer(({ node, failedOver }) => {
	if (node) {
		servedBy.textContent = `Answered by node ${node}`;
	}
	// The notice stays (with its time) after later requests: the console
	// keeps talking to the node that answered.
	if (failedOver.length) {
		const who = failedOver.join(', ');
		const at = new Date().toISOString().slice(11, 19);
		failoverNote.textContent = `${who.charAt(0).toUpperCase()}${who.slice(1)} could not serve a request at ${at} UTC; node ${node || '?'} answered, and is asked first from now on.`;
		failoverNote.hidden = false;
	}
});

function parseHash() {
	const raw = location.hash.replace(/^#\/?/, '');
	const slash = raw.indexOf('/');
	const id = slash < 0 ? raw : raw.slice(0, slash);
	let rest = slash < 0 ? '' : raw.slice(slash + 1);
	try {
		rest = decodeURIComponent(rest);
	} catch (e) {
		// keep it as typed
	}
	return { id, rest };
}

function renderNav(activeId) {
	for (const a of nav.querySelectorAll('a')) {
		if (a.dataset.page === activeId) {
			a.setAttribute('aria-current', 'page');
		} else {
			a.removeAttribute('aria-current');
		}
	}
}

function refusedPage(page) {
	const roles = me.roles && me.roles.length ? me.roles : [me.role];
	return [
		h('h1', { tabindex: '-1', text: 'Not available' }),
		h('section', { class: 'panel refused' },
			h('p', { class: 'lead' },
				`The ${page.title} page needs ${roleList(page.roles)}. `,
				`This certificate (${me.actor}) has the ${roles.join(', ')} role`,
				roles.length > 1 ? 's.' : '.'),
			h('p', null, 'Ask an operator for a certificate with the right role, or go to a page listed above.')),
	];
}

function nothingPage() {
	return [
		h('h1', { tabindex: '-1', text: 'Not available' }),
		h('section', { class: 'panel refused' },
			h('p', { class: 'lead' },
				`This certificate (${me.actor}) has the ${me.role} role, which has no page in this console. `,
				'The console needs the helpdesk, auditor or operator role.')),
	];
}

function route() {
	if (current) {
		current.alive = false;
		if (current.cleanup) {
			current.cleanup();
		}
		current = null;
	}
	const { id, rest } = parseHash();
	const usable = PAGES.filter(allowed);
	let page = PAGES.find(p => p.id === id);
	if (!page) {
		if (usable.length === 0) {
			fill(main, nothingPage());
			renderNav(null);
			document.title = 'Not available · Escrow';
			return;
		}
		// No hash, or an unknown one: the first page this role may use.
		location.replace(`#${usable[0].id}`);
		return;
	}
	renderNav(page.id);
	const ctx = { alive: true, cleanup: null };
	current = ctx;
	if (!allowed(page)) {
		fill(main, refusedPage(page));
		document.title = 'Not available · Escrow';
	} else {
		document.title = `${page.title} · Escrow`;
		fill(main);
		ctx.cleanup = page.page.render(main, {
			me,
			rest,
			alive: () => ctx.alive,
			canUse: pageId => allowed(PAGES.find(p => p.id === pageId)),
		}) || null;
	}
	// After a navigation, focus goes to the new page's heading (unless the
	// page put it somewhere itself, as Recover does on its Key ID field).
	if (!firstRender && !main.contains(document.activeElement)) {
		const h1 = main.querySelector('h1');
		if (h1) {
			h1.focus();
		}
	}
	firstRender = false;
}

// The skip link cannot be a plain #main link: the hash picks the page.
document.querySelector('.skip-link').addEventListener('click', event => {
	event.preventDefault();
	main.focus();
});

async function start() {
	try {
		const who = await api.get('/v1/whoami');
		me = who.body;
	} catch (err) {
		fill(main, h('h1', { text: 'Escrow console' }), alertBox(err));
		return;
	}
	whoamiEl.textContent = `${me.actor} · ${me.role}`;
	try {
		const st = await api.get('/v1/status');
		api.setMembers(st.body.members);
	} catch (err) {
		// Without the members the console still works, without failover.
	}
	fill(nav, PAGES.filter(allowed).map(p =>
		h('li', null, h('a', { href: `#${p.id}`, 'data-page': p.id, text: p.title }))));
	window.addEventListener('hashchange', route);
	// Leaving the page (or the browser putting it away) drops a revealed
	// password too.
	window.addEventListener('pagehide', () => {
		if (current && current.cleanup) {
			current.cleanup();
		}
	});
	route();
}

start();
