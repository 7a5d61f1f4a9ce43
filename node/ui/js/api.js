// api.js: the console's only way to the cluster, with failover between
// members (docs/console.md "Failover").
//
// Every request goes first to the base that answered last ('' is the page's
// own origin). On a network error before any response, a timeout, or a 503,
// it goes on to the next member, in member order (https:// + the member's
// `api`, or http:// when the page itself is plain http). Requests are plain
// GETs with credentials: 'include' and no custom request header, so a
// request to another member needs no CORS preflight; the node that answered
// comes from the X-Escrow-Node response header.

const TIMEOUT_MS = 4000;
// A key read is an audited disclosure: if it times out, the node may have
// served it (audited it, marked it disclosed) without us seeing the answer,
// so it is NOT sent again to another member; the page shows an error
// instead. Only a network error before any response (the connection was
// refused or reset: nothing was served to us) or a 503 (the node refused to
// serve it) moves a key read to the next member. Its timeout is longer than
// the nodes' own 10 s wait for a leader, so that a node that is merely
// waiting for an election answers (a 503 or the key) before we give up.
const DISCLOSURE_TIMEOUT_MS = 15000;
// Requests that are not disclosures go round the members again, after a
// short pause, until this much time has passed (an election takes about a
// second; a killed leader's followers answer 503 or time out meanwhile).
const RETRY_WINDOW_MS = 12000;
const ROUND_PAUSE_MS = 400;

export class ApiError extends Error {
	constructor(status, code, message) {
		super(message);
		this.name = 'ApiError';
		this.status = status;
		this.code = code;
	}
}

const state = {
	bases: [''],     // '' = same origin; then every other member, in member order
	current: '',     // the base that answered last
	members: [],     // [{id, api, base}] from /v1/status
};
const listeners = new Set();

// fn({node, base, failedOver: [bases that did not answer]}) after every answer.
export function onAnswer(fn) {
	listeners.add(fn);
}

function scheme() {
	return location.protocol === 'http:' ? 'http://' : 'https://';
}

// Records the cluster's members (the `members` of /v1/status). The member
// whose api is this page's host is reached as '' (same origin, no CORS).
export function setMembers(members) {
	const bases = [];
	const list = [];
	let sawSelf = false;
	for (const m of members || []) {
		if (!m || !m.api) {
			continue;
		}
		const self = m.api === location.host;
		const base = self ? '' : scheme() + m.api;
		sawSelf = sawSelf || self;
		bases.push(base);
		list.push({ id: m.id, api: m.api, base });
	}
	if (!sawSelf) {
		bases.unshift('');
	}
	state.bases = bases;
	state.members = list;
	if (!bases.includes(state.current)) {
		state.current = '';
	}
}

export function members() {
	return state.members.slice();
}

// The base to reach one member directly (no failover): '' for this page's host.
export function baseOf(api) {
	return api === location.host ? '' : scheme() + api;
}

function rotation() {
	const i = Math.max(0, state.bases.indexOf(state.current));
	return state.bases.slice(i).concat(state.bases.slice(0, i));
}

function sleep(ms) {
	return new Promise(resolve => setTimeout(resolve, ms));
}

