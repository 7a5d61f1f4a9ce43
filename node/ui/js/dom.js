// dom.js: small helpers to build the page with createElement and textContent
// only (the CSP forbids inline styles and scripts; data never goes through
// innerHTML).

// h('p', {class: 'note', id: 'x', on: {click: f}}, 'text', child, ...)
// Attributes are set with setAttribute, except the properties listed in
// PROPS; children may be strings, numbers, nodes, arrays, null or false.
const PROPS = new Set(['value', 'checked', 'disabled', 'hidden', 'selected', 'required', 'readOnly']);

export function h(tag, attrs, ...children) {
	const node = document.createElement(tag);
	if (attrs) {
		for (const [name, value] of Object.entries(attrs)) {
			if (value === undefined || value === null || value === false) {
				continue;
			}
			if (name === 'on') {
				for (const [type, fn] of Object.entries(value)) {
					node.addEventListener(type, fn);
				}
			} else if (name === 'text') {
				node.textContent = String(value);
			} else if (PROPS.has(name)) {
				node[name] = value;
			} else {
				node.setAttribute(name, value === true ? '' : String(value));
			}
		}
	}
	append(node, children);
	return node;
}

export function append(node, children) {
	for (const child of children) {
		if (child === null || child === undefined || child === false) {
			continue;
		}
		if (Array.isArray(child)) {
			append(node, child);
		} else if (child instanceof Node) {
			node.appendChild(child);
		} else {
			node.appendChild(document.createTextNode(String(child)));
		}
	}
	return node;
}

export function clear(node) {
	while (node.firstChild) {
		node.removeChild(node.firstChild);
	}
	return node;
}

// Replaces node's children.
export function fill(node, ...children) {
	clear(node);
	return append(node, children);
}

let uid = 0;
export function newId(stem) {
	uid += 1;
	return `${stem}-${uid}`;
}

// The page's error box: role="alert", the server's message, and its code.
export function alertBox(err) {
	const message = err && err.message ? err.message : String(err);
	const box = h('div', { class: 'alert', role: 'alert' },
		h('p', { class: 'alert-message', text: message }));
	if (err && err.code) {
		box.appendChild(h('p', { class: 'alert-code' }, 'Code: ', h('code', { text: err.code })));
	}
	return box;
}

// A slot for the alert box of one page: show(err) replaces it, hide() empties it.
export function alertSlot() {
	const slot = h('div', { class: 'alert-slot' });
	return {
		node: slot,
		show(err) { fill(slot, alertBox(err)); },
		hide() { clear(slot); },
	};
}

// A labelled field: <div class="field"><label for>text</label>control hint</div>
export function field(labelText, control, hint) {
	if (!control.id) {
		control.id = newId('f');
	}
	const parts = [h('label', { for: control.id, text: labelText }), control];
	if (hint) {
		const hintId = newId('hint');
		control.setAttribute('aria-describedby', hintId);
		parts.push(h('p', { class: 'hint', id: hintId, text: hint }));
	}
	return h('div', { class: 'field' }, parts);
}

// "2026-12-04T10:12:33.120Z" -> <time datetime=...>2026-12-04 10:12 UTC</time>
export function timeEl(iso) {
	if (!iso) {
		return h('span', { class: 'muted', text: '—' });
	}
	return h('time', { datetime: iso, title: iso, text: formatTime(iso) });
}

export function formatTime(iso) {
	if (!iso) {
		return '';
	}
	const m = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2})/.exec(iso);
	return m ? `${m[1]} ${m[2]} UTC` : iso;
}

// A table inside its own scrolling box (the page never scrolls sideways);
// on a phone it becomes one card per row, each cell labelled by its column
// (data-label, shown by the stylesheet). The explicit roles keep the table
// a table for assistive technology whatever its CSS display.
// columns: [{label, cell: row => node|string, class?}]
export function table(caption, columns, rows, emptyText) {
	if (rows.length === 0) {
		return h('p', { class: 'empty', text: emptyText || 'Nothing to show.' });
	}
	const thead = h('thead', { role: 'rowgroup' }, h('tr', { role: 'row' },
		columns.map(c => h('th', { scope: 'col', role: 'columnheader', class: c.class, text: c.label }))));
	const tbody = h('tbody', { role: 'rowgroup' }, rows.map(row => h('tr', { role: 'row' },
		columns.map((c, i) => h(i === 0 ? 'th' : 'td', {
			scope: i === 0 ? 'row' : null,
			role: i === 0 ? 'rowheader' : 'cell',
			class: c.class,
			'data-label': c.label,
		}, c.cell(row))))));
	// The scrolling box is focusable so that keyboard users can scroll it.
	return h('div', { class: 'table-wrap', tabindex: '0', role: 'region', 'aria-label': caption },
		h('table', { role: 'table' }, h('caption', { class: 'visually-hidden', text: caption }), thead, tbody));
}

// Saves a Blob as a file: an object URL and a temporary <a download>.
export function saveBlob(blob, filename) {
	const url = URL.createObjectURL(blob);
	const a = h('a', { href: url, download: filename, class: 'visually-hidden' });
	document.body.appendChild(a);
	a.click();
	a.remove();
	setTimeout(() => URL.revokeObjectURL(url), 30000);
}

// "2026-12-04" in UTC, for file names.
export function today() {
	return new Date().toISOString().slice(0, 10);
}
