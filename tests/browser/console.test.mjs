// Browser tests of the web console (docs/console.md, issue 13), run by
// tests/test_console.py: `node console.test.mjs CONFIG` with
// NODE_EXTRA_CA_CERTS naming the cluster's ca.crt. CONFIG (JSON) names the
// nodes (url, pid), the certificate and key of each role, the seeded keys
// and machines and the screenshot directory.
//
// Output, one line each: `plan N`, `case NAME` for every case, then per case
// `ok - NAME` or `not ok - NAME` followed by `# ...` diagnostics. To kill a
// node the script prints `KILL ID` and waits for `KILLED ID RC` on stdin
// (test_console.py sends the SIGKILL and reaps the process); to start a
// killed node again, `RESTART ID` and `RESTARTED ID ok` (or `... error: WHY`).
//
// How Playwright presents client certificates (the spike, read off
// playwright-core 1.61 and its source, socksClientCertificatesInterceptor.ts,
// and checked by the first two cases below):
// - newContext({clientCertificates: [{origin, certPath, keyPath}]}) (or
//   {origin, pfxPath, passphrase}) launches the browser behind a SOCKS proxy
//   inside this Node process. For an origin that has a certificate, the proxy
//   ends the browser's TLS with a throwaway certificate of its own and opens
//   its own TLS connection to the server with Node's tls module, presenting
//   the client certificate. Node checks the server's certificate against its
//   CAs, hence NODE_EXTRA_CA_CERTS=ca.crt (ignoreHTTPSErrors would skip the
//   check). Each node's origin must be listed: the certificates are per origin.
// - The proxy relays bytes after TLS: the request a page sends reaches the
//   node unchanged, with its Origin, Sec-Fetch-Site, Sec-Fetch-Mode and Host
//   headers (seen on an echo server and by the node's own cross-origin
//   refusal). The ALPN the browser offers is passed on (escrowd speaks
//   http/1.1).
// - A cross-origin fetch(..., {credentials: 'include'}) from node 1's page
//   to node 2 presents the certificate too: the proxy works per connection,
//   whatever the page. (Between nodes on 127.0.0.1 the browser says
//   Sec-Fetch-Site: same-site, the port being no part of the site.)
// - A TLS failure between the proxy and the server (say, an untrusted CA)
//   reaches the page as an HTTP 503 "Playwright client-certificate error";
//   a refused TCP connection (a killed node) as a network error, as a real
//   browser would see it.
// - clientCertificates proxies every connection of the context; a route
//   (page.route) answers before any connection, so a made-up origin such as
//   https://evil.test never leaves the browser.

import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import readline from 'node:readline';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';

const require = createRequire(import.meta.url);
const AXE_SOURCE = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

const cfg = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const T = cfg.timeout_ms || 15000;
const CA = fs.readFileSync(cfg.ca);
const SEED = cfg.seed;
const KEYS = SEED.keys;
const MACHINES = SEED.machines;
const ORIGINS = cfg.nodes.map((n) => n.url);
const HELPDESK = cfg.people.helpdesk;   // CN of a helpdesk person
const AUDITOR = cfg.people.auditor;     // CN of an auditor person
const EVIL = 'https://evil.test';
const killed = new Set();

const PAGES = [
  { hash: 'recover', name: 'Recover', roles: ['helpdesk'] },
  { hash: 'machines', name: 'Machines', roles: ['helpdesk', 'auditor'] },
  { hash: 'compliance', name: 'Compliance', roles: ['auditor'] },
  { hash: 'audit', name: 'Audit', roles: ['auditor'] },
  { hash: 'cluster', name: 'Cluster', roles: ['operator'] },
];
// The client roles each certificate holds (an operator holds every one).
const HOLDS = {
  agent: ['agent'], helpdesk: ['helpdesk'], auditor: ['auditor'],
  operator: ['agent', 'helpdesk', 'auditor', 'operator'],
};
const ROLE_OF = { [HELPDESK]: 'helpdesk', [AUDITOR]: 'auditor' };

// ------------------------------------------------------------ small helpers

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

class Failure extends Error {}

function check(cond, msg) {
  if (!cond) throw new Failure(msg);
}

function short(v, n = 300) {
  let s = typeof v === 'string' ? v : JSON.stringify(v);
  s = String(s).replace(/\d{6}(-\d{6}){7}/g, '<password>').replace(/\s+/g, ' ');
  return s.length > n ? s.slice(0, n) + '...' : s;
}

function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Failure(`${what}: no end after ${ms / 1000} s`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

async function until(fn, what, ms = T) {
  const deadline = Date.now() + ms;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e.message;
    }
    if (Date.now() > deadline) throw new Failure(`${what} (after ${ms / 1000} s; last: ${short(last)})`);
    await sleep(100);
  }
}

const liveNodes = () => cfg.nodes.filter((n) => !killed.has(n.id));
const nodeById = (id) => cfg.nodes.find((n) => n.id === id);
const certOf = (role) => cfg.certs[role];
const roleOf = (cn) => ROLE_OF[cn] || cn;

// ------------------------------------------------------------ stdin answers

const answers = [];
const answerWaiters = [];
readline.createInterface({ input: process.stdin }).on('line', (line) => {
  answers.push(line);
  for (const w of answerWaiters.splice(0)) w();
});

// Prints `request` and resolves the rest of the first answer line that
// starts with `prefix` (30 s at most).
async function ask(request, prefix, what) {
  console.log(request);
  const deadline = Date.now() + 30000;
  for (;;) {
    const i = answers.findIndex((a) => a.startsWith(prefix));
    if (i >= 0) return answers.splice(i, 1)[0].slice(prefix.length);
    check(Date.now() < deadline, `${what}: no answer within 30 s`);
    await new Promise((r) => { answerWaiters.push(r); setTimeout(r, 500); });
  }
}

async function killNode(id) {
  await ask(`KILL ${id}`, `KILLED ${id} `, `kill node ${id}`);
  killed.add(id);
}

async function restartNode(id) {
  const rest = await ask(`RESTART ${id}`, `RESTARTED ${id} `, `restart node ${id}`);
  check(rest === 'ok', `restart node ${id}: ${rest}`);
  killed.delete(id);
}

// ------------------------------------------------------------ the API, from Node

