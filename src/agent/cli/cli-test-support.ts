import { Writable } from "node:stream";
import type { CliIo } from "./api-client.js";

/** A {@link CliIo} whose output is kept in strings, for tests of CLI verbs. */
export interface CapturedIo {
  io: CliIo;
  stdout(): string;
  stderr(): string;
}

/** Creates a {@link CapturedIo} with the given environment (empty by default). */
export function captureIo(env: NodeJS.ProcessEnv = {}): CapturedIo {
  let stdout = "";
  let stderr = "";
  const sink = (append: (text: string) => void) =>
    new Writable({
      write(chunk: Buffer, _encoding, callback) {
        append(chunk.toString("utf8"));
        callback();
      },
    });

  return {
    io: {
      stdout: sink((text) => (stdout += text)),
      stderr: sink((text) => (stderr += text)),
      env,
    },
    stdout: () => stdout,
    stderr: () => stderr,
  };
}
