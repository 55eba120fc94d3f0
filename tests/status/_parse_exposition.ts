// A strict reader of the Prometheus text format (0.0.4), written from the
// format's description, so that tests check what a scraper would read.

export interface ParsedSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface ParsedFamily {
  name: string;
  type: string;
  help: string;
  samples: ParsedSample[];
}

const NAME = "[a-zA-Z_:][a-zA-Z0-9_:]*";
const SAMPLE = new RegExp(`^(${NAME})(?:\\{(.*)\\})? (\\S+)$`);
const LABEL = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)/;

function unescape(text: string, quotes: boolean): string {
  return text.replace(/\\(.)/g, (_, c: string) => {
    if (c === "n") return "\n";
    if (c === "\\") return "\\";
    if (c === '"' && quotes) return '"';
    throw new Error(`invalid escape \\${c}`);
  });
}

function parseValue(text: string): number {
  if (text === "+Inf") return Infinity;
  if (text === "-Inf") return -Infinity;
  if (text === "NaN") return NaN;
  const value = Number(text);
  if (text === "" || Number.isNaN(value)) throw new Error(`invalid value "${text}"`);
  return value;
}

/** Parses an exposition; throws on anything a scraper would reject or misread. */
export function parseExposition(text: string): Map<string, ParsedFamily> {
  if (text !== "" && !text.endsWith("\n")) {
    throw new Error("the exposition must end with a line feed");
  }
  const families = new Map<string, ParsedFamily>();
  const lines = text.split("\n").slice(0, -1);
  for (const [index, line] of lines.entries()) {
    const where = `line ${index + 1} ("${line}")`;
    const meta = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
    if (meta) {
      const [, kind, name, rest] = meta;
      let family = families.get(name);
      if (family === undefined) {
        family = { name, type: "", help: "", samples: [] };
        families.set(name, family);
      }
      if (family.samples.length > 0) throw new Error(`${where}: ${kind} after samples`);
      if (kind === "HELP") family.help = unescape(rest, false);
      else if (["counter", "gauge", "histogram", "summary", "untyped"].includes(rest)) {
        family.type = rest;
      } else throw new Error(`${where}: unknown type "${rest}"`);
      continue;
    }
    if (line.startsWith("#")) continue;
    const sample = SAMPLE.exec(line);
    if (!sample) throw new Error(`${where}: not a sample`);
    const [, name, labelText = "", valueText] = sample;
    const family = families.get(name);
    if (family === undefined || family.type === "") {
      throw new Error(`${where}: sample without a # TYPE line before it`);
    }
    const labels: Record<string, string> = {};
    let rest = labelText;
    while (rest !== "") {
      const label = LABEL.exec(rest);
      if (!label) throw new Error(`${where}: invalid labels "${rest}"`);
      if (label[1] in labels) throw new Error(`${where}: label ${label[1]} repeats`);
      labels[label[1]] = unescape(label[2], true);
      rest = rest.slice(label[0].length);
    }
    family.samples.push({ name, labels, value: parseValue(valueText) });
  }
  return families;
}

/** The value of the one sample of `name` with exactly `labels`. */
export function sampleValue(
  families: Map<string, ParsedFamily>,
  name: string,
  labels: Record<string, string> = {},
): number {
  const matches = (families.get(name)?.samples ?? []).filter((s) =>
    JSON.stringify(Object.entries(s.labels).sort()) ===
      JSON.stringify(Object.entries(labels).sort())
  );
  if (matches.length !== 1) {
    throw new Error(
      `expected one sample ${name}${JSON.stringify(labels)}, found ${matches.length}`,
    );
  }
  return matches[0].value;
}