// One request with the certificate of `who` to a node (default: the first
// live one). Resolves {status, headers, text, json}; status 0 on a
// transport error.
function api(who, urlPath, { node, method = 'GET', headers = {}, body = null, timeout = T } = {}) {
  const n = node ? nodeById(node) : liveNodes()[0];
  const url = new URL(urlPath, n.url);
  const c = certOf(who);
  return new Promise((resolve) => {
    const req = https.request(url, {
      method, headers, ca: CA, cert: fs.readFileSync(c.cert), key: fs.readFileSync(c.key),
      agent: false, timeout,
    }, (res) => {
      const chunks = [];
      res.on('data', (d) => chunks.push(d));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json = null;
        try { json = JSON.parse(text); } catch { /* not JSON */ }
        resolve({ status: res.statusCode, headers: res.headers, text, json });
      });
      res.on('error', (e) => resolve({ status: 0, headers: {}, text: String(e), json: null }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (e) => resolve({ status: 0, headers: {}, text: String(e), json: null }));
    if (body !== null) req.end(body); else req.end();
  });
}

async function apiOk(who, urlPath, opts) {
  for (let attempt = 0; ; attempt++) {
    const r = await api(who, urlPath, opts);
    if (r.status === 200) return r;
    // A node's lookup of the leader after a kill may take a moment.
    if ((r.status === 0 || r.status === 503) && attempt < 40) { await sleep(250); continue; }
    throw new Failure(`GET ${urlPath} as ${who}: ${r.status} ${short(r.text)}`);
  }
}

async function lastSeq() {
  return (await apiOk(AUDITOR, '/v1/reports/audit?limit=1')).json.last_seq;
}

async function auditSince(seq) {
  return (await apiOk(AUDITOR, `/v1/reports/audit?since=${seq}&limit=10000`)).json.entries;
}

async function keyRecord(rec) {
  const r = await apiOk('helpdesk', `/v1/machines/${encodeURIComponent(rec.machine)}/keys`);
  const k = r.json.keys.find((x) => x.key_id === rec.key_id);
  check(k, `key ${rec.key_id} not among the keys of ${rec.machine}`);
  return k;
}

async function expectUndisclosed(rec, what) {
  const k = await keyRecord(rec);
  check(k.disclosed_at === null, `${what}: key ${rec.key_id} has disclosed_at ${k.disclosed_at}`);
}

// ------------------------------------------------------------ the browser

let browser;

function certificates(who, origins = ORIGINS) {
  const c = certOf(who);
  return origins.map((origin) => ({ origin, certPath: c.cert, keyPath: c.key }));
}

async function newContext(who, opts = {}) {
  const ctx = await browser.newContext({
    clientCertificates: certificates(who),
    viewport: { width: 1280, height: 800 },
    acceptDownloads: true,
    ...opts,
  });
  ctx.setDefaultTimeout(T);
  ctx.setDefaultNavigationTimeout(T);
  return ctx;
}

// What a page did: its errors, CSP violations and the node's answers.
function watch(page) {
  const w = { errors: [], csp: [], responses: [], navigations: 0 };
  page.on('pageerror', (e) => w.errors.push(String(e)));
  page.on('console', (m) => {
    const text = m.text();
    if (/Content Security Policy|Refused to/i.test(text)) w.csp.push(text);
    else if (m.type() === 'error' && !/Failed to load resource|net::ERR_/.test(text)) w.errors.push(text);
  });
  page.on('response', (r) => w.responses.push(r));
  page.on('framenavigated', (f) => { if (f === page.mainFrame()) w.navigations++; });
  return w;
}

function checkClean(w, what) {
  check(w.csp.length === 0, `${what}: CSP violations: ${short(w.csp, 600)}`);
  check(w.errors.length === 0, `${what}: page errors: ${short(w.errors, 600)}`);
}

// Opens the console on node `node` (default: the first live one) at #hash
// and waits until it knows who it talks to.
async function openConsole(ctx, hash = '', node) {
  const n = node ? nodeById(node) : liveNodes()[0];
  const page = await ctx.newPage();
  const w = watch(page);
  const resp = await page.goto(`${n.url}/ui/${hash ? '#' + hash : ''}`);
  check(resp && resp.status() === 200, `GET /ui/ on node ${n.id}: ${resp && resp.status()}`);
  await until(async () => (await page.locator('#whoami').textContent()).trim().length > 0,
    'the console shows no identity in #whoami');
  return { page, w, node: n };
}

async function gotoPage(page, hash) {
  await page.evaluate((h) => { location.hash = h; }, hash);
  await sleep(50);
}

async function h1(page) {
  const heading = page.locator('h1:visible');
  await until(async () => (await heading.count()) === 1, 'not exactly one visible h1');
  return (await heading.textContent()).trim();
}

async function waitH1(page, name) {
  await until(async () => (await h1(page)) === name, `the page's h1 is not "${name}"`);
}

// Presses Tab until `locator` has the focus (at most `max` times).
async function tabTo(page, locator, what, max = 60) {
  for (let i = 0; i < max; i++) {
    if (await locator.evaluate((el) => el === document.activeElement).catch(() => false)) return;
    await page.keyboard.press('Tab');
  }
  throw new Failure(`${what}: not reached with ${max} Tab presses`);
}

function recoverForm(page) {
  return {
    keyId: page.getByLabel('Key ID', { exact: true }),
    reason: page.getByLabel('Reason', { exact: true }),
    note: page.getByLabel('Note', { exact: true }),
    button: page.getByRole('button', { name: 'Recover', exact: true }),
  };
}

async function revealed(page) {
  const region = page.getByRole('region', { name: 'Recovery password' });
  await region.waitFor({ state: 'visible' });
  const blocks = await region.locator('.pw-block').allTextContents();
  return { region, blocks: blocks.map((b) => b.trim()) };
}

// The text of the page's main part (without the header, which names the
// certificate anyway).
async function pageMain(page) {
  const main = page.locator('main:visible');
  if ((await main.count()) === 1) return main.innerText();
  return page.locator('h1:visible').locator('xpath=..').innerText();
}

// {compliant: N, ...} read off #counts, whether each number comes before or
// after its label.
function parseCounts(text) {
  const tokens = text.split(/[\s:·,()]+/).filter(Boolean);
  const numberFirst = /^\d+$/.test(tokens[0]);
  const out = {};
  tokens.forEach((tok, i) => {
    const label = tok.toLowerCase();
    if (!['compliant', 'noncompliant', 'exempt', 'unknown'].includes(label)) return;
    const n = tokens[numberFirst ? i - 1 : i + 1];
    if (/^\d+$/.test(n || '')) out[label] = Number(n);
  });
  return out;
}

// A locator inside the password's region, or anywhere on the page when the
// region has none.
async function near(region, page, make) {
  const inside = make(region);
  return (await inside.count()) ? inside : make(page);
}

async function pageText(page) {
  return page.evaluate(() => document.body.innerText);
}

function servedBy(page) {
  return page.locator('#served-by').textContent().then((t) => t.trim());
}

// The password is nowhere in the page (its blocks neither).
async function passwordAbsent(page, pw, what) {
  const html = await page.content();
  check(!html.includes(pw) && !html.includes(pw.replace(/-/g, '')),
    `${what}: the password is in the page`);
  const blocks = (await page.locator('.pw-block').allTextContents()).map((b) => b.trim()).join('-');
  check(blocks !== pw, `${what}: the password's blocks are in the page`);
}

// No password at all in the page.
async function noPasswordIn(page, pw, what) {
  await passwordAbsent(page, pw, what);
  check((await page.locator('.pw-block').count()) === 0, `${what}: .pw-block elements remain`);
}

async function storageEmpty(ctx, page, what) {
  const cookies = await ctx.cookies();
  check(cookies.length === 0, `${what}: cookies ${short(cookies)}`);
  const st = await page.evaluate(() => ({ local: localStorage.length, session: sessionStorage.length }));
  check(st.local === 0 && st.session === 0, `${what}: web storage used: ${JSON.stringify(st)}`);
}

function securityHeaderProblems(h, kind) {
  const problems = [];
  const csp = h['content-security-policy'] || '';
  const directives = Object.fromEntries(csp.split(';').map((d) => d.trim()).filter(Boolean)
    .map((d) => { const [k, ...v] = d.split(/\s+/); return [k, v]; }));
  if (/'unsafe-inline'|'unsafe-eval'/.test(csp)) problems.push(`CSP allows unsafe-*: ${csp}`);
  const want = { 'default-src': ["'none'"], 'script-src': ["'self'"], 'frame-ancestors': ["'none'"],
    'base-uri': ["'none'"], 'form-action': ["'self'"], 'style-src': ["'self'"] };
  for (const [k, v] of Object.entries(want)) {
    if (JSON.stringify(directives[k]) !== JSON.stringify(v)) problems.push(`CSP ${k} is ${directives[k]}`);
  }
  const connect = directives['connect-src'] || [];
  for (const o of ["'self'", ...ORIGINS]) if (!connect.includes(o)) problems.push(`connect-src lacks ${o}`);
  if (h['x-content-type-options'] !== 'nosniff') problems.push('no nosniff');
  if (h['x-frame-options'] !== 'DENY') problems.push(`X-Frame-Options ${h['x-frame-options']}`);
  if (h['referrer-policy'] !== 'no-referrer') problems.push(`Referrer-Policy ${h['referrer-policy']}`);
  if (kind === 'file') {
    if (h['cache-control'] !== 'no-cache') problems.push(`Cache-Control ${h['cache-control']}`);
    if (!h.etag) problems.push('no ETag');
  } else if (h['cache-control'] !== 'no-store') {
    problems.push(`Cache-Control ${h['cache-control']}`);
  }
  return problems;
}

async function screenshot(page, name, sizes = [[1280, 800], [390, 844]]) {
  for (const [width, height] of sizes) {
    await page.setViewportSize({ width, height });
    await sleep(150);
    await page.screenshot({ path: path.join(cfg.screenshots, `${name}-${width}x${height}.png`), fullPage: true });
  }
  await page.setViewportSize({ width: 1280, height: 800 });
}

async function axeCheck(page, what) {
  if (!(await page.evaluate(() => typeof window.axe !== 'undefined'))) {
    // Evaluated by the debugger protocol, not as a page script: the page's
    // CSP (script-src 'self') does not apply and stays in force.
    await page.evaluate(AXE_SOURCE);
  }
  const result = await page.evaluate(async () => {
    const r = await window.axe.run(document, { resultTypes: ['violations'] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help,
      nodes: v.nodes.slice(0, 3).map((n) => n.target.join(' ')) }));
  });
  const bad = result.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  check(bad.length === 0, `${what}: axe: ${bad.map((v) => `${v.impact} ${v.id} (${v.help}) at ${v.nodes.join(', ')}`).join('; ')}`);
  return result.filter((v) => !bad.includes(v));
}

