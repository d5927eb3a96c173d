import type { ServerWritableStream, ServiceError } from "@grpc/grpc-js";
import type { Logger } from "pino";

/** A safe way to push full-state messages on a server stream; see {@link createStreamSender}. */
export interface StreamSender<Message> {
  /** Aborts when the stream ends for any reason: client cancel, lost connection, {@link fail}, server shutdown. */
  readonly signal: AbortSignal;
  /**
   * Queues `message`. When the client reads slowly, an unsent message is replaced by the
   * newer one, because each message carries the complete state. Does nothing once the
   * stream has ended.
   */
  send(message: Message): void;
  /** Ends the stream with `error`'s status; later calls do nothing. */
  fail(error: ServiceError): void;
}

/**
 * Wraps a grpc-js server stream so that the handler never writes to a finished stream
 * and a client that disconnects mid-write cannot raise an unhandled error in the daemon.
 *
 * grpc-js emits `cancelled` and destroys the stream when the client goes away; writes
 * after that would never complete, so they are dropped here instead.
 */
export function createStreamSender<Message>(
  call: ServerWritableStream<unknown, Message>,
  logger: Logger,
): StreamSender<Message> {
  const controller = new AbortController();
  let pending: Message | undefined;
  let waitingForDrain = false;

  const isOpen = (): boolean =>
    !controller.signal.aborted && !call.cancelled && !call.destroyed && !call.writableEnded;

  const finish = (): void => {
    pending = undefined;
    if (!controller.signal.aborted) {
      controller.abort();
    }
  };

  call.on("cancelled", finish);
  call.on("close", finish);
  call.on("finish", finish);
  // grpc-js adds its own error listener that turns the error into the call status; this
  // one only records that the stream is over.
  call.on("error", (error: Error) => {
    logger.debug({ err: error }, "Workload API stream ended with an error");
    finish();
  });
  call.on("drain", () => {
    waitingForDrain = false;
    const next = pending;
    pending = undefined;
    if (next !== undefined) {
      write(next);
    }
  });

  function write(message: Message): void {
    if (!isOpen()) {
      return;
    }
    try {
      waitingForDrain = !call.write(message);
    } catch (error) {
      logger.debug({ err: error }, "Failed to write to a Workload API stream");
      finish();
    }
  }

  return {
    signal: controller.signal,
    send(message) {
      if (waitingForDrain) {
        pending = message;
        return;
      }
      write(message);
    },
    fail(error) {
      if (!isOpen()) {
        return;
      }
      pending = undefined;
      call.emit("error", error);
      finish();
    },
  };
}
