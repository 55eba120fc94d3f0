/**
 * Container integration: a small dependency container registers the
 * publisher as `asyncEventPublisher`, and a use case that depends only on the
 * `EventPublisher` interface gets it from there. Disposing the container
 * closes the publisher.
 *
 * Needs a RabbitMQ broker (`RABBITMQ_URL`, default amqp://guest:guest@localhost:5672).
 *
 * Run it with:
 *
 *     deno run -A examples/container.ts
 *
 * It publishes to the exchange `examples.container`.
 *
 * @module
 */

import {
  type AsyncPublishConfig,
  createRabbitMQAsyncEventPublisher,
  type EventPublisher,
  type PublishReceipt,
} from "../mod.ts";
import {
  exampleLogger,
  type ExampleOptions,
  exampleRabbitMQConfig,
  Inbox,
  runExample,
  sampleEvent,
} from "./_common.ts";

type Factory<T> = (container: Container) => T | Promise<T>;

/**
 * Creates each service once, on first `get()`, and disposes of them in the
 * reverse order on `dispose()`.
 */
class Container {
  readonly #factories = new Map<string, Factory<unknown>>();
  readonly #instances = new Map<string, Promise<unknown>>();

  register<T>(name: string, factory: Factory<T>): void {
    this.#factories.set(name, factory);
  }

  get<T>(name: string): Promise<T> {
    const factory = this.#factories.get(name);
    if (factory === undefined) throw new Error(`nothing is registered as "${name}"`);
    let instance = this.#instances.get(name);
    if (instance === undefined) {
      instance = Promise.resolve(factory(this));
      this.#instances.set(name, instance);
    }
    return instance as Promise<T>;
  }

  async dispose(): Promise<void> {
    const instances = [...this.#instances.values()].reverse();
    this.#instances.clear();
    for (const instance of instances) {
      const service = await instance.catch(() => undefined);
      if (typeof (service as Partial<AsyncDisposable>)?.[Symbol.asyncDispose] === "function") {
        await (service as AsyncDisposable)[Symbol.asyncDispose]();
      }
    }
  }
}

/** A use case: it knows the `EventPublisher` interface, not RabbitMQ. */
class ReportRecordingFailure {
  constructor(private readonly publisher: EventPublisher) {}

  async execute(recordingId: string, error: string): Promise<PublishReceipt> {
    return await this.publisher.publish(
      sampleEvent("recording.failed", { recordingId, error }, "high"),
    );
  }
}

/** Runs the example; see the module doc. */
export async function main(options: ExampleOptions = {}): Promise<void> {
  const log = options.log ?? console.log;
  const asyncConfig: AsyncPublishConfig = { maxConcurrency: 10, enableBackgroundProcessing: true };

  const config = exampleRabbitMQConfig(options, "examples.container");
  const container = new Container();
  container.register("asyncEventPublisher", async () => {
    return await createRabbitMQAsyncEventPublisher(config, asyncConfig, {
      logger: exampleLogger(log),
    });
  });
  container.register("reportRecordingFailure", async (c) => {
    const publisher = await c.get<EventPublisher>("asyncEventPublisher");
    return new ReportRecordingFailure(publisher);
  });

  await using inbox = await Inbox.open(config);
  try {
    const useCase = await container.get<ReportRecordingFailure>("reportRecordingFailure");
    log("The container created the publisher and the ReportRecordingFailure use case.");
    const receipt = await useCase.execute("123", "Storage failure");
    log(`The use case published recording.failed ${receipt.id}: status "${receipt.status}".`);
    const publisher = await container.get<EventPublisher>("asyncEventPublisher");
    const same = publisher === await container.get<EventPublisher>("asyncEventPublisher");
    log(`Asking the container again returns the same publisher: ${same}.`);
    await inbox.waitFor([receipt.id]);
    log(`The consumer received the event.`);
  } finally {
    await container.dispose();
    log("The container is disposed: the publisher is closed.");
  }
}

if (import.meta.main) await runExample(main);