// Waits for a download started by `action`; resolves its content.
async function download(page, action) {
  const [dl] = await Promise.all([page.waitForEvent('download'), action()]);
  const file = await dl.path();
  return { name: dl.suggestedFilename(), data: fs.readFileSync(file) };
}

// ------------------------------------------------------------ cases

const cases = [];
const test = (name, fn, ms = 60000) => cases.push({ name, fn, ms });

test('client certificate: PEM and .p12 (PKCS 12) presented through Playwright, CA from NODE_EXTRA_CA_CERTS', async (d) => {
  const c = certOf(HELPDESK);
  const variants = [['PEM', ORIGINS.map((origin) => ({ origin, certPath: c.cert, keyPath: c.key }))]];
  check(cfg.p12, 'no PKCS#12 file (openssl missing?)');
  variants.push(['PKCS#12', ORIGINS.map((origin) => ({ origin, pfxPath: cfg.p12.path, passphrase: cfg.p12.passphrase }))]);
  for (const [kind, clientCertificates] of variants) {
    const ctx = await browser.newContext({ clientCertificates });
    try {
      for (const n of cfg.nodes) {
        const page = await ctx.newPage();
        const resp = await page.goto(`${n.url}/v1/whoami`, { timeout: T });
        const body = JSON.parse(await resp.text());
        check(resp.status() === 200 && body.actor === HELPDESK && body.role === 'helpdesk'
          && body.node === n.id && resp.headers()['x-escrow-node'] === String(n.id),
        `${kind}: GET /v1/whoami on node ${n.id}: ${resp.status()} ${short(body)}`);
        await page.close();
      }
      d(`${kind}${kind === 'PKCS#12' ? ` (made by ${cfg.p12.by})` : ''}: node 1..${cfg.nodes.length} saw CN ${HELPDESK}`);
    } finally {
      await ctx.close();
    }
  }
});

test('client certificate: a page\'s Origin and Sec-Fetch-Site reach the node unchanged; a cross-origin fetch presents the certificate', async (d) => {
  // Two echo servers with the cluster's spare node certificates tell what
  // arrives through the proxy.
  const seen = [];
  const servers = [];
  for (const name of ['node-4', 'node-5']) {
    const srv = https.createServer({
      key: fs.readFileSync(path.join(cfg.pki, `${name}.key`)),
      cert: fs.readFileSync(path.join(cfg.pki, `${name}.crt`)),
      ca: CA, requestCert: true, rejectUnauthorized: false,
    }, (req, res) => {
      const peer = req.socket.getPeerCertificate();
      seen.push({ url: req.url, host: req.headers.host, origin: req.headers.origin,
        site: req.headers['sec-fetch-site'], mode: req.headers['sec-fetch-mode'],
        cn: peer && peer.subject ? peer.subject.CN : null });
      res.writeHead(200, { 'content-type': 'text/html', 'access-control-allow-origin': req.headers.origin || '*',
        'access-control-allow-credentials': 'true' });
      res.end('<!doctype html><title>echo</title><p>echo</p>');
    });
    await new Promise((r) => srv.listen(0, '127.0.0.1', r));
    servers.push({ srv, origin: `https://127.0.0.1:${srv.address().port}` });
  }
  const [a, b] = servers;
  const ctx = await browser.newContext({ clientCertificates: certificates(HELPDESK, [...ORIGINS, a.origin, b.origin]) });
  try {
    const page = await ctx.newPage();
    const responses = [];
    page.on('response', (r) => responses.push(r));
    await page.goto(`${a.origin}/page`);
    const got = await page.evaluate(async (u) => (await fetch(u, { credentials: 'include' })).status, `${b.origin}/fetch`);
    check(got === 200, `fetch to the second echo server: ${got}`);
    const nav = seen.find((s) => s.url === '/page');
    const xf = seen.find((s) => s.url === '/fetch');
    check(nav && nav.site === 'none' && !nav.origin && nav.cn === HELPDESK, `navigation seen as ${short(nav)}`);
    check(xf && xf.origin === a.origin && xf.site === 'same-site' && xf.mode === 'cors'
      && xf.cn === HELPDESK && xf.host === b.origin.slice(8), `cross-origin fetch seen as ${short(xf)}`);
    d(`echo: a cross-origin fetch arrives with Origin ${xf.origin}, Sec-Fetch-Site ${xf.site}, CN ${xf.cn}`);
    // The node itself: refused from the echo page's origin; from node 1's
    // page, node 2 serves it and names node 1's origin in its CORS answer,
    // so Origin arrived unchanged (without it, Sec-Fetch-Site same-site would
    // have been refused) and the certificate was presented.
    const refused = await page.evaluate(async (u) => {
      try { const r = await fetch(u, { credentials: 'include' }); return `status ${r.status}`; } catch (e) { return 'blocked'; }
    }, `${ORIGINS[0]}/v1/whoami`);
    check(refused === 'blocked', `fetch of node 1 from the echo page: ${refused}`);
    await page.goto(`${ORIGINS[0]}/v1/status`);
    const who = await page.evaluate(async (u) => {
      const r = await fetch(u, { credentials: 'include' });
      return { status: r.status, node: r.headers.get('x-escrow-node'), body: await r.json() };
    }, `${ORIGINS[1]}/v1/whoami`);
    check(who.status === 200 && who.body.actor === HELPDESK && who.node === String(cfg.nodes[1].id),
      `fetch of node 2 from node 1's page: ${short(who)}`);
    const r2 = responses.find((r) => r.url() === `${ORIGINS[1]}/v1/whoami`);
    check(r2, 'no response event for the fetch of node 2');
    const acao = (await r2.allHeaders())['access-control-allow-origin'];
    const sent = await r2.request().allHeaders();
    check(acao === ORIGINS[0] && sent.origin === ORIGINS[0], `node 2's CORS answer names ${acao}; the page sent Origin ${sent.origin}`);
    d(`node 1's page read node 2's /v1/whoami: actor ${who.body.actor}, X-Escrow-Node ${who.node}`);
  } finally {
    await ctx.close();
    for (const s of servers) s.srv.close();
  }
});

test('security headers: CSP without unsafe-*, frame-ancestors none, members in connect-src, on every page and file', async (d) => {
  const ctx = await newContext('operator');
  try {
    const { page, w } = await openConsole(ctx, 'recover');
    for (const p of PAGES) {
      await gotoPage(page, p.hash);
      await waitH1(page, p.name);
    }
    await gotoPage(page, `machines/${MACHINES.compliant}`);
    await sleep(500);
    const seen = new Set();
    for (const r of w.responses) {
      const url = r.url();
      if (!ORIGINS.some((o) => url.startsWith(o + '/'))) continue;
      const kind = new URL(url).pathname.startsWith('/ui/') ? 'file' : 'api';
      const h = await r.allHeaders();
      const problems = securityHeaderProblems(h, kind);
      check(problems.length === 0, `${url} (${r.status()}): ${problems.join('; ')}`);
      seen.add(new URL(url).pathname);
    }
    const files = [...seen].filter((p) => p.startsWith('/ui/'));
    check(files.length >= 2, `the console loaded only ${files.join(', ')}: no script or style?`);
    const inline = await page.evaluate(() => ({
      scripts: [...document.scripts].filter((s) => !s.src).length,
      styles: document.querySelectorAll('style').length,
    }));
    check(inline.scripts === 0 && inline.styles === 0, `inline script/style in the page: ${JSON.stringify(inline)}`);
    checkClean(w, 'console pages');
    d(`checked ${seen.size} paths: ${[...seen].sort().join(' ')}`);
  } finally {
    await ctx.close();
  }
});

