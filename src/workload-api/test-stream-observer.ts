import type * as grpc from "@grpc/grpc-js";

/** Collects a stream's messages and its final status as they arrive, for tests of server streams. */
export function observe<Message>(stream: grpc.ClientReadableStream<Message>) {
  const messages: Message[] = [];
  const waiters: Array<() => void> = [];
  const wake = () => {
    for (const waiter of waiters.splice(0)) waiter();
  };
  let status: grpc.StatusObject | undefined;
  stream.on("data", (message: Message) => {
    messages.push(message);
    wake();
  });
  stream.on("error", () => undefined);
  stream.on("status", (value: grpc.StatusObject) => {
    status = value;
    wake();
  });

  return {
    messages,
    /** Resolves once `count` messages have arrived; rejects if the stream ends first. */
    async messageCount(count: number): Promise<Message[]> {
      while (messages.length < count) {
        if (status !== undefined) throw new Error(`stream ended with ${status.code} ${status.details}`);
        await new Promise<void>((resolve) => waiters.push(resolve));
      }
      return messages;
    },
    async finalStatus(): Promise<grpc.StatusObject> {
      while (status === undefined) await new Promise<void>((resolve) => waiters.push(resolve));
      return status;
    },
  };
}
