import type { V1ContainerStatus, V1OwnerReference, V1Pod } from "@kubernetes/client-node";
import { KubeletResponseError } from "./kubelet-client.js";

/** The fields of a container status that attestation reads. */
export type ContainerStatusFacts = Pick<V1ContainerStatus, "name" | "image" | "imageID" | "containerID">;

/** The fields of a pod that attestation reads, checked for type. */
export interface PodFacts {
  uid: string;
  name: string;
  namespace: string;
  labels: Record<string, string>;
  ownerReferences: Pick<V1OwnerReference, "kind" | "name" | "uid">[];
  serviceAccountName: string;
  nodeName: string;
  containerStatuses: ContainerStatusFacts[];
  initContainerStatuses: ContainerStatusFacts[];
  ephemeralContainerStatuses: ContainerStatusFacts[];
}

/**
 * Reads the fields attestation uses from one raw pod of the kubelet's list, as a `V1Pod`
 * in JSON form. Absent fields read as empty, as Go's decoder gives them to SPIRE. A field
 * of the wrong JSON type raises {@link KubeletResponseError} naming the pod and field.
 */
export function readPodFacts(raw: unknown): PodFacts {
  const pod = asObject(raw, "pod", "?") as V1Pod;
  const metadata = asObject(pod.metadata ?? {}, "metadata", "?");
  const uid = asString(metadata.uid, "metadata.uid", "?");
  const spec = asObject(pod.spec ?? {}, "spec", uid);
  const status = asObject(pod.status ?? {}, "status", uid);

  const labels: Record<string, string> = {};
  for (const [key, value] of Object.entries(asObject(metadata.labels ?? {}, "metadata.labels", uid))) {
    labels[key] = asString(value, `metadata.labels.${key}`, uid);
  }

  return {
    uid,
    name: asString(metadata.name, "metadata.name", uid),
    namespace: asString(metadata.namespace, "metadata.namespace", uid),
    labels,
    ownerReferences: asList(metadata.ownerReferences, "metadata.ownerReferences", uid).map((item, index) => {
      const owner = asObject(item, `metadata.ownerReferences[${index}]`, uid);
      return {
        kind: asString(owner.kind, `metadata.ownerReferences[${index}].kind`, uid),
        name: asString(owner.name, `metadata.ownerReferences[${index}].name`, uid),
        uid: asString(owner.uid, `metadata.ownerReferences[${index}].uid`, uid),
      };
    }),
    serviceAccountName: asString(spec.serviceAccountName, "spec.serviceAccountName", uid),
    nodeName: asString(spec.nodeName, "spec.nodeName", uid),
    containerStatuses: readStatuses(status.containerStatuses, "status.containerStatuses", uid),
    initContainerStatuses: readStatuses(status.initContainerStatuses, "status.initContainerStatuses", uid),
    ephemeralContainerStatuses: readStatuses(status.ephemeralContainerStatuses, "status.ephemeralContainerStatuses", uid),
  };
}

function readStatuses(value: unknown, field: string, uid: string): ContainerStatusFacts[] {
  return asList(value, field, uid).map((item, index) => {
    const status = asObject(item, `${field}[${index}]`, uid);
    return {
      name: asString(status.name, `${field}[${index}].name`, uid),
      image: asString(status.image, `${field}[${index}].image`, uid),
      imageID: asString(status.imageID, `${field}[${index}].imageID`, uid),
      containerID: asString(status.containerID, `${field}[${index}].containerID`, uid),
    };
  });
}

function asObject(value: unknown, field: string, uid: string): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw invalid(field, uid, "an object");
  }
  return value as Record<string, unknown>;
}

function asList(value: unknown, field: string, uid: string): unknown[] {
  if (value === undefined || value === null) {
    return [];
  }
  if (!Array.isArray(value)) {
    throw invalid(field, uid, "a list");
  }
  return value;
}

function asString(value: unknown, field: string, uid: string): string {
  if (value === undefined || value === null) {
    return "";
  }
  if (typeof value !== "string") {
    throw invalid(field, uid, "a string");
  }
  return value;
}

function invalid(field: string, uid: string, expected: string): KubeletResponseError {
  return new KubeletResponseError(`invalid pod ${uid} in the kubelet's pod list: ${field} must be ${expected}`);
}

/**
 * Returns the ID part of a status `containerID` (`containerd://<id>`, `cri-o://<id>`,
 * `docker://<id>`): the text after `://` up to any `/`, `?` or `#`, which is the URL
 * host that SPIRE compares. A value without a scheme yields undefined.
 */
export function runtimeContainerId(containerId: string): string | undefined {
  const match = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/([^/?#]*)/.exec(containerId);
  return match === null ? undefined : match[1];
}

/**
 * Finds the status of the container `containerId` in the pod: regular containers, then
 * init containers, then ephemeral ones. Only the current `containerID` counts, never the
 * one under `lastState`, so a restarted container's old ID matches nothing.
 */
export function findContainerStatus(pod: PodFacts, containerId: string): ContainerStatusFacts | undefined {
  const statuses = [...pod.containerStatuses, ...pod.initContainerStatuses, ...pod.ephemeralContainerStatuses];
  return statuses.find((status) => status.containerID !== "" && runtimeContainerId(status.containerID ?? "") === containerId);
}

/**
 * Returns SPIRE's pod selector values: `sa`, `ns`, `node-name`, `pod-uid`, `pod-name`,
 * `pod-image-count` and `pod-init-image-count`, then `pod-image` and `pod-init-image` for
 * each distinct `image` and `imageID` of the regular and init container statuses,
 * `pod-label:<key>:<value>`, `pod-owner:<Kind>:<name>` and `pod-owner-uid:<Kind>:<uid>`.
 * Empty fields give empty values, as SPIRE's do.
 */
export function podSelectorValues(pod: PodFacts): string[] {
  const values = [
    `sa:${pod.serviceAccountName}`,
    `ns:${pod.namespace}`,
    `node-name:${pod.nodeName}`,
    `pod-uid:${pod.uid}`,
    `pod-name:${pod.name}`,
    `pod-image-count:${pod.containerStatuses.length}`,
    `pod-init-image-count:${pod.initContainerStatuses.length}`,
  ];

  for (const image of imageIdentifiers(pod.containerStatuses)) {
    values.push(`pod-image:${image}`);
  }
  for (const image of imageIdentifiers(pod.initContainerStatuses)) {
    values.push(`pod-init-image:${image}`);
  }
  for (const [key, value] of Object.entries(pod.labels)) {
    values.push(`pod-label:${key}:${value}`);
  }
  for (const owner of pod.ownerReferences) {
    values.push(`pod-owner:${owner.kind}:${owner.name}`);
    values.push(`pod-owner-uid:${owner.kind}:${owner.uid}`);
  }
  return values;
}

/** Returns `container-name` and `container-image` (for both `image` and `imageID`) of the workload's container. */
export function containerSelectorValues(status: ContainerStatusFacts): string[] {
  const values = [`container-name:${status.name}`];
  for (const image of imageIdentifiers([status])) {
    values.push(`container-image:${image}`);
  }
  return values;
}

/**
 * Returns each distinct `imageID` and `image`. Both are kept because entries may name
 * the tag (`docker.io/envoyproxy/envoy:v1.16.0`, known before the pull) or the digest
 * (`…@sha256:…`, known after it).
 */
function imageIdentifiers(statuses: readonly ContainerStatusFacts[]): Set<string> {
  const images = new Set<string>();
  for (const status of statuses) {
    images.add(status.imageID);
    images.add(status.image);
  }
  return images;
}
