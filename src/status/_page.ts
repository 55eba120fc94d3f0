// The operator page: a small HTML document rendered on the server from a
// `StatusView` (readable without JavaScript), whose script re-fetches the
// `<main>` fragment every few seconds. Every text from outside is escaped;
// the script and style run under a per-response CSP nonce.

import { PRIORITIES } from "../event.ts";
import type { DeadLettersView, StatusView } from "./_view.ts";

/** How the page is put together. */
export interface PageOptions {
  title: string;
  /** Where the handler is mounted, `""` for the root. */
  basePath: string;
  /** How often the script refreshes, in ms; 0 for never. */
  refreshMs: number;
  /** The CSP nonce of this response. */
  nonce: string;
}

/** The query that asks `/` for the `<main>` fragment only. */
export const FRAGMENT_QUERY = "fragment";

/** Escapes text for HTML content and double-quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The Content-Security-Policy of a page with `nonce`. */
export function pagePolicy(nonce: string): string {
  return [
    "default-src 'none'",
    `script-src 'nonce-${nonce}'`,
    `style-src 'nonce-${nonce}'`,
    "connect-src 'self'",
    "img-src 'self' data:",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join("; ");
}

/** The whole page. */
export function renderPage(view: StatusView, options: PageOptions): string {
  const { title, basePath, refreshMs, nonce } = options;
  const link = (path: string) => `<a href="${escapeHtml(basePath + path)}">${path}</a>`;
  const fragment = `${basePath}/?${FRAGMENT_QUERY}=main`;
  const script = refreshMs > 0 ? `<script nonce="${nonce}">${SCRIPT}</script>` : "";
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>${escapeHtml(title)}</title>
<style nonce="${nonce}">${STYLE}</style>
</head>
<body data-fragment="${escapeHtml(fragment)}" data-refresh="${refreshMs}" data-live="false">
<header>
<h1>${escapeHtml(title)}</h1>
<nav>${link("/metrics")} · ${link("/status.json")} · ${link("/healthz")} · ${link("/readyz")}</nav>
<p id="updated" role="status">Rendered at ${formatTime(view.generatedAt)}${
    refreshMs > 0 ? "; live updates need JavaScript" : ""
  }.</p>
</header>
<main>
${renderMain(view)}
</main>
${script}
</body>
</html>
`;
}

/** The `<main>` content: every section. */
export function renderMain(view: StatusView): string {
  return [
    summary(view),
    `<div class="grid">`,
    connection(view),
    buffer(view),
    throughput(view),
    checks(view),
    `</div>`,
    deadLetters(view.deadLetters, view.generatedAt),
  ].join("\n");
}

function summary(view: StatusView): string {
  const failing = Object.entries(view.checks).filter(([, c]) => !c.ok).map(([name]) => name);
  const verdict = view.healthy ? "Healthy" : `Degraded: ${failing.join(", ")}`;
  const notReady = Object.values(view.readiness.checks).filter((c) => !c.ok);
  const ready = view.readiness.ready
    ? "accepting events"
    : `not ready: ${notReady.map((c) => c.reason ?? "").join("; ")}`;
  return `<section id="summary" class="${view.healthy ? "ok" : "bad"}">
<p class="verdict">${metric("healthy", view.healthy, verdict)}</p>
<p>${metric("ready", view.readiness.ready, ready)}</p>
</section>`;
}

function connection(view: StatusView): string {
  const c = view.connection;
  const rows: [string, string][] = [
    [
      "State",
      pill(metric("connection.state", c.state), c.available ? "ok" : "bad") +
      (c.blockedReason ? ` <small>${escapeHtml(c.blockedReason)}</small>` : ""),
    ],
    ["Broker", c.brokerUrl ? `<code>${escapeHtml(c.brokerUrl)}</code>` : "none yet"],
    ["Reconnect attempts", metric("connection.reconnectAttempts", c.reconnectAttempts)],
    [
      "Last confirm",
      c.msSinceLastConfirm === undefined ? "none since start" : `${
        metric(
          "connection.msSinceLastConfirm",
          c.msSinceLastConfirm,
          formatDuration(c.msSinceLastConfirm),
        )
      } ago`,
    ],
    [
      "Circuit breaker",
      pill(
        metric("circuit.state", view.circuit.state),
        view.circuit.state === "closed" ? "ok" : "bad",
      ),
    ],
    [
      "Batches in flight",
      `${metric("batches.active", view.batches.active)} (peak ${view.batches.peak})`,
    ],
  ];
  if (view.lastError !== undefined) {
    const e = view.lastError;
    rows.push([
      "Last error",
      `<span class="error">${escapeHtml(`${e.name}: ${e.message}`)}</span> <small>${
        formatDuration(Math.max(0, view.generatedAt - e.at))
      } ago</small>`,
    ]);
  }
  return section("connection", "Connection", definitions(rows));
}

function buffer(view: StatusView): string {
  const b = view.buffer;
  const fill = b.utilizationPercent / 100;
  const rows = PRIORITIES.map((priority) =>
    `<tr><th scope="row">${priority}</th><td>${
      metric(`buffer.byPriority.${priority}`, b.byPriority[priority])
    }</td><td><meter min="0" max="${b.maxSize}" value="${
      b.byPriority[priority]
    }"></meter></td></tr>`
  ).join("");
  const table = `<table>
<thead><tr><th scope="col">Priority</th><th scope="col">Pending</th><th scope="col">Share of capacity</th></tr></thead>
<tbody>${rows}</tbody>
<tfoot><tr><th scope="row">all</th><td>${metric("buffer.size", b.size)}</td><td>of ${
    formatCount(b.maxSize)
  } events</td></tr></tfoot>
</table>`;
  const details = definitions([
    [
      "Bytes",
      `${metric("buffer.bytes", b.bytes, formatBytes(b.bytes))} of ${formatBytes(b.maxBytes)}`,
    ],
    ["In flight", metric("buffer.inFlight", b.inFlight)],
    [
      "Oldest pending",
      b.size === 0
        ? "none pending"
        : metric("buffer.oldestEventAgeMs", b.oldestEventAgeMs, formatDuration(b.oldestEventAgeMs)),
    ],
    ["Storage", b.persistent ? "Deno KV, on disk" : "memory (lost at a crash)"],
    ["Expired", metric("buffer.expiredEvents", b.expiredEvents)],
    ["Evicted", metric("buffer.droppedEvents", b.droppedEvents)],
    ["Local dead letters", metric("buffer.localDeadLetters", b.localDeadLetters)],
  ]);
  const utilization =
    `<p class="fill"><meter min="0" max="1" low="0.7" high="0.9" optimum="0" value="${
      fill.toFixed(3)
    }"></meter> ${
      metric("buffer.utilizationPercent", b.utilizationPercent, `${b.utilizationPercent} %`)
    } full</p>`;
  return section("buffer", "Buffer", utilization + table + details);
}

