/**
 * HTML with escaping by default: every value interpolated into `html`...`` is escaped unless it
 * is itself `Html` (another template, or `raw()` of markup built here). Attributes are always
 * double-quoted in the templates, and `'` is escaped too, so a value is safe in text and in
 * attributes alike. Links are only ever built from our own paths (`href()`).
 */
export class Html {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

const ENTITIES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => ENTITIES[c]!);
}

/** Markup that is already safe (built by this module's callers from escaped parts). */
export function raw(markup: string): Html {
  return new Html(markup);
}

function render(value: unknown): string {
  if (value instanceof Html) return value.text;
  if (Array.isArray(value)) return value.map(render).join("");
  if (value === null || value === undefined || value === false) return "";
  return escapeHtml(String(value));
}

export function html(strings: TemplateStringsArray, ...values: unknown[]): Html {
  let out = strings[0]!;
  for (const [i, v] of values.entries()) out += render(v) + strings[i + 1]!;
  return new Html(out);
}

/** A path with its segments and query encoded: `href("/instances", id)`, `href("/instances", { status })`. */
export function href(...parts: Array<string | number | Record<string, string | number | undefined | null>>): string {
  let path = "";
  let query = "";
  for (const p of parts) {
    if (typeof p === "object") {
      const q = new URLSearchParams();
      for (const [k, v] of Object.entries(p)) if (v !== undefined && v !== null && v !== "") q.set(k, String(v));
      const s = q.toString();
      if (s) query = `?${s}`;
    } else path += path ? `/${encodeURIComponent(String(p))}` : String(p);
  }
  return path + query;
}

/** 2026-11-23 10:04:05Z (UTC, to the second), with the exact instant in the tooltip. */
export function time(d: Date | null | undefined): Html {
  if (!d) return html`<span class="muted">-</span>`;
  const iso = d.toISOString();
  return html`<time datetime="${iso}" title="${iso}">${iso.slice(0, 19).replace("T", " ")}Z</time>`;
}

/** 850 ms, 12.3 s, 4 min 2 s, 3 h 5 min. */
export function duration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return "-";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms < 3_600_000) return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
  return `${Math.floor(ms / 3_600_000)} h ${Math.round((ms % 3_600_000) / 60_000)} min`;
}

export function between(from: Date | null | undefined, to: Date | null | undefined): string {
  return from && to ? duration(to.getTime() - from.getTime()) : "-";
}

export function badge(status: string): Html {
  return html`<span class="badge status-${status}" data-status="${status}">${status}</span>`;
}

export function count(n: number): string {
  return n.toLocaleString("en-US");
}

/**
 * A button that POSTs (mutations are POST only). `next` is where the browser goes afterwards;
 * `confirm` asks first (the page script reads data-confirm: no inline handlers under the CSP).
 */
export function postButton(p: { action: string; label: string; next?: string; confirm?: string; kind?: string; name?: string }): Html {
  return html`<form method="post" action="${p.action}" class="inline"${p.confirm ? html` data-confirm="${p.confirm}"` : ""}>${
    p.next ? html`<input type="hidden" name="next" value="${p.next}">` : ""
  }<button type="submit" class="btn ${p.kind ?? ""}"${p.name ? html` data-action="${p.name}"` : ""}>${p.label}</button></form>`;
}

const NAV: Array<[string, string]> = [
  ["/instances", "Instances"],
  ["/schedules", "Schedules"],
  ["/workers", "Workers"],
  ["/versions", "Workflows"],
];

/**
 * The page shell. Scripts and styles are same-origin files: the CSP allows nothing inline. A page
 * may load more of them (`scripts`, `styles`: paths under /assets/) after the app's own.
 */
export function layout(p: { title: string; nav: string; body: Html; live?: string; scripts?: string[]; styles?: string[] }): string {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${p.title} · waymark</title>
<link rel="stylesheet" href="/assets/app.css">
${(p.styles ?? []).map((href) => html`<link rel="stylesheet" href="${href}">\n`)}<script src="/assets/app.js" defer></script>
${(p.scripts ?? []).map((src) => html`<script src="${src}" defer></script>\n`)}</head>
<body>
<header class="top"><a class="brand" href="/instances">waymark</a><nav>${NAV.map(
    ([path, label]) => html`<a href="${path}"${p.nav === path ? raw(' class="active" aria-current="page"') : ""}>${label}</a>`,
  )}</nav></header>
<main${p.live ? html` data-live="${p.live}"` : ""}>
${p.body}
</main>
</body>
</html>
`.text;
}
