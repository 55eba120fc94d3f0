import assert from "node:assert/strict";
import {
  escapeHelp,
  escapeLabelValue,
  formatValue,
  renderExposition,
} from "../../src/status/_exposition.ts";
import { parseExposition } from "./_parse_exposition.ts";

Deno.test("renderExposition() writes # HELP and # TYPE before each family's samples", () => {
  const text = renderExposition([
    { name: "app_sent_total", type: "counter", help: "Sent.", samples: [{ value: 3 }] },
    {
      name: "app_pending",
      type: "gauge",
      help: "Pending.",
      samples: [{ labels: { priority: "high" }, value: 1 }, {
        labels: { priority: "low" },
        value: 0,
      }],
    },
  ]);
  assert.deepEqual(
    text,
    [
      "# HELP app_sent_total Sent.",
      "# TYPE app_sent_total counter",
      "app_sent_total 3",
      "# HELP app_pending Pending.",
      "# TYPE app_pending gauge",
      'app_pending{priority="high"} 1',
      'app_pending{priority="low"} 0',
      "",
    ].join("\n"),
  );
});

Deno.test("renderExposition() escapes help texts and label values so a scraper reads them back", () => {
  const help = 'a \\ backslash,\na line feed and "quotes"';
  const value = 'C:\\path "quoted"\nnext';
  const families = parseExposition(renderExposition([
    { name: "odd_values", type: "gauge", help, samples: [{ labels: { v: value }, value: 1 }] },
  ]));
  const family = families.get("odd_values")!;
  assert.deepEqual(family.help, help);
  assert.deepEqual(family.samples[0].labels.v, value);
  assert.deepEqual(escapeHelp("a\\b\nc"), "a\\\\b\\nc");
  assert.deepEqual(escapeLabelValue('"\\\n'), '\\"\\\\\\n');
});

Deno.test("formatValue() writes NaN and the infinities as the format spells them", () => {
  assert.deepEqual([NaN, Infinity, -Infinity, 0.25, 12].map(formatValue), [
    "NaN",
    "+Inf",
    "-Inf",
    "0.25",
    "12",
  ]);
});

Deno.test("renderExposition() refuses names and values the format does not allow", () => {
  const gauge = (name: string, labels?: Record<string, string>) => ({
    name,
    type: "gauge" as const,
    help: "h",
    samples: [{ labels, value: 1 }],
  });
  assert.throws(() => renderExposition([gauge("bad-name")]), /invalid metric name: got "bad-name"/);
  assert.throws(() => renderExposition([gauge("ok", { "bad-label": "x" })]), /invalid label name/);
  assert.throws(() => renderExposition([gauge("ok", { __reserved: "x" })]), /invalid label name/);
  assert.throws(() => renderExposition([gauge("twice"), gauge("twice")]), /appears twice/);
  assert.throws(
    () => renderExposition([{ name: "sent", type: "counter", help: "h", samples: [] }]),
    /counter "sent" must end in _total/,
  );
  assert.throws(
    () =>
      renderExposition([{ name: "x_total", type: "counter", help: "h", samples: [{ value: -1 }] }]),
    /must not be negative: got -1/,
  );
});

Deno.test("renderExposition() of no family is empty", () => {
  assert.deepEqual(renderExposition([]), "");
});
