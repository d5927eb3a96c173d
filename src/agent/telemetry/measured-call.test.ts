import { expect, it } from "vitest";

import { measureCall } from "./measured-call.js";
import type { MeasuredResult } from "./measured-call.js";

it("reports the value and duration of a call", async () => {
  const reports: Array<MeasuredResult<number>> = [];

  const value = await measureCall(async () => 42, (result) => reports.push(result));

  expect(value).toBe(42);
  expect(reports).toHaveLength(1);
  expect(reports[0]?.value).toBe(42);
  expect(reports[0]?.error).toBeUndefined();
  expect(reports[0]?.elapsedMs).toBeGreaterThanOrEqual(0);
});

it("reports the error and rethrows it", async () => {
  const reports: Array<MeasuredResult<number>> = [];
  const failure = new Error("server unreachable");

  await expect(measureCall(() => Promise.reject(failure), (result) => reports.push(result))).rejects.toBe(failure);

  expect(reports).toHaveLength(1);
  expect(reports[0]?.error).toBe(failure);
});

it("runs without a reporter", async () => {
  expect(await measureCall(async () => "done", undefined)).toBe("done");
});