for (const who of ['agent', HELPDESK, AUDITOR, 'operator']) {
  const role = roleOf(who);
  test(`roles: ${who} (${role}) sees exactly its pages; the others say "Not available"`, async (d) => {
    const ctx = await newContext(who);
    try {
      const { page, w } = await openConsole(ctx);
      const allowed = PAGES.filter((p) => p.roles.some((r) => HOLDS[role].includes(r)));
      const nav = page.getByRole('navigation', { name: 'Pages' });
      const want = JSON.stringify(allowed.map((p) => p.name));
      let links = [];
      await until(async () => {
        links = (await nav.getByRole('link').allTextContents()).map((s) => s.trim());
        return JSON.stringify(links) === want;
      }, `nav links are not ${want}`, 5000).catch(() => { throw new Failure(`nav links ${JSON.stringify(links)}, expected ${want}`); });
      // An agent has no pages: the nav matches before /v1/whoami has answered.
      let ident = '';
      await until(async () => {
        ident = (await page.locator('#whoami').textContent()).trim();
        return ident.includes(who) && ident.includes(role);
      }, `#whoami says "${ident}"`, 5000).catch(() => { throw new Failure(`#whoami says "${ident}"`); });
      for (const p of PAGES) {
        await gotoPage(page, p.hash);
        if (allowed.includes(p)) {
          await waitH1(page, p.name);
          check(!(await pageText(page)).includes('Not available'), `${p.name}: says Not available`);
        } else {
          await waitH1(page, 'Not available');
          const main = await pageMain(page);
          for (const word of [p.name, ...p.roles, who, role]) {
            check(main.includes(word), `${p.name} refused without naming "${word}": ${short(main)}`);
          }
          if (who === HELPDESK && p.hash === 'audit') await screenshot(page, 'not-available');
        }
      }
      checkClean(w, who);
      d(`${who}: nav ${links.join(', ') || '(none)'}`);
    } finally {
      await ctx.close();
    }
  });
}

test('recover: the whole flow by keyboard only; the password shown is the one escrowed, audited, cleared', async (d) => {
  const rec = KEYS.keyboard;
  const ctx = await newContext(HELPDESK);
  try {
    const origin = ORIGINS[0];
    await ctx.grantPermissions(['clipboard-read', 'clipboard-write'], { origin });
    const { page, w } = await openConsole(ctx, 'recover', cfg.nodes[0].id);
    await waitH1(page, 'Recover');
    const seq = await lastSeq();
    const f = recoverForm(page);
    await tabTo(page, f.keyId, 'Key ID');
    await page.keyboard.type(rec.key_id.toLowerCase());
    await tabTo(page, f.reason, 'Reason');
    // Type-ahead on a focused select chooses "Lost PIN"; the arrows if not.
    await page.keyboard.type('Lost PIN');
    for (let i = 0; i < 12 && (await f.reason.inputValue()) !== 'lost_pin'; i++) await page.keyboard.press('ArrowUp');
    for (let i = 0; i < 12 && (await f.reason.inputValue()) !== 'lost_pin'; i++) await page.keyboard.press('ArrowDown');
    check((await f.reason.inputValue()) === 'lost_pin', `Reason is ${await f.reason.inputValue()}`);
    await tabTo(page, f.note, 'Note');
    await page.keyboard.type('ticket 4711, by keyboard');
    await tabTo(page, f.button, 'the Recover button');
    await page.keyboard.press('Enter');
    const { region, blocks } = await revealed(page);
    check(blocks.length === 8 && blocks.join('-') === rec.recovery_password,
      `the page shows ${blocks.length} blocks, not the escrowed password`);
    const font = await region.locator('.pw-block').first().evaluate((el) => getComputedStyle(el).fontFamily);
    check(/mono|courier|consolas|menlo/i.test(font), `the password's font is not monospaced: ${font}`);
    const text = await region.innerText();
    for (const want of [rec.machine, rec.volume_id, rec.user, rec.key_id]) {
      check(text.toLowerCase().includes(want.toLowerCase()), `the region lacks "${want}": ${short(text)}`);
    }
    for (const term of ['Machine', 'Volume', 'User', 'Key ID']) {
      const dt = await near(region, page, (s) => s.locator('dl dt', { hasText: term }));
      check((await dt.count()) >= 1, `no "${term}" in a dl of the key`);
    }
    const pageAll = await pageText(page);
    check(/spent/i.test(pageAll) && /rotate/i.test(pageAll), 'no notice saying the password is spent and to rotate it');
    check(/^Answered by node \d+$/.test(await servedBy(page)), `#served-by: "${await servedBy(page)}"`);
    // Copy, by keyboard.
    await tabTo(page, await near(region, page, (s) => s.getByRole('button', { name: 'Copy', exact: true })), 'Copy');
    await page.keyboard.press('Enter');
    const clip = await until(() => page.evaluate(() => navigator.clipboard.readText()), 'nothing copied', 5000);
    check(clip.replace(/\D/g, '') === rec.recovery_password.replace(/\D/g, ''), 'Copy copied something else');
    // Audited once, by this person, with the reason and note; disclosed.
    const entries = (await auditSince(seq)).filter((e) => e.key_id === rec.key_id);
    check(entries.length === 1 && entries[0].action === 'key.read' && entries[0].actor === HELPDESK
      && entries[0].reason === 'lost_pin' && entries[0].note === 'ticket 4711, by keyboard',
    `audit entries for the key: ${short(entries)}`);
    check((await keyRecord(rec)).disclosed_at !== null, 'disclosed_at still null after the lookup');
    await storageEmpty(ctx, page, 'after the lookup');
    // Clear, by keyboard.
    await tabTo(page, await near(region, page, (s) => s.getByRole('button', { name: 'Clear', exact: true })), 'Clear');
    await page.keyboard.press('Enter');
    await until(async () => (await page.getByRole('region', { name: 'Recovery password' }).count()) === 0, 'Clear left the region');
    await noPasswordIn(page, rec.recovery_password, 'after Clear');
    checkClean(w, 'recover');
    d(`revealed and cleared ${rec.key_id}; audit entry seq ${entries[0].seq}`);
  } finally {
    await ctx.close();
  }
});

test('recover: a prefix with several matches lists them, reveals nothing until one is chosen', async (d) => {
  const [a, b] = [KEYS.pair_a, KEYS.pair_b];
  const ctx = await newContext(HELPDESK);
  try {
    const { page, w } = await openConsole(ctx, 'recover');
    await waitH1(page, 'Recover');
    const seq = await lastSeq();
    const f = recoverForm(page);
    await f.keyId.fill(SEED.shared_prefix);
    await f.reason.selectOption('bios_changed');
    await f.button.click();
    const list = page.getByRole('list', { name: 'Matching keys' });
    await list.waitFor({ state: 'visible' });
    const buttons = (await list.getByRole('button').allTextContents()).map((s) => s.trim());
    check(buttons.length === 2 && buttons[0] === `Recover ${a.key_id}` && buttons[1] === `Recover ${b.key_id}`,
      `Matching keys: ${JSON.stringify(buttons)}`);
    const listText = await list.innerText();
    check(listText.includes(a.machine) && (listText.includes(a.volume_id) || /\b(os|fixed)\b/i.test(listText)),
      `the list shows no machine or volume: ${short(listText)}`);
    check((await page.locator('.pw-block').count()) === 0, 'a password is shown before a key is chosen');
    await noPasswordIn(page, a.recovery_password, 'the list');
    await noPasswordIn(page, b.recovery_password, 'the list');
    await expectUndisclosed(a, 'listing');
    await expectUndisclosed(b, 'listing');
    const reads = (await auditSince(seq)).filter((e) => e.action === 'key.read');
    check(reads.length === 0, `listing wrote key.read entries: ${short(reads)}`);
    await list.getByRole('button', { name: `Recover ${b.key_id}` }).click();
    const { blocks } = await revealed(page);
    check(blocks.join('-') === b.recovery_password, 'the chosen key shows another password');
    await passwordAbsent(page, a.recovery_password, 'after choosing the second key');
    await expectUndisclosed(a, 'after choosing the other key');
    check((await keyRecord(b)).disclosed_at !== null, 'the chosen key is not disclosed');
    const after = (await auditSince(seq)).filter((e) => e.action === 'key.read');
    check(after.length === 1 && after[0].key_id === b.key_id && after[0].reason === 'bios_changed',
      `audit after choosing: ${short(after)}`);
    // Navigating away takes the password out of the page.
    await gotoPage(page, 'machines');
    await waitH1(page, 'Machines');
    await gotoPage(page, 'recover');
    await waitH1(page, 'Recover');
    await noPasswordIn(page, b.recovery_password, 'after going to Machines and back');
    checkClean(w, 'recover by prefix');
    d(`prefix ${SEED.shared_prefix}: 2 matches, chose ${b.key_id}`);
  } finally {
    await ctx.close();
  }
});