function throughput(view: StatusView): string {
  const t = view.throughput;
  const counters = view.counters;
  const window = t.windowMs > 0
    ? `<p>Over the last ${formatDuration(t.windowMs)}: <strong>${
      metric(
        "throughput.publishedPerSecond",
        t.publishedPerSecond,
        formatRate(t.publishedPerSecond),
      )
    }</strong> confirmed, ${formatRate(t.failedPerSecond)} failed attempts, ${
      formatRate(t.deadLetteredPerSecond)
    } dead-lettered.</p>`
    : `<p>Collecting samples; rates appear with the next refresh.</p>`;
  const totals = definitions([
    ["Confirmed", metric("counters.published", counters.published)],
    [
      "Failed attempts",
      `${
        metric("counters.failed", counters.failed)
      } (${counters.neverSent} never sent, ${counters.unknownOutcome} outcome unknown)`,
    ],
    ["Retries", metric("counters.retried", counters.retried)],
    ["Resent (channel closed)", metric("counters.resent", counters.resent)],
    ["Dead-lettered", metric("counters.deadLettered", counters.deadLettered)],
    ["Deduplicated", metric("counters.deduplicated", counters.deduplicated)],
  ]);
  return section(
    "throughput",
    "Throughput",
    window + sparkline(t.series.map((p) => p.published)) + totals,
  );
}

