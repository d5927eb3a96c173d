/**
 * Base class of the errors raised while finding the container of a process from its
 * cgroups. Attestors let these propagate: the workload then gets no selectors from that
 * attestor, which is safer than a guess.
 */
export class ContainerLocatorError extends Error {
  override readonly name: string = "ContainerLocatorError";
}

/** Raised when `/proc/<pid>/cgroup` cannot be read, e.g. because the process has exited. */
export class CgroupReadError extends ContainerLocatorError {
  override readonly name = "CgroupReadError";
}

/** Raised when a line of a cgroup file is not `hierarchy-ID:controller-list:path`. */
export class CgroupFormatError extends ContainerLocatorError {
  override readonly name = "CgroupFormatError";
}

/**
 * Raised when the cgroup paths of one process name two different container IDs or pod
 * UIDs. Picking either could give the workload another workload's identity.
 */
export class ContainerConflictError extends ContainerLocatorError {
  override readonly name = "ContainerConflictError";
}