test('recover: reason "Other" without a note reveals nothing and writes nothing; with one, the password goes after 2 minutes', async (d) => {
  const rec = KEYS.other;
  const ctx = await newContext(HELPDESK);
  try {
    await ctx.clock.install();   // time runs, and can be moved on
    const { page, w } = await openConsole(ctx, 'recover');
    await waitH1(page, 'Recover');
    const seq = await lastSeq();
    const f = recoverForm(page);
    await f.keyId.fill(rec.key_id);
    await f.reason.selectOption({ label: 'Other' });
    check((await f.reason.inputValue()) === 'other', `"Other" has the value ${await f.reason.inputValue()}`);
    await f.note.fill('');
    const lookups = [];
    page.on('request', (r) => { if (r.url().includes('/v1/keys')) lookups.push(r.url()); });
    await f.button.click();
    await sleep(1500);
    const invalid = await f.note.evaluate((el) => !el.checkValidity() || el.getAttribute('aria-invalid') === 'true');
    const alert = page.getByRole('alert');
    const alertText = (await alert.count()) ? (await alert.allInnerTexts()).join(' ') : '';
    check(invalid || /note/i.test(alertText), `no sign that a note is needed (note valid, alert "${alertText}")`);
    check((await page.getByRole('region', { name: 'Recovery password' }).count()) === 0
      && (await page.locator('.pw-block').count()) === 0, 'a password was revealed');
    for (const u of lookups) {
      const q = new URL(u).searchParams;
      check(q.get('note'), `a lookup went out with reason ${q.get('reason')} and no note: ${u}`);
    }
    await expectUndisclosed(rec, 'reason other without a note');
    const entries = (await auditSince(seq)).filter((e) => e.key_id === rec.key_id);
    check(entries.length === 0, `audit entries: ${short(entries)}`);
    // With a note it goes through.
    await f.note.fill('laptop left in a taxi');
    await f.button.click();
    const { blocks } = await revealed(page);
    check(blocks.join('-') === rec.recovery_password, 'with a note: another password');
    const after = (await auditSince(seq)).filter((e) => e.key_id === rec.key_id);
    check(after.length === 1 && after[0].reason === 'other' && after[0].note === 'laptop left in a taxi',
      `audit with a note: ${short(after)}`);
    // runFor fires every timer on the way; fastForward jumps, firing a
    // due timer once, as after a laptop's sleep: the 2 minutes are the
    // clock's, not a count of ticks.
    await page.clock.runFor('01:50');
    check((await page.locator('.pw-block').count()) === 8, 'the password went before 2 minutes');
    await page.clock.fastForward('00:15');
    await until(async () => (await page.locator('.pw-block').count()) === 0, 'the password is still shown after 2 minutes', 5000);
    await noPasswordIn(page, rec.recovery_password, 'after 2 minutes');
    checkClean(w, 'recover other');
    d(`refused by ${invalid ? 'the form (note required)' : `an alert: ${alertText}`}; then revealed with a note`);
  } finally {
    await ctx.close();
  }
});

for (const who of [HELPDESK, AUDITOR]) {
  test(`machines: ${who} searches, opens a machine: verdict, volumes, keys, history, no password`, async (d) => {
    const ctx = await newContext(who);
    try {
      const { page, w } = await openConsole(ctx, 'machines');
      await waitH1(page, 'Machines');
      await page.getByLabel('Machine name', { exact: true }).fill('pc-console');
      await page.getByRole('button', { name: 'Search', exact: true }).click();
      const m = MACHINES.noncompliant;
      const link = page.getByRole('link', { name: m });
      await link.waitFor({ state: 'visible' });
      for (const other of [MACHINES.compliant, MACHINES.exempt, MACHINES.pair]) {
        check((await page.getByRole('link', { name: other }).count()) === 1, `no result link for ${other}`);
      }
      await link.click();
      for (const h of ['Verdict', 'Volumes', 'Keys', 'History']) {
        await page.getByRole('heading', { name: h, exact: true }).waitFor({ state: 'visible' });
      }
      const text = await pageText(page);
      check(/noncompliant/i.test(text), `the verdict of ${m} is not shown as noncompliant`);
      for (const k of [KEYS.failover, KEYS.xorigin]) {
        check(text.includes(k.key_id), `the keys of ${m} lack ${k.key_id}`);
        check(!text.includes(k.recovery_password), 'a password is on the machine page');
      }
      check(text.includes('vol-os') && text.includes('vol-fixed'), 'the volumes are not listed');
      checkClean(w, 'machines');
      d(`${m}: verdict, volumes, keys and history shown`);
    } finally {
      await ctx.close();
    }
  });
}

test('compliance: counts match the API, the Status filter, pages, CSV download', async (d) => {
  const ctx = await newContext(AUDITOR);
  try {
    const { page, w } = await openConsole(ctx, 'compliance');
    await waitH1(page, 'Compliance');
    const counts = page.locator('#counts');
    await counts.waitFor({ state: 'visible' });
    const want = (await apiOk(AUDITOR, '/v1/reports/compliance?limit=1')).json.counts;
    await until(async () => JSON.stringify(parseCounts(await counts.innerText())) === JSON.stringify(
      { compliant: want.compliant, noncompliant: want.noncompliant, exempt: want.exempt, unknown: want.unknown }),
    `#counts does not show ${JSON.stringify(want)}`);
    // Lookups by the other cases make machines noncompliant (a spent
    // password), so the expectations come from the API now.
    const all = (await apiOk(AUDITOR, '/v1/reports/compliance')).json.machines;
    const bad = all.filter((m) => m.status === 'noncompliant').map((m) => m.machine);
    const rest = all.filter((m) => m.status !== 'noncompliant').map((m) => m.machine);
    check(bad.includes(MACHINES.noncompliant) && rest.includes(MACHINES.exempt), `the API's report: ${short(all)}`);
    const table = page.getByRole('table');
    const status = page.getByLabel('Status', { exact: true });
    const justBad = async (what) => until(async () => {
      const t = await table.innerText();
      return bad.every((m) => t.includes(m)) && !rest.some((m) => t.includes(m));
    }, `${what}: the table does not show just ${bad.join(', ')}`).catch(async (e) => { throw new Failure(e.message + ': ' + short(await table.innerText())); });
    // It opens on Noncompliant.
    const opening = await status.evaluate((el) => el.options[el.selectedIndex].text.trim());
    check(opening === 'Noncompliant', `the Status filter opens on "${opening}"`);
    await justBad('on opening');
    const options = await status.evaluate((el) => [...el.options].map((o) => o.text.trim()));
    check(JSON.stringify(options) === JSON.stringify(['All', 'Compliant', 'Noncompliant', 'Exempt', 'Unknown']),
      `the Status options: ${JSON.stringify(options)}`);
    await status.selectOption({ label: 'All' });
    await until(async () => { const t = await table.innerText(); return all.every((m) => t.includes(m.machine)); },
      'All: the table does not list every machine');
    await status.selectOption({ label: 'Exempt' });
    await until(async () => { const t = await table.innerText(); return t.includes(MACHINES.exempt) && !t.includes(MACHINES.noncompliant); },
      'Exempt: the table does not show just the exempt machine');
    await status.selectOption({ label: 'Noncompliant' });
    await justBad('Noncompliant again');
    for (const name of ['Previous page', 'Next page', 'Download CSV']) {
      check((await page.getByRole('button', { name }).count()) === 1, `no "${name}" button`);
    }
    const csv = await download(page, () => page.getByRole('button', { name: 'Download CSV' }).click());
    const lines = csv.data.toString('utf8').trim().split(/\r?\n/);
    check(lines[0] === 'machine,status,reasons,stale,reported_at,user' && lines.some((l) => l.startsWith(MACHINES.noncompliant + ',')),
      `CSV ${csv.name}: ${short(lines.slice(0, 3))}`);
    checkClean(w, 'compliance');
    d(`counts ${JSON.stringify(want)}; CSV ${csv.name} with ${lines.length - 1} rows`);
  } finally {
    await ctx.close();
  }
});