function checks(view: StatusView): string {
  const items = Object.entries(view.checks).map(([name, check]) =>
    `<li class="${check.ok ? "ok" : "bad"}" data-check="${
      escapeHtml(name)
    }" data-ok="${check.ok}"><strong>${escapeHtml(name)}</strong>: ${
      check.ok ? "ok" : escapeHtml(check.reason ?? "failed")
    }</li>`
  ).join("\n");
  return section("health", "Health checks", `<ul class="checks">${items}</ul>`);
}

function deadLetters(list: DeadLettersView, now: number): string {
  const note = list.note === undefined ? "" : `<p class="note">${escapeHtml(list.note)}</p>`;
  if (list.status === "off") {
    return section("dead-letters", "Latest dead letters", "<p>Not listed on this page.</p>");
  }
  if (list.items.length === 0) {
    const none = list.status === "unavailable" ? "" : "<p>No dead letters.</p>";
    return section("dead-letters", "Latest dead letters", note + none);
  }
  const shown = list.total === undefined || list.total <= list.items.length
    ? `${list.items.length} shown`
    : `${list.items.length} of ${
      formatCount(list.total)
    } shown (local first, then the broker queue's oldest)`;
  const rows = list.items.map((letter) =>
    `<tr data-dead-letter="${escapeHtml(letter.id)}"><td><code>${
      escapeHtml(letter.id)
    }</code></td><td>${escapeHtml(letter.type)}</td><td>${
      escapeHtml(letter.reason)
    }</td><td>${letter.attempts}</td><td>${
      formatDuration(Math.max(0, now - letter.deadLetteredAt))
    } ago</td><td>${letter.location}</td><td>${escapeHtml(letter.errorMessage ?? "")}</td></tr>`
  ).join("\n");
  return section(
    "dead-letters",
    "Latest dead letters",
    `${note}<p>${shown}; replay or purge them with <code>deno task dlq</code>.</p>
<table class="letters">
<thead><tr><th scope="col">Id</th><th scope="col">Type</th><th scope="col">Reason</th><th scope="col">Attempts</th><th scope="col">When</th><th scope="col">Where</th><th scope="col">Last error</th></tr></thead>
<tbody>${rows}</tbody>
</table>`,
  );
}

// ---- pieces ----

function section(id: string, heading: string, content: string): string {
  return `<section id="${id}"><h2>${heading}</h2>\n${content}\n</section>`;
}

function definitions(rows: readonly [string, string][]): string {
  return `<dl>${rows.map(([term, value]) => `<dt>${term}</dt><dd>${value}</dd>`).join("")}</dl>`;
}

/** A figure with its raw value in `data-value`, for scripts and tests. */
function metric(name: string, value: number | string | boolean, shown?: string): string {
  const text = shown ?? (typeof value === "number" ? formatCount(value) : String(value));
  return `<span data-metric="${name}" data-value="${escapeHtml(String(value))}">${
    escapeHtml(text)
  }</span>`;
}

function pill(content: string, tone: "ok" | "bad"): string {
  return `<span class="pill ${tone}">${content}</span>`;
}

function sparkline(values: readonly number[]): string {
  if (values.length < 2) return "";
  const width = 320;
  const height = 48;
  const max = Math.max(...values, 0);
  const step = width / (values.length - 1);
  const points = values.map((v, i) =>
    `${(i * step).toFixed(1)},${(height - (max > 0 ? v / max : 0) * (height - 2) - 1).toFixed(1)}`
  ).join(" ");
  return `<figure><svg viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="confirmed per second, oldest to newest; peak ${
    formatRate(max)
  }"><polyline fill="none" stroke="currentColor" stroke-width="1.5" points="${points}"/></svg><figcaption>confirmed per second, peak ${
    formatRate(max)
  }</figcaption></figure>`;
}

// ---- formatting ----

function formatCount(n: number): string {
  return n.toLocaleString("en-US");
}

