import type { EventEmitter } from "node:events";

/** The parts of a grpc-js duplex call these helpers use. */
export type StreamCall<Response = unknown> = EventEmitter & { write(message: Response): boolean };

/** Reads a bidirectional call's requests one at a time; see {@link createStreamReader}. */
export interface StreamReader<T> {
  /** Resolves with the next request, or undefined once the client half-closed or cancelled. */
  next(): Promise<T | undefined>;
}

/**
 * Wraps a grpc-js duplex call so that handlers can await requests in order. Unlike
 * `for await` on the call, the reader also finishes on "cancelled" and "close", because a
 * cancelled call may never emit "end".
 */
export function createStreamReader<T>(call: EventEmitter): StreamReader<T> {
  const queued: T[] = [];
  let finished = false;
  let wake: (() => void) | undefined;

  const notify = (): void => {
    const waiter = wake;
    wake = undefined;
    waiter?.();
  };
  call.on("data", (request: T) => {
    queued.push(request);
    notify();
  });
  const finish = (): void => {
    finished = true;
    notify();
  };
  call.once("end", finish);
  call.once("cancelled", finish);
  call.once("close", finish);

  return {
    async next() {
      while (queued.length === 0 && !finished) {
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
      }
      return queued.shift();
    },
  };
}

/** Writes one message and waits for buffer space, so large replies do not pile up in memory. */
export async function writeMessage<T>(call: StreamCall<T>, message: T): Promise<void> {
  if (!call.write(message)) {
    await new Promise<void>((resolve) => {
      const done = (): void => {
        call.off("drain", done);
        call.off("close", done);
        resolve();
      };
      call.once("drain", done);
      call.once("close", done);
    });
  }
}