test('audit: entries, filters by action and key ID, CSV download', async (d) => {
  const ctx = await newContext(AUDITOR);
  try {
    const { page, w } = await openConsole(ctx, 'audit');
    await waitH1(page, 'Audit');
    const table = page.getByRole('table');
    await until(async () => (await table.innerText()).includes('key.escrow'), 'no key.escrow entry in the table');
    const setField = async (label, value) => {
      const el = page.getByLabel(label, { exact: true });
      if ((await el.evaluate((e) => e.tagName)) === 'SELECT') await el.selectOption(value);
      else await el.fill(value);
    };
    await setField('Action', 'key.read');
    await page.getByRole('button', { name: 'Filter', exact: true }).click();
    await until(async () => {
      const rows = await table.locator('tbody tr').allInnerTexts();
      return rows.length > 0 && rows.every((r) => r.includes('key.read') && !r.includes('key.escrow'));
    }, 'Action key.read does not leave only key.read rows');
    await setField('Action', '');
    await setField('Key ID', KEYS.seen.key_id);
    await page.getByRole('button', { name: 'Filter', exact: true }).click();
    await until(async () => {
      const rows = await table.locator('tbody tr').allInnerTexts();
      return rows.length >= 2 && rows.every((r) => r.includes(KEYS.seen.key_id))
        && rows.some((r) => /tpm_reset|TPM reset/.test(r) && r.includes(HELPDESK));
    }, 'the Key ID filter does not show the escrow and the read of that key');
    check((await page.getByRole('button', { name: 'Next page' }).count()) === 1, 'no "Next page"');
    const csv = await download(page, () => page.getByRole('button', { name: 'Download CSV' }).click());
    const first = csv.data.toString('utf8').split(/\r?\n/)[0];
    check(first === 'seq,at,actor,role,action,key_id,machine,reason,note,node,outcome,index,break_glass,break_glass_id', `CSV header: ${first}`);
    checkClean(w, 'audit');
    d(`filters and CSV ${csv.name} checked`);
  } finally {
    await ctx.close();
  }
});

test('cluster: a row per member, the leader, digests agree, snapshot download', async (d) => {
  const ctx = await newContext('operator');
  try {
    const { page, w } = await openConsole(ctx, 'cluster');
    await waitH1(page, 'Cluster');
    const table = page.getByRole('table');
    await until(async () => (await table.locator('tbody tr').count()) === cfg.nodes.length, `not ${cfg.nodes.length} member rows`);
    const text = await table.innerText();
    for (const n of cfg.nodes) check(text.includes(n.api), `no row with API ${n.api}`);
    await until(async () => /Digests agree/.test(await pageText(page)), 'no "Digests agree"');
    const st = (await apiOk('operator', '/v1/status')).json;
    check(new RegExp(`leader`, 'i').test(await pageText(page)) && (await pageText(page)).includes(String(st.leader.id)),
      'the leader is not named');
    const snap = await download(page, () => page.getByRole('link', { name: 'Download snapshot' }).or(page.getByRole('button', { name: 'Download snapshot' })).first().click());
    check(snap.data.length > 160 && snap.data.subarray(0, 8).toString('latin1') === 'ESCROWSN', `snapshot ${snap.name}: ${snap.data.length} bytes`);
    checkClean(w, 'cluster');
    d(`snapshot ${snap.name}: ${snap.data.length} bytes`);
  } finally {
    await ctx.close();
  }
}, 90000);

// What the browser sent to and got from the nodes, read off the debugger
// protocol: a response the browser blocks (CORS) never becomes a
// Playwright 'response', but its raw status and headers are reported here.
async function networkLog(page) {
  const cdp = await page.context().newCDPSession(page);
  const reqs = new Map();
  const get = (id) => { if (!reqs.has(id)) reqs.set(id, { id }); return reqs.get(id); };
  const lower = (h) => Object.fromEntries(Object.entries(h || {}).map(([k, v]) => [k.toLowerCase(), v]));
  cdp.on('Network.requestWillBeSent', (e) => Object.assign(get(e.requestId), { url: e.request.url, method: e.request.method, type: e.type }));
  cdp.on('Network.requestWillBeSentExtraInfo', (e) => { get(e.requestId).sent = lower(e.headers); });
  cdp.on('Network.responseReceivedExtraInfo', (e) => Object.assign(get(e.requestId), { status: e.statusCode, headers: lower(e.headers) }));
  cdp.on('Network.loadingFailed', (e) => Object.assign(get(e.requestId), { failed: e.errorText, cors: e.corsErrorStatus && e.corsErrorStatus.corsError }));
  await cdp.send('Network.enable');
  return reqs;
}

test('cross-origin: <img>, fetch and a form post from another site get 403 cross_origin; nothing audited or disclosed', async (d) => {
  const rec = KEYS.xorigin;
  const ctx = await newContext(HELPDESK);
  try {
    const seq = await lastSeq();
    const target = ORIGINS[0];
    const lookup = `${target}/v1/keys/${rec.key_id}?reason=lost_pin`;
    const lookup2 = `${ORIGINS[1]}/v1/keys/${rec.key_id}?reason=lost_tpm`;
    const prefix = `${ORIGINS[2]}/v1/keys?prefix=${rec.key_id.slice(0, 8)}&reason=lost_pin`;
    const html = `<!doctype html><html><head><title>evil</title></head><body>
<img id="i1" src="${lookup}"><img id="i2" src="${lookup2}">
<form id="post" method="post" action="${target}/v1/keys" enctype="text/plain">
<input name='{"key_id":"${rec.key_id}","x":"' value='"}'></form>
<script>
window.results = {};
fetch(${JSON.stringify(lookup)}, {credentials: 'include'}).then(r => r.text()).then(t => { results.fetch = t; }, e => { results.fetch = 'blocked: ' + e; });
fetch(${JSON.stringify(prefix)}, {credentials: 'include', mode: 'no-cors'}).then(r => { results.nocors = r.type; }, e => { results.nocors = 'blocked: ' + e; });
</script></body></html>`;
    await ctx.route(`${EVIL}/**`, (route) => route.fulfill({ status: 200, contentType: 'text/html', body: html }));
    const page = await ctx.newPage();
    const w = watch(page);
    const log = await networkLog(page);
    await page.goto(`${EVIL}/`);
    const results = await until(() => page.evaluate(() => (window.results.fetch && window.results.nocors ? window.results : null)),
      'the evil page\'s fetches did not end');
    check(/^blocked/.test(results.fetch), `the credentialed fetch read an answer: ${short(results.fetch)}`);
    check(results.nocors === 'opaque' || /^blocked/.test(results.nocors), `the no-cors fetch: ${results.nocors}`);
    await until(async () => (await page.evaluate(() => [...document.images].every((i) => i.complete))), 'the images did not load or fail');
    // The form post navigates the page to the node's answer.
    await Promise.all([page.waitForURL(`${target}/v1/keys`), page.evaluate(() => document.getElementById('post').submit())]);
    const post = w.responses.find((r) => r.url() === `${target}/v1/keys` && r.request().method() === 'POST');
    check(post, 'no answer to the form post');
    const postBody = await post.text();
    check(post.status() === 403 && /"cross_origin"/.test(postBody), `the form post: ${post.status()} ${short(postBody)}`);
    await sleep(300);
    const sent = [...log.values()].filter((r) => r.url && ORIGINS.some((o) => r.url.startsWith(o + '/v1/')));
    const kinds = {};
    for (const r of sent) {
      const u = new URL(r.url);
      const what = `${r.method} ${u.pathname.split('/').slice(0, 3).join('/')} ${r.type}`;
      check(r.status === 403, `${what} ${u.search}: status ${r.status} (${r.failed || ''})`);
      check(!(r.headers || {})['access-control-allow-origin'], `${what}: ACAO ${(r.headers || {})['access-control-allow-origin']}`);
      const s = r.sent || {};
      const mode = s['sec-fetch-mode'] || '-';
      kinds[`${what} ${mode}`] = `${r.status} to ${u.host}, Origin ${s.origin || '-'}, Sec-Fetch-Site ${s['sec-fetch-site'] || '-'}`;
    }
    for (const r of w.responses.filter((x) => ORIGINS.some((o) => x.url().startsWith(o + '/v1/')))) {
      const body = await r.body().catch(() => Buffer.alloc(0));
      check(!body.toString('utf8').includes(rec.recovery_password), `${r.url()} disclosed the password`);
    }
    check(/Origin https:\/\/evil\.test/.test(kinds['GET /v1/keys Fetch cors'] || ''), `the cors fetch: ${kinds['GET /v1/keys Fetch cors']}`);
    for (const k of ['GET /v1/keys Image no-cors', 'GET /v1/keys Fetch cors', 'GET /v1/keys Fetch no-cors', 'POST /v1/keys Document navigate']) {
      check(kinds[k], `no request seen for ${k}: ${JSON.stringify(kinds)}`);
    }
    await expectUndisclosed(rec, 'cross-origin');
    const entries = await auditSince(seq);
    check(entries.length === 0, `audit entries after the cross-origin requests: ${short(entries)}`);
    for (const [k, v] of Object.entries(kinds)) d(`${k}: ${v}`);
  } finally {
    await ctx.close();
  }
});

