// The Prometheus text exposition format (version 0.0.4): metric families
// with their `# HELP` and `# TYPE` lines, label sets, and the escaping the
// format requires. Knows nothing of the publisher.

/** The content type of the text format. */
export const EXPOSITION_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** The metric types this project exposes. */
export type MetricType = "counter" | "gauge";

/** One sample of a family: its labels and value. */
export interface Sample {
  labels?: Readonly<Record<string, string>>;
  value: number;
}

/** A metric family: one name, one type, one help text, its samples. */
export interface MetricFamily {
  /** The full name; a counter's ends in `_total`. */
  name: string;
  type: MetricType;
  help: string;
  samples: readonly Sample[];
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** Escapes a `# HELP` text: backslash and line feed. */
export function escapeHelp(text: string): string {
  return text.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

/** Escapes a label value: backslash, double quote and line feed. */
export function escapeLabelValue(text: string): string {
  return text.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

/** A sample value as the format writes it, `NaN` and `±Inf` included. */
export function formatValue(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return String(value);
}

/**
 * Renders families in the text format, each as `# HELP`, `# TYPE`, then its
 * samples, ending with a line feed.
 *
 * @throws {RangeError} When a metric or label name is not valid in the
 * format, a counter's name does not end in `_total`, a name repeats, or a
 * counter's value is negative.
 */
export function renderExposition(families: readonly MetricFamily[]): string {
  const lines: string[] = [];
  const seen = new Set<string>();
  for (const family of families) {
    const { name, type, help, samples } = family;
    if (!METRIC_NAME.test(name)) throw new RangeError(`invalid metric name: got "${name}"`);
    if (seen.has(name)) throw new RangeError(`metric "${name}" appears twice`);
    seen.add(name);
    if (type === "counter" && !name.endsWith("_total")) {
      throw new RangeError(`counter "${name}" must end in _total`);
    }
    lines.push(`# HELP ${name} ${escapeHelp(help)}`, `# TYPE ${name} ${type}`);
    for (const { labels = {}, value } of samples) {
      if (type === "counter" && !(value >= 0)) {
        throw new RangeError(`counter "${name}" must not be negative: got ${value}`);
      }
      lines.push(`${name}${renderLabels(name, labels)} ${formatValue(value)}`);
    }
  }
  return lines.length === 0 ? "" : `${lines.join("\n")}\n`;
}

function renderLabels(metric: string, labels: Readonly<Record<string, string>>): string {
  const entries = Object.entries(labels);
  if (entries.length === 0) return "";
  const parts = entries.map(([label, value]) => {
    if (!LABEL_NAME.test(label) || label.startsWith("__")) {
      throw new RangeError(`invalid label name on "${metric}": got "${label}"`);
    }
    return `${label}="${escapeLabelValue(value)}"`;
  });
  return `{${parts.join(",")}}`;
}
