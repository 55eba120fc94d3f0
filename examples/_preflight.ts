// The check the examples and the test suite make before they start: does
// RabbitMQ answer at the URL, and accept its login? When it does not, one line
// says why and what to do, instead of a connection error's stack trace.
//
// Not an example itself; it is only imported by them and by tests/_broker.ts.

import { AMQPClient } from "@cloudamqp/amqp-client";
import { maskCredentials, maskUrl } from "../src/_mask.ts";
import { explainConnectFailure } from "../src/amqp/_errors.ts";

const START_HINT =
  "start one with `rabbitmq-server -detached` (or `docker run -d -p 5672:5672 rabbitmq:4`)";

/**
 * Connects to `url` (TCP first, bounded by `timeoutMs`, then the AMQP login)
 * and closes again.
 *
 * @param url The broker URL; its password is masked in what is returned.
 * @param variable The environment variable that sets the URL, named in the advice.
 * @param timeoutMs How long to wait for the TCP connection.
 * @returns `undefined` when the broker accepted the login, otherwise one line
 * saying what failed and what to do.
 */
export async function brokerProblem(
  url: string,
  variable: string,
  timeoutMs = 3_000,
): Promise<string | undefined> {
  const shown = maskUrl(url);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return `${variable} is not a URL: ${JSON.stringify(shown)}`;
  }
  const port = Number(parsed.port || (parsed.protocol === "amqps:" ? 5671 : 5672));
  const hostname = parsed.hostname.replace(/^\[(.*)\]$/, "$1");
  try {
    const connection = await Deno.connect({
      hostname,
      port,
      signal: AbortSignal.timeout(timeoutMs),
    });
    connection.close();
  } catch (error) {
    const why = error instanceof DOMException && error.name === "TimeoutError"
      ? `no answer in ${timeoutMs} ms`
      : maskCredentials(error instanceof Error ? error.message : String(error));
    return `RabbitMQ is not reachable at ${shown} (${why}): ${START_HINT}, or set ${variable}`;
  }
  const client = new AMQPClient(url);
  try {
    await client.connect();
  } catch (error) {
    const text = maskCredentials(error instanceof Error ? error.message : String(error));
    if (/^(Connection ended|Socket closed|timeout)$/.test(text)) {
      return `something answers at ${shown}, but not as RabbitMQ (${text}): ` +
        `check the host and port in ${variable}`;
    }
    // The library's own wording for a refused login, a vhost, and the rest.
    return `${explainConnectFailure(url, error).text} (the URL comes from ${variable})`;
  }
  await client.close();
  return undefined;
}
