import type { ClientDuplexStream } from "@grpc/grpc-js";

/** Pull-style reading of a gRPC stream's responses. */
export interface StreamReader<T> {
  /** Resolves with the next response. Rejects with the call's error, or when the server ends the stream early. */
  receive(): Promise<T>;
}

/**
 * Wraps a client stream so responses can be awaited one at a time. The wrapper listens for
 * `error` from the start, so cancelling the call later (which grpc-js reports as an error
 * event) never becomes an unhandled error. `what` names the stream in error messages.
 */
export function readStream<Request, Response>(call: ClientDuplexStream<Request, Response>, what: string): StreamReader<Response> {
  const queued: Response[] = [];
  let failure: Error | undefined;
  let waiting: { resolve(value: Response): void; reject(error: Error): void } | undefined;

  const settle = (): void => {
    if (waiting === undefined) {
      return;
    }
    const next = queued.shift();
    if (next !== undefined) {
      const { resolve } = waiting;
      waiting = undefined;
      resolve(next);
    } else if (failure !== undefined) {
      const { reject } = waiting;
      waiting = undefined;
      reject(failure);
    }
  };

  call.on("data", (response: Response) => {
    queued.push(response);
    settle();
  });
  call.on("error", (error: Error) => {
    failure ??= error;
    settle();
  });
  call.on("end", () => {
    failure ??= new Error(`the server closed the ${what} stream before sending the expected response`);
    settle();
  });

  return {
    receive() {
      return new Promise<Response>((resolve, reject) => {
        waiting = { resolve, reject };
        settle();
      });
    },
  };
}
