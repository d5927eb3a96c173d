/**
 * Tells whether two bundle maps of Workload API messages (trust domain ID to encoded
 * bundle) have the same keys and byte-equal values. The bundle streams use it to skip a
 * message equal to the previous one.
 */
export function bundleMapsEqual(a: Record<string, Buffer>, b: Record<string, Buffer>): boolean {
  const keys = Object.keys(a);
  if (keys.length !== Object.keys(b).length) {
    return false;
  }
  return keys.every((key) => {
    const left = a[key];
    const right = b[key];
    return left !== undefined && right !== undefined && left.equals(right);
  });
}
