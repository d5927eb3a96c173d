/**
 * A workload attestor plugin: given the kernel-reported pid of a Workload API caller, it
 * returns selector values that describe the process.
 *
 * The agent types each value with the plugin's configured name, as SPIRE does, so the
 * `unix` plugin returning `uid:1000` yields the selector `unix:uid:1000`. A plugin that has
 * nothing to say about a process (say, `docker` for a process outside any container)
 * returns an empty list rather than throwing.
 */
export interface WorkloadAttestor {
  /** Plugin name; it becomes the selector type. */
  readonly name: string;
  /** Returns selector values for `pid`. Throws with a clear message when the process cannot be inspected. */
  attest(pid: number, signal: AbortSignal): Promise<string[]>;
  /** Releases connections the plugin keeps open (the systemd plugin's D-Bus connection); called once when the agent stops. */
  close?(): void;
}