// "node 2 (127.0.0.1:8443)" for a member's base, its host otherwise.
function describe(base) {
	const host = base === '' ? location.host : base.replace(/^https?:\/\//, '');
	const m = state.members.find(x => x.base === base);
	return m ? `node ${m.id} (${host})` : host;
}

async function errorOf(resp) {
	let code = `http_${resp.status}`;
	let message = `The server answered ${resp.status} ${resp.statusText || ''}`.trim();
	try {
		const body = await resp.json();
		if (body && body.error) {
			code = body.error.code || code;
			message = body.error.message || message;
		}
	} catch (e) {
		// not JSON: keep the status line
	}
	return new ApiError(resp.status, code, message);
}

// One attempt at one base. Returns {resp, body} with the body read as
// `kind`, or {failure, retry} where retry says whether another member may
// be asked.
async function attempt(base, path, opts) {
	const ctl = new AbortController();
	const timeout = opts.timeoutMs || (opts.disclosure ? DISCLOSURE_TIMEOUT_MS : TIMEOUT_MS);
	const timer = setTimeout(() => ctl.abort(), timeout);
	let resp;
	try {
		resp = await fetch(base + path, {
			method: 'GET',
			credentials: 'include',
			cache: 'no-store',
			redirect: 'error',
			referrerPolicy: 'no-referrer',
			signal: ctl.signal,
		});
	} catch (e) {
		clearTimeout(timer);
		if (ctl.signal.aborted) {
			const failure = opts.disclosure
				? new ApiError(0, 'timeout',
					`${describe(base)} did not answer within ${Math.round(timeout / 1000)} s. ` +
					'The key may have been read all the same, so it was not asked of another node: ' +
					'try again in a moment (the Audit page shows whether it was read).')
				: new ApiError(0, 'timeout',
					`${describe(base)} did not answer within ${Math.round(timeout / 1000)} s.`);
			// A timed-out disclosure may have been served: never resend it.
			return { failure, retry: !opts.disclosure && !opts.noRetryOnTimeout };
		}
		return {
			failure: new ApiError(0, 'unreachable', `${describe(base)} could not be reached.`),
			retry: true,
		};
	}
	try {
		if (resp.status === 503) {
			// The node refused to serve it: another member may. The error
			// names the node that answered (a no_quorum answer offers a
			// break-glass read at that very node: recover.js).
			const failure = await errorOf(resp);
			failure.base = base;
			failure.node = resp.headers.get('X-Escrow-Node');
			return { failure, retry: true };
		}
		if (!resp.ok) {
			return { resp, failure: await errorOf(resp), retry: false };
		}
		let body;
		if (opts.kind === 'blob') {
			body = await resp.blob();
		} else if (opts.kind === 'text') {
			body = await resp.text();
		} else {
			body = await resp.json();
		}
		return { resp, body };
	} catch (e) {
		// The node answered, then the body did not arrive whole: no retry
		// (the request was served).
		const failure = ctl.signal.aborted
			? new ApiError(0, 'timeout', `${describe(base)} stopped sending its answer.`)
			: new ApiError(0, 'bad_answer', `${describe(base)} sent an incomplete answer.`);
		return { failure, retry: false };
	} finally {
		clearTimeout(timer);
	}
}

// Tells the listeners that `base` answered (any status but 503).
function answered(base, resp, failedOver) {
	state.current = base;
	const node = resp.headers.get('X-Escrow-Node');
	for (const fn of listeners) {
		fn({ node, base, failedOver: failedOver.slice() });
	}
	return node;
}

// GET path with failover. opts: kind 'json' (default) | 'text' | 'blob';
// disclosure: true for key reads (see DISCLOSURE_TIMEOUT_MS); timeoutMs.
// Resolves to {body, headers, node}; rejects with an ApiError. When no
// member served it but one answered 503, that answer is the error (with
// `base` and `node` naming who gave it), not "no member answered".
export async function get(path, opts = {}) {
	const started = Date.now();
	const failedOver = [];
	// Members that answered a key read with 503 no_quorum: each waited
	// 10 s for a leader before it said so, and is not asked again within
	// this request (the others still are).
	const noQuorum = new Set();
	let last = null;
	let refused = null;   // the last 503 answer
	for (let round = 0; ; round++) {
		for (const base of rotation()) {
			if (noQuorum.has(base)) {
				continue;
			}
			const r = await attempt(base, path, opts);
			if (r.resp && !r.failure) {
				const node = answered(base, r.resp, failedOver);
				return { body: r.body, headers: r.resp.headers, node };
			}
			last = r.failure;
			if (r.resp) {
				// A real answer (4xx, 5xx but 503): the node is alive.
				answered(base, r.resp, failedOver);
				throw last;
			}
			if (!r.retry) {
				throw last;
			}
			if (last.status === 503) {
				refused = last;
				if (opts.disclosure && last.code === 'no_quorum') {
					noQuorum.add(base);
				}
			}
			if (!failedOver.includes(describe(base))) {
				failedOver.push(describe(base));
			}
		}
		if (Date.now() - started + ROUND_PAUSE_MS > RETRY_WINDOW_MS) {
			break;
		}
		await sleep(ROUND_PAUSE_MS);
	}
	if (refused) {
		throw refused;
	}
	throw new ApiError(0, 'unreachable',
		`No member of the cluster answered (tried ${failedOver.join(', ') || 'none'}).`);
}

// A key read at one member only (a break-glass read, which must be served
// by the node that answered no_quorum): never sent to another member, never
// sent again, whatever the answer or its absence. Resolves and rejects as
// get().
export async function readAt(base, path, opts = {}) {
	const r = await attempt(base, path, { ...opts, disclosure: true });
	if (r.resp) {
		const node = answered(base, r.resp, []);
		if (!r.failure) {
			return { body: r.body, headers: r.resp.headers, node };
		}
	}
	throw r.failure;
}

// GET path at one member only (no failover), e.g. each member's /v1/status.
export async function getAt(base, path, opts = {}) {
	const r = await attempt(base, path, { timeoutMs: 3000, ...opts });
	if (r.failure) {
		throw r.failure;
	}
	return { body: r.body, headers: r.resp.headers, node: r.resp.headers.get('X-Escrow-Node') };
}

// Builds "?a=1&b=2" from the entries whose value is not empty.
export function query(params) {
	const q = new URLSearchParams();
	for (const [name, value] of Object.entries(params)) {
		if (value !== undefined && value !== null && value !== '') {
			q.set(name, String(value));
		}
	}
	const s = q.toString();
	return s ? `?${s}` : '';
}
