// The operator page in a real headless browser: `deno task test:browser`.
// Not part of `deno task test`, because it needs Chromium: on Debian or
// Ubuntu, `apt-get install -y chromium` (as root); elsewhere, point
// `CHROMIUM` at a Chrome or Chromium binary. Set `STATUS_SCREENSHOT` to a
// path to keep the screenshot the test takes.

import assert from "node:assert/strict";
import { BROKER_URL, TestConsumer, testEvent } from "../_broker.ts";
import { until } from "../_wait.ts";
import { createRabbitMQAsyncEventPublisher, type RabbitMQAsyncEventPublisher } from "../../mod.ts";
import { createStatusHandler } from "../../status.ts";

const quiet = { debug() {}, info() {}, warn() {}, error() {} };

async function findChromium(): Promise<string> {
  const candidates = [Deno.env.get("CHROMIUM"), "chromium", "chromium-browser", "google-chrome"];
  for (const candidate of candidates) {
    if (!candidate) continue;
    try {
      const { success } = await new Deno.Command(candidate, {
        args: ["--version"],
        stdout: "null",
        stderr: "null",
      })
        .output();
      if (success) return candidate;
    } catch {
      // not installed under this name
    }
  }
  throw new Error(
    "the browser test needs Chromium: on Debian or Ubuntu run `apt-get install -y chromium` " +
      "(as root), or set CHROMIUM to a Chrome or Chromium binary",
  );
}

/** Runs headless Chromium on `url` with `args`, letting the page's scripts run first. */
async function chromium(binary: string, url: string, args: string[]): Promise<string> {
  const profile = await Deno.makeTempDir({ prefix: "status-browser-" });
  try {
    const { success, stdout, stderr } = await new Deno.Command(binary, {
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        `--user-data-dir=${profile}`,
        // Virtual time does not advance while a fetch is pending, so the
        // page's first refresh completes within the budget.
        "--virtual-time-budget=3000",
        ...args,
        url,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder();
    if (!success) throw new Error(`chromium failed: ${text.decode(stderr)}`);
    return text.decode(stdout);
  } finally {
    await Deno.remove(profile, { recursive: true });
  }
}

/** The `data-value` of the figure named `metric` in the page's DOM. */
function figure(dom: string, metric: string): string | undefined {
  const escaped = metric.replaceAll(".", "\\.");
  return new RegExp(`data-metric="${escaped}" data-value="([^"]*)"`).exec(dom)?.[1];
}

async function publishSettled(
  publisher: RabbitMQAsyncEventPublisher,
  consumer: TestConsumer,
  from: number,
  count: number,
): Promise<void> {
  await publisher.publishBatch(
    Array.from({ length: count }, (_, i) => testEvent(from + i, i % 5 === 0 ? "high" : "normal")),
  );
  await publisher.flush();
  await until(
    () => consumer.messages.length >= from + count && publisher.getStats().inFlightEvents === 0,
    `${from + count} events delivered`,
  );
}

Deno.test("the operator page shows the live figures in a headless browser after its script ran", async () => {
  const binary = await findChromium();
  await using consumer = await TestConsumer.start({ bindingKey: "test.#" });
  const publisher = await createRabbitMQAsyncEventPublisher(
    { url: BROKER_URL, exchange: consumer.exchange },
    { flushInterval: 20 },
    { logger: quiet },
  );
  const status = createStatusHandler(publisher, { refreshMs: 1_000, title: "Browser test" });
  let late = 0;
  // The page's script fetches the <main> fragment: before answering its first
  // fetch, more events are confirmed, so only a page whose script ran shows them.
  const handler = async (request: Request): Promise<Response> => {
    if (new URL(request.url).searchParams.has("fragment") && late === 0) {
      late = 5;
      await publishSettled(publisher, consumer, 20, late);
    }
    return await status(request);
  };
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, handler);
  const url = `http://127.0.0.1:${server.addr.port}/`;
  try {
    await publishSettled(publisher, consumer, 0, 20);
    const unroutable = { ...testEvent(99, "high", "nobody.listens"), id: "lost-in-the-browser" };
    assert.deepEqual((await publisher.publish(unroutable)).status, "dead-lettered");
    await until(
      () => publisher.getStats().bufferStats.localDeadLetters === 0,
      "the dead letter shipped",
    );

    const served = await (await fetch(url)).text();
    assert.deepEqual(figure(served, "counters.published"), "20");

    const dom = await chromium(binary, url, ["--dump-dom"]);
    assert.match(dom, /<body [^>]*data-live="true"/, "the script swapped in a fresh <main>");
    assert.match(dom, /<p id="updated" role="status">Live: updated at [^<]+, every 1 s\.<\/p>/);
    const stats = publisher.getStats();
    assert.deepEqual(stats.publishedEvents, 25);
    assert.deepEqual(figure(dom, "counters.published"), String(stats.publishedEvents));
    assert.deepEqual(figure(dom, "counters.deadLettered"), "1");
    assert.deepEqual(figure(dom, "connection.state"), "connected");
    assert.deepEqual(figure(dom, "circuit.state"), "closed");
    assert.deepEqual(figure(dom, "buffer.size"), "0");
    assert.match(dom, /<tr data-dead-letter="lost-in-the-browser">.*<td>unroutable<\/td>/);
    assert.doesNotMatch(dom, /guest:guest@/);

    const keep = Deno.env.get("STATUS_SCREENSHOT");
    const shot = keep ?? await Deno.makeTempFile({ prefix: "status-page-", suffix: ".png" });
    try {
      await chromium(binary, url, [`--screenshot=${shot}`, "--window-size=1280,1100"]);
      const png = await Deno.readFile(shot);
      assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
      assert.ok(png.length > 10_000, `a screenshot of ${png.length} bytes shows a page`);
    } finally {
      if (keep === undefined) await Deno.remove(shot);
    }
    await consumer.drainDeadLetters();
  } finally {
    await server.shutdown();
    await publisher.close();
  }
});