/** Bytes in B, KiB, MiB or GiB. */
export function formatBytes(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${units[unit]}`;
}

/** A duration in the two largest units that matter: `850 ms`, `12.3 s`, `4 min 5 s`, `2 h 3 min`. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const s = Math.floor(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  if (s < 86_400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86_400)} d ${Math.floor((s % 86_400) / 3600)} h`;
}

/** A rate per second, with precision where it is small. */
export function formatRate(perSecond: number): string {
  const digits = perSecond >= 100 ? 0 : perSecond >= 1 ? 1 : 2;
  return `${perSecond.toFixed(digits)}/s`;
}

function formatTime(ms: number): string {
  return new Date(ms).toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
}

// The whole client: swap in a fresh <main> every data-refresh ms.
const SCRIPT = `(() => {
  const body = document.body;
  const main = document.querySelector("main");
  const updated = document.getElementById("updated");
  const every = Number(body.dataset.refresh);
  let last;
  const refresh = async () => {
    try {
      const response = await fetch(body.dataset.fragment, { cache: "no-store" });
      if (!response.ok) throw new Error("HTTP " + response.status);
      main.innerHTML = await response.text();
      last = new Date();
      body.dataset.live = "true";
      updated.textContent = "Live: updated at " + last.toLocaleTimeString() +
        ", every " + every / 1000 + " s.";
    } catch (error) {
      body.dataset.live = "stale";
      updated.textContent = "Not updated" + (last ? " since " + last.toLocaleTimeString() : "") +
        ": " + error.message + ".";
    }
    setTimeout(refresh, every);
  };
  refresh();
})();`;

const STYLE = `
:root { color-scheme: light dark; --ok: #1a7f37; --bad: #c62828; --muted: #6b7280; --line: #d0d7de; }
@media (prefers-color-scheme: dark) { :root { --ok: #3fb950; --bad: #f85149; --line: #30363d; } }
body { font: 15px/1.45 system-ui, sans-serif; margin: 0 auto; max-width: 72rem; padding: 1rem 1.5rem; }
header { display: flex; flex-wrap: wrap; align-items: baseline; gap: .5rem 1.5rem; }
h1 { font-size: 1.4rem; margin: 0; }
h2 { font-size: 1.05rem; margin: 0 0 .5rem; }
nav, #updated, small, .note, figcaption { color: var(--muted); }
#updated { flex-basis: 100%; margin: .25rem 0 0; }
section { border: 1px solid var(--line); border-radius: 8px; padding: .75rem 1rem; margin: 1rem 0; }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(20rem, 1fr)); gap: 0 1rem; }
#summary { display: flex; flex-wrap: wrap; gap: .25rem 2rem; align-items: baseline; }
#summary p { margin: 0; }
#summary.ok { border-color: var(--ok); } #summary.bad { border-color: var(--bad); }
.verdict { font-size: 1.2rem; font-weight: 600; }
.ok > .verdict, li.ok strong { color: var(--ok); }
.bad > .verdict, li.bad strong, .error { color: var(--bad); }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1rem; margin: .5rem 0 0; }
dt { color: var(--muted); } dd { margin: 0; }
.pill { border: 1px solid currentColor; border-radius: 1rem; padding: 0 .5rem; }
.pill.ok { color: var(--ok); } .pill.bad { color: var(--bad); }
table { border-collapse: collapse; width: 100%; margin: .5rem 0; }
th, td { text-align: left; padding: .2rem .5rem .2rem 0; border-bottom: 1px solid var(--line); vertical-align: top; }
td:nth-child(2) { font-variant-numeric: tabular-nums; }
meter { width: 10rem; }
.fill meter { width: 14rem; height: 1.1rem; vertical-align: middle; }
.checks { list-style: none; padding: 0; margin: 0; } .checks li { margin: .2rem 0; }
.letters td:last-child { overflow-wrap: anywhere; }
figure { margin: .5rem 0; } svg { max-width: 100%; height: auto; color: var(--ok); }
code { font-size: .9em; overflow-wrap: anywhere; }
`;
