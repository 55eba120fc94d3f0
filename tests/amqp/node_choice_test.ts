// Node choice against the real broker, behind three TCP proxies standing in
// for the nodes of a cluster: after a lost connection the transport goes to
// the next node, not back to the one it lost; a node that refuses is passed
// over; `url` names the node in use.

import assert from "node:assert/strict";
import { AMQPClient } from "@cloudamqp/amqp-client";
import { TcpProxy } from "../_proxy.ts";
import { BROKER_URL, uniqueName } from "../_broker.ts";
import { recordingLogger } from "../_logger.ts";
import { until } from "../_wait.ts";
import { AmqpTransport } from "../../mod.ts";

/** The index of the proxy whose port `url` names. */
function indexOf(proxies: readonly TcpProxy[], url: string | undefined): number {
  return proxies.findIndex((proxy) => url !== undefined && new URL(url).port === `${proxy.port}`);
}

Deno.test("after losing its node, AmqpTransport connects to the next one, passing over one that refuses", async () => {
  const proxies = await Promise.all([0, 1, 2].map(() => TcpProxy.start()));
  const exchange = uniqueName("nodes");
  const transport = new AmqpTransport({
    urls: proxies.map((proxy) => proxy.url),
    exchange,
    reconnectBaseDelay: 50,
    reconnectMaxDelay: 200,
    logger: recordingLogger(),
  });
  try {
    assert.equal(await transport.start(), true);
    const first = indexOf(proxies, transport.url);
    assert.notEqual(first, -1, `connected through ${transport.url}`);
    assert.equal(proxies[first].connectionCount, 1);

    proxies[first].dropConnections();
    const second = (first + 1) % 3;
    await until(
      () => transport.state === "connected" && indexOf(proxies, transport.url) === second,
      () => `a connection through proxy ${second}; now ${transport.state} at ${transport.url}`,
    );
    assert.equal(proxies[first].connectionCount, 0);

    // The node after it refuses: the one after that is used, not the lost one.
    const third = (second + 1) % 3;
    proxies[third].refuse();
    proxies[second].dropConnections();
    await until(
      () => transport.state === "connected" && indexOf(proxies, transport.url) === first,
      () => `a connection through proxy ${first}; now ${transport.state} at ${transport.url}`,
    );
    assert.equal(proxies[second].connectionCount, 0);
  } finally {
    await transport.close();
    for (const proxy of proxies) await proxy.close();
    const client = new AMQPClient(BROKER_URL);
    await client.connect();
    await (await client.channel()).exchangeDelete(exchange);
    await client.close();
  }
});
