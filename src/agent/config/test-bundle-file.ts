import { execFileSync } from "node:child_process";
import { join } from "node:path";

/**
 * Writes a self-signed P-256 CA certificate made by openssl to `folder/<name>.crt` (its
 * key to `<name>.key`) and returns the certificate path, for tests that need a real
 * bootstrap bundle file. The certificate is valid for one day.
 */
export function writeTestBundleFile(folder: string, name: string): string {
  const path = join(folder, `${name}.crt`);
  execFileSync(
    "openssl",
    ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", join(folder, `${name}.key`), "-out", path, "-subj", `/CN=${name}`, "-days", "1"],
    { stdio: "ignore" },
  );
  return path;
}