test('framing: another site cannot show the console in a frame', async () => {
  const ctx = await newContext(HELPDESK);
  try {
    const target = ORIGINS[0];
    await ctx.route(`${EVIL}/**`, (route) => route.fulfill({ status: 200, contentType: 'text/html',
      body: `<!doctype html><title>frame</title><iframe src="${target}/ui/#recover" width="800" height="600"></iframe>` }));
    const page = await ctx.newPage();
    const resp = page.waitForResponse((r) => r.url().startsWith(`${target}/ui/`));
    await page.goto(`${EVIL}/`);
    const r = await resp;
    check(r.status() === 200, `the framed /ui/ answered ${r.status()}`);
    await sleep(1500);
    const frame = page.frames().find((f) => f !== page.mainFrame());
    check(frame, 'no frame');
    const inside = await frame.evaluate(() => ({ url: location.href, console: !!document.querySelector('#whoami, nav') }))
      .catch((e) => ({ url: frame.url(), console: false, error: String(e) }));
    check(!inside.console && !inside.url.startsWith(target), `the console rendered inside another site's frame: ${short(inside)}`);
  } finally {
    await ctx.close();
  }
});

test('accessibility: axe-core finds no serious or critical violation on any page', async (d) => {
  const ctx = await newContext('operator');
  const notes = [];
  try {
    const { page } = await openConsole(ctx, 'recover');
    const visits = [...PAGES.map((p) => [p.hash, p.name]), [`machines/${MACHINES.noncompliant}`, null]];
    for (const [hash, name] of visits) {
      await gotoPage(page, hash);
      if (name) await waitH1(page, name);
      else await page.getByRole('heading', { name: 'Verdict', exact: true }).waitFor();
      await sleep(300);
      const minor = await axeCheck(page, `#${hash}`);
      if (minor.length) notes.push(`#${hash}: ${minor.map((v) => `${v.impact} ${v.id}`).join(', ')}`);
    }
    // The refused page and a revealed password, as the helpdesk sees them.
    const hctx = await newContext(HELPDESK);
    try {
      const { page: hp } = await openConsole(hctx, 'audit');
      await waitH1(hp, 'Not available');
      await axeCheck(hp, 'Not available');
      await gotoPage(hp, 'recover');
      await waitH1(hp, 'Recover');
      const f = recoverForm(hp);
      await f.keyId.fill(KEYS.shots.key_id);
      await f.reason.selectOption('lost_startup_key');
      await f.button.click();
      await revealed(hp);
      await axeCheck(hp, 'Recover with a password shown');
    } finally {
      await hctx.close();
    }
    for (const n of notes) d(`minor: ${n}`);
  } finally {
    await ctx.close();
  }
}, 90000);

test('screenshots: every page at 1280x800 and 390x844 into the build directory', async (d) => {
  const ctx = await newContext('operator');
  try {
    const { page, w } = await openConsole(ctx, 'recover');
    const shots = [...PAGES.map((p) => [p.hash, p.name, p.hash]), [`machines/${MACHINES.noncompliant}`, null, 'machine']];
    for (const [hash, name, file] of shots) {
      await gotoPage(page, hash);
      if (name) await waitH1(page, name);
      else await page.getByRole('heading', { name: 'Verdict', exact: true }).waitFor();
      await sleep(400);
      await screenshot(page, file);
      await page.setViewportSize({ width: 390, height: 844 });
      const wide = await page.evaluate(() => document.documentElement.scrollWidth);
      if (wide > 390) d(`${file}: the page is ${wide} px wide at 390 px`);
      await page.setViewportSize({ width: 1280, height: 800 });
    }
    const files = fs.readdirSync(cfg.screenshots).filter((f) => f.endsWith('.png'));
    for (const [, , file] of shots) {
      for (const size of ['1280x800', '390x844']) {
        check(files.includes(`${file}-${size}.png`), `no ${file}-${size}.png`);
      }
    }
    checkClean(w, 'screenshots');
    d(`${files.length} screenshots in ${cfg.screenshots}`);
  } finally {
    await ctx.close();
  }
}, 90000);

// Last but one: it kills a node (the next case starts it again).
test('failover: a lookup started after the serving node is killed succeeds without reloading', async (d) => {
  const rec = KEYS.failover;
  const ctx = await newContext(HELPDESK);
  try {
    const leader = (await apiOk('operator', '/v1/status')).json.leader.id;
    const { page, w } = await openConsole(ctx, 'recover', leader);
    await waitH1(page, 'Recover');
    await until(async () => (await servedBy(page)) === `Answered by node ${leader}`,
      `#served-by does not name node ${leader}`);
    await page.evaluate(() => { window.__notReloaded = true; });
    const navs = w.navigations;
    await killNode(leader);
    d(`killed node ${leader} (the leader, which served the page)`);
    const f = recoverForm(page);
    await f.keyId.fill(rec.key_id);
    await f.reason.selectOption('tpm_reset');
    const t0 = Date.now();
    await f.button.click();
    const region = page.getByRole('region', { name: 'Recovery password' });
    await region.waitFor({ state: 'visible', timeout: 40000 });
    const took = (Date.now() - t0) / 1000;
    const blocks = (await region.locator('.pw-block').allTextContents()).map((b) => b.trim());
    check(blocks.join('-') === rec.recovery_password, 'after failover: another password');
    const by = await servedBy(page);
    const m = by.match(/^Answered by node (\d+)$/);
    check(m && Number(m[1]) !== leader && cfg.nodes.some((n) => n.id === Number(m[1])), `#served-by: "${by}"`);
    check(await page.evaluate(() => window.__notReloaded === true) && w.navigations === navs, 'the page reloaded');
    const seqEntries = (await auditSince(0)).filter((e) => e.key_id === rec.key_id && e.action === 'key.read');
    check(seqEntries.length === 1 && seqEntries[0].actor === HELPDESK && seqEntries[0].reason === 'tpm_reset',
      `audit after failover: ${short(seqEntries)}`);
    d(`answered by node ${m[1]} ${took.toFixed(1)} s after Recover was pressed`);
  } finally {
    await ctx.close();
  }
}, 120000);

// The key reads the page sent: [{url, status}] of its /v1/keys/ID requests
// that got an answer.
function keyReads(w) {
  return w.responses.filter((r) => /\/v1\/keys\/[0-9A-F-]{36}\?/i.test(r.url()))
    .map((r) => ({ url: r.url(), status: r.status(), bg: new URL(r.url()).searchParams.get('break_glass') }));
}

// Fills the Recover form with a whole key ID and presses Recover.
async function recoverKey(page, keyId, reason, note = '') {
  const f = recoverForm(page);
  await f.keyId.fill(keyId);
  await f.reason.selectOption(reason);
  await f.note.fill(note);
  await f.button.click();
}

// Waits for the page's alert to name `code`; resolves its text.
async function alertWith(page, code, ms = 45000) {
  const alert = page.getByRole('alert');
  return until(async () => {
    const text = (await alert.count()) ? (await alert.allInnerTexts()).join(' ') : '';
    return text.includes(code) ? text : null;
  }, `no alert with ${code}`, ms);
}

const BREAK_GLASS_BUTTON = 'Break glass: read this node\'s own copy';

