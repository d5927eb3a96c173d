import { ServerInterceptingCall, status as Status } from "@grpc/grpc-js";
import type { ServerInterceptor } from "@grpc/grpc-js";

import { callerOf } from "./caller-listener.js";

/** Outcome of one call on the Workload API socket. */
export interface CallOutcome {
  /** gRPC path, e.g. `/SpiffeWorkloadAPI/FetchX509SVID`; only paths the server serves get here. */
  path: string;
  /** gRPC status code sent to the client, or CANCELLED when the client went away first. */
  code: number;
  /** Time from the start of the call to its end, in milliseconds; for a stream, its whole life. */
  elapsedMs: number;
  /** Process ID of the caller from the connection's kernel credentials; undefined when unknown. */
  callerPid?: number;
}

/** Receives the start and end of every call on the Workload API socket, e.g. to count them. */
export interface WorkloadApiCallObserver {
  callStarted(path: string, callerPid: number | undefined): void;
  /** Called once per started call, also when both the status and a cancellation arrive. */
  callFinished(outcome: CallOutcome): void;
}

/**
 * Builds a grpc-js server interceptor that reports every call to `observer`. A call ends
 * when the server sends its status or when the client cancels it, whichever comes first.
 * Observer calls run synchronously on the call's path, so they must be cheap.
 */
export function callObserverInterceptor(observer: WorkloadApiCallObserver): ServerInterceptor {
  return (method, call) => {
    const path = method.path;
    const startedMs = performance.now();
    const callerPid = callerOf(call)?.pid;
    let finished = false;

    const finish = (code: number): void => {
      if (finished) {
        return;
      }
      finished = true;
      observer.callFinished({ path, code, elapsedMs: performance.now() - startedMs, callerPid });
    };

    observer.callStarted(path, callerPid);
    return new ServerInterceptingCall(call, {
      start: (next) => next({ onCancel: () => finish(Status.CANCELLED) }),
      sendStatus: (status, next) => {
        finish(status.code);
        next(status);
      },
    });
  };
}
