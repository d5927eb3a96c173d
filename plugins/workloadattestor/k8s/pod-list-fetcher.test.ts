import { describe, expect, it } from "vitest";
import { createPodListFetcher } from "./pod-list-fetcher.js";

describe("pod list fetcher", () => {
  const signal = (): AbortSignal => new AbortController().signal;

  /** Returns a pod source that records the start time of each call. */
  function countingSource(): { fetch: () => Promise<Map<string, unknown>>; starts: number[] } {
    const starts: number[] = [];
    return {
      starts,
      fetch: async () => {
        starts.push(Date.now());
        await new Promise((resolve) => setTimeout(resolve, 20));
        return new Map([[`pod-${starts.length}`, {}]]);
      },
    };
  }

  it("shares one request between concurrent callers", async () => {
    const source = countingSource();
    const fetcher = createPodListFetcher(source.fetch, 1000);

    const lists = await Promise.all([0, 0, 0].map((after) => fetcher.fetchNext(after, signal())));

    expect(lists.map((list) => list.version)).toEqual([1, 1, 1]);
    expect(source.starts).toHaveLength(1);
  });

  it("serves a fresh cached list", async () => {
    const source = countingSource();
    const fetcher = createPodListFetcher(source.fetch, 1000);

    const first = await fetcher.fetchNext(0, signal());
    const second = await fetcher.fetchNext(0, signal());

    expect(second).toBe(first);
    expect(source.starts).toHaveLength(1);
  });

  it("spaces requests for a newer list", async () => {
    const source = countingSource();
    const fetcher = createPodListFetcher(source.fetch, 150);

    const first = await fetcher.fetchNext(0, signal());
    const second = await fetcher.fetchNext(first.version, signal());

    expect(second.version).toBe(2);
    expect([...second.pods.keys()]).toEqual(["pod-2"]);
    expect((source.starts[1] as number) - (source.starts[0] as number)).toBeGreaterThanOrEqual(145);
  });

  it("passes an error to every waiter", async () => {
    let calls = 0;
    const fetcher = createPodListFetcher(async () => {
      calls += 1;
      if (calls === 2) throw new Error("kubelet unavailable");
      return new Map();
    }, 10);

    const first = await fetcher.fetchNext(0, signal());
    const failures = await Promise.allSettled([fetcher.fetchNext(1, signal()), fetcher.fetchNext(1, signal())]);
    const third = await fetcher.fetchNext(1, signal());

    expect(first.version).toBe(1);
    expect(failures.map((result) => result.status)).toEqual(["rejected", "rejected"]);
    expect(third.version).toBe(2);
    expect(calls).toBe(3);
  });

  it("lets one caller stop waiting", async () => {
    const source = countingSource();
    const fetcher = createPodListFetcher(source.fetch, 10);
    const controller = new AbortController();

    const leaving = fetcher.fetchNext(0, controller.signal);
    const staying = fetcher.fetchNext(0, signal());
    controller.abort(new Error("left"));

    await expect(leaving).rejects.toThrow("left");
    expect((await staying).version).toBe(1);
  });
});