// Last: it kills every node but one and starts them again at its end.
test('break glass: without a quorum the helpdesk may read one node\'s own copy (operator: no button); Audit marks the replayed entry', async (d) => {
  const rec = KEYS.breakglass;
  const missing = randomUUID().toUpperCase();
  const note = 'branch office cut off';
  const st = (await apiOk('operator', '/v1/status')).json;
  const survivor = liveNodes().find((n) => !st.leader || n.id !== st.leader.id);
  check(survivor, `no live follower: ${short(st)}`);
  const hctx = await newContext(HELPDESK);
  const octx = await newContext('operator');
  try {
    const { page, w } = await openConsole(hctx, 'recover', survivor.id);
    const { page: op, w: ow } = await openConsole(octx, 'recover', survivor.id);
    await waitH1(page, 'Recover');
    await waitH1(op, 'Recover');
    for (const n of liveNodes()) if (n.id !== survivor.id) await killNode(n.id);
    d(`killed every node but node ${survivor.id}; down: ${[...killed].join(', ')}`);
    // The survivor knows no leader, then --break-glass-after passes.
    await until(async () => {
      const r = await api('operator', '/v1/status', { node: survivor.id, timeout: 3000 });
      return r.status === 200 && r.json.leader === null;
    }, `node ${survivor.id} still names a leader`, 20000);
    await sleep((cfg.break_glass_after || 2) * 1000 + 500);

    // Both ask for the key: 503 no_quorum; the button for the helpdesk only.
    await Promise.all([recoverKey(page, rec.key_id, 'lost_tpm', note), recoverKey(op, rec.key_id, 'lost_pin')]);
    const [said, opSaid] = await Promise.all([alertWith(page, 'no_quorum'), alertWith(op, 'no_quorum')]);
    check(/break_glass=1/.test(said), `the no_quorum alert lacks the server's message: ${short(said)}`);
    const button = page.getByRole('button', { name: BREAK_GLASS_BUTTON, exact: true });
    await button.waitFor({ state: 'visible' });
    const offer = await page.locator('.break-glass').innerText();
    check(/journaled on node \d+/.test(offer) && /audited when the cluster is back/.test(offer),
      `the offer has no warning: ${short(offer)}`);
    check((await page.locator('.pw-block').count()) === 0, 'a password is shown before the button is pressed');
    check((await op.getByRole('button', { name: /break glass/i }).count()) === 0,
      `the operator is offered break glass (alert: ${short(opSaid)})`);
    check(keyReads(w).every((r) => r.bg === null) && keyReads(ow).every((r) => r.bg === null),
      'a break-glass read went out before the button was pressed');
    await axeCheck(page, 'the break-glass offer');
    await screenshot(page, 'recover-break-glass-offer');

    // Pressed: the same lookup with break_glass=1, at the survivor only.
    await button.click();
    const { region, blocks } = await revealed(page);
    check(blocks.join('-') === rec.recovery_password, 'break glass: another password');
    const text = await region.innerText();
    const m = text.match(/Served by node (\d+) from its own copy at index (\d+), without a quorum; audited when the cluster is back/);
    check(m && Number(m[1]) === survivor.id && Number(m[2]) > 0, `no break-glass notice naming node ${survivor.id}: ${short(text, 600)}`);
    let bg = keyReads(w).filter((r) => r.bg === '1');
    check(bg.length === 1 && bg[0].url.startsWith(survivor.url + '/') && bg[0].status === 200,
      `break-glass reads: ${short(bg)}`);
    const q = new URL(bg[0].url).searchParams;
    check(q.get('reason') === 'lost_tpm' && q.get('note') === note, `the break-glass read changed the lookup: ${bg[0].url}`);
    check((await page.getByRole('button', { name: BREAK_GLASS_BUTTON }).count()) === 0, 'the button is still there');
    await screenshot(page, 'recover-break-glass-served');
    d(`node ${m[1]} served ${rec.key_id} from its copy at index ${m[2]}`);
    await page.getByRole('button', { name: 'Clear', exact: true }).click();
    await noPasswordIn(page, rec.recovery_password, 'after Clear');

    // A key the survivor's copy lacks: 404 not_found_break_glass.
    await recoverKey(page, missing, 'lost_pin');
    await alertWith(page, 'no_quorum');
    await page.getByRole('button', { name: BREAK_GLASS_BUTTON, exact: true }).click();
    const nf = await alertWith(page, 'not_found_break_glass', T);
    check(/may exist/.test(nf), `the 404 does not say the key may exist elsewhere: ${short(nf)}`);
    bg = keyReads(w).filter((r) => r.bg === '1');
    check(bg.length === 2 && bg[1].url.startsWith(survivor.url + '/') && bg[1].status === 404,
      `break-glass reads after the missing key: ${short(bg)}`);
    checkClean(w, 'break glass');
    checkClean(ow, 'break glass (operator)');

    // The majority back: the journal is replayed once; Audit marks it.
    for (const id of [...killed]) await restartNode(id);
    const entries = await until(async () => {
      const r = await api(AUDITOR, `/v1/reports/audit?key_id=${rec.key_id}&limit=1000`, { node: survivor.id, timeout: 5000 });
      const got = r.status === 200 ? r.json.entries.filter((e) => e.break_glass === true) : [];
      return got.length ? got : null;
    }, 'no break-glass audit entry after the restart', 60000);
    await sleep(1500);   // a second replay would show by now
    const all = (await auditSince(0)).filter((e) => e.key_id === rec.key_id && e.action === 'key.read');
    check(all.length === 1 && all[0].break_glass === true && all[0].node === survivor.id && all[0].actor === HELPDESK
      && all[0].reason === 'lost_tpm' && all[0].note === note && typeof all[0].break_glass_id === 'string',
    `key.read entries of the key: ${short(all, 600)} (first seen: ${short(entries)})`);
    check((await keyRecord(rec)).disclosed_at !== null, 'the key is not disclosed after the replay');
    const actx = await newContext(AUDITOR);
    try {
      const { page: ap, w: aw } = await openConsole(actx, 'audit', survivor.id);
      await waitH1(ap, 'Audit');
      await ap.getByLabel('Key ID', { exact: true }).fill(rec.key_id);
      await ap.getByRole('button', { name: 'Filter', exact: true }).click();
      const table = ap.getByRole('table');
      await until(async () => {
        const rows = await table.locator('tbody tr').allInnerTexts();
        return rows.length >= 2 && rows.every((r) => r.includes(rec.key_id));
      }, 'the Key ID filter does not show the escrow and the read', 30000);
      const rows = table.locator('tbody tr');
      const marked = rows.filter({ hasText: /break glass/i });
      check((await marked.count()) === 1, `rows marked break glass: ${await marked.count()}`);
      const row = await marked.innerText();
      check(row.includes('key.read') && row.includes(HELPDESK), `the marked row: ${short(row)}`);
      const title = await marked.locator('.badge-break-glass').getAttribute('title');
      check(title && title.includes(all[0].break_glass_id), `the badge's title lacks the id: ${title}`);
      const escrow = rows.filter({ hasText: 'key.escrow' });
      check((await escrow.count()) === 1 && !/break glass/i.test(await escrow.innerText()), 'the escrow row is marked too');
      await screenshot(ap, 'audit-break-glass');
      checkClean(aw, 'audit break glass');
    } finally {
      await actx.close();
    }
    d(`replayed once: seq ${all[0].seq}, ${all[0].break_glass_id}`);
  } finally {
    await hctx.close();
    await octx.close();
    // Whatever happened, the cluster is whole again for the last checks.
    for (const id of [...killed]) await restartNode(id).catch(() => {});
  }
}, 200000);

// ------------------------------------------------------------ runner

async function main() {
  const started = Date.now();
  // test_console.py WORD...: only the cases whose name holds one of the words.
  if (cfg.only && cfg.only.length) {
    const keep = cases.filter((c) => cfg.only.some((w) => c.name.includes(w)));
    cases.splice(0, cases.length, ...keep);
  }
  const budget = cfg.budget_ms || 280000;
  console.log(`plan ${cases.length}`);
  for (const c of cases) console.log(`case ${c.name}`);
  browser = await chromium.launch({
    executablePath: cfg.chromium,
    headless: true,
    timeout: 30000,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  console.log(`# chromium ${browser.version()}`);
  fs.mkdirSync(cfg.screenshots, { recursive: true });
  let failed = 0;
  for (const c of cases) {
    const diags = [];
    const t0 = Date.now();
    let ok = true;
    const left = budget - (Date.now() - started);
    try {
      check(left > 5000, 'no time left in the run\'s budget');
      await withTimeout(c.fn((msg) => diags.push(msg)), Math.min(c.ms, left), c.name);
    } catch (e) {
      ok = false;
      diags.push(e instanceof Failure ? e.message : (e && e.stack) || String(e));
    }
    if (!ok) failed++;
    console.log(`${ok ? 'ok' : 'not ok'} - ${c.name}`);
    for (const line of diags) for (const l of String(line).split('\n')) console.log(`# ${short(l, 2000)}`);
    console.log(`# took ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  }
  await withTimeout(browser.close(), 15000, 'closing chromium').catch(() => {});
  return failed;
}

main().then(() => process.exit(0), (e) => {
  console.log(`# fatal: ${(e && e.stack) || e}`);
  process.exit(2);
});
