// How the dead-letter tool prints: a dead letter as JSON, as a table row and
// as a whole (`show`), and sizes and ages for people.

import type { DeadLetter } from "../dead_letters/dead_letter.ts";

const LAST_ERROR_WIDTH = 40;

/** A dead letter for JSON output: times as ISO 8601, the body parsed when it is JSON. */
export function letterJson(letter: DeadLetter): Record<string, unknown> {
  return {
    ...letter,
    acceptedAt: iso(letter.acceptedAt),
    firstFailureAt: iso(letter.firstFailureAt),
    lastFailureAt: iso(letter.lastFailureAt),
    deadLetteredAt: iso(letter.deadLetteredAt),
    body: parsedBody(letter.body),
    properties: { ...letter.properties, timestamp: iso(letter.properties.timestamp) },
  };
}

/** One line per dead letter, under a header. */
export function letterTable(letters: readonly DeadLetter[]): string {
  const header = ["ID", "TYPE", "REASON", "ATTEMPTS", "LAST ERROR", "DEAD-LETTERED AT", "LOCATION"];
  const rows = letters.map((letter) => [
    letter.id,
    letter.type,
    letter.reason,
    String(letter.attempts),
    truncate(errorText(letter) ?? "-", LAST_ERROR_WIDTH),
    new Date(letter.deadLetteredAt).toISOString(),
    letter.location,
  ]);
  return columns([header, ...rows]);
}

/** The whole dead letter, for `show`: every field, the headers, and the body. */
export function letterText(letter: DeadLetter, now: number): string {
  const time = (ms: number | undefined) =>
    ms === undefined ? undefined : `${iso(ms)} (${age(now - ms)} ago)`;
  const { headers, ...properties } = letter.properties;
  const fields: [string, string | undefined][] = [
    ["id", letter.id],
    ["type", letter.type],
    ["location", letter.location === "local" ? "local store" : "broker queue"],
    ["reason", letter.reason],
    ["attempts", String(letter.attempts)],
    ["error", errorText(letter)],
    ["accepted at", time(letter.acceptedAt)],
    ["first failure at", time(letter.firstFailureAt)],
    ["last failure at", time(letter.lastFailureAt)],
    ["dead-lettered at", time(letter.deadLetteredAt)],
    ["exchange", JSON.stringify(letter.originalExchange)],
    ["routing key", JSON.stringify(letter.originalRoutingKey)],
  ];
  const lines = fields.filter(([, value]) => value !== undefined)
    .map(([name, value]) => `${(name + ":").padEnd(18)}${value}`);
  lines.push("properties:");
  for (const [name, value] of Object.entries(properties)) {
    if (value === undefined) continue;
    lines.push(`  ${name}: ${name === "timestamp" ? iso(value as number) : JSON.stringify(value)}`);
  }
  lines.push(Object.keys(headers).length === 0 ? "headers:          (none)" : "headers:");
  for (const [name, value] of Object.entries(headers)) {
    lines.push(`  ${name}: ${JSON.stringify(value)}`);
  }
  const body = parsedBody(letter.body);
  lines.push(
    `body (${new TextEncoder().encode(letter.body).length} bytes):`,
    typeof body === "string" ? letter.body : JSON.stringify(body, null, 2),
  );
  return lines.join("\n") + "\n";
}

/** Rows as aligned columns, two spaces apart, the last one unpadded. */
export function columns(rows: readonly string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((row) => row[i].length)));
  return rows.map((cells) =>
    cells.map((cell, i) => i === cells.length - 1 ? cell : cell.padEnd(widths[i])).join("  ")
  ).join("\n") + "\n";
}

/** Bytes for people: `512 B`, `1.5 KiB`, `20.0 MiB`. */
export function byteSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) value /= 1024, unit++;
  return `${value.toFixed(1)} ${units[unit]}`;
}

/** A duration for people, at most two units: `42s`, `3m 12s`, `2h 5m`, `3d 4h`. */
export function age(ms: number): string {
  const seconds = Math.max(0, Math.floor(ms / 1000));
  const parts: [number, string][] = [
    [Math.floor(seconds / 86_400), "d"],
    [Math.floor(seconds / 3_600) % 24, "h"],
    [Math.floor(seconds / 60) % 60, "m"],
    [seconds % 60, "s"],
  ];
  const first = parts.findIndex(([value]) => value > 0);
  if (first === -1) return "0s";
  return parts.slice(first, first + 2).filter(([value]) => value > 0)
    .map(([value, unit]) => `${value}${unit}`).join(" ");
}

/** A time as ISO 8601, `undefined` kept. */
export function iso(ms: number | undefined): string | undefined {
  return ms === undefined ? undefined : new Date(ms).toISOString();
}

function errorText(letter: DeadLetter): string | undefined {
  return [letter.errorName, letter.errorMessage].filter(Boolean).join(": ") || undefined;
}

function parsedBody(body: string): unknown {
  try {
    return JSON.parse(body);
  } catch {
    return body; // not JSON: shown as the text it is
  }
}

function truncate(text: string, width: number): string {
  const flat = text.replace(/\s+/g, " ");
  return flat.length <= width ? flat : flat.slice(0, width - 1) + "…";
}
