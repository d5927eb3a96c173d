import { createPublicKey, X509Certificate } from "node:crypto";
import type { FlagSpec } from "../../config/flags.js";
import type { types } from "../../proto/index.js";
import { certificatesToPem } from "../../spiffe/bundle.js";
import { connectAdmin } from "./admin-client.js";
import { CliError, runCommand, SOCKET_PATH_FLAG, stringFlag } from "./command.js";
import type { CommandIo } from "./command.js";

const SHOW_FLAGS: readonly FlagSpec[] = [
  SOCKET_PATH_FLAG,
  { name: "format", type: "string", usage: 'Output format: "pem" or "spiffe" (SPIFFE bundle JSON)', default: "pem" },
];

/** `bundle show`: prints the server's own trust bundle as PEM or as a SPIFFE bundle (JWKS). */
export function runBundleShow(args: string[], io: CommandIo): Promise<number> {
  return runCommand("tessera-server bundle show", SHOW_FLAGS, args, io, async (flags) => {
    const format = stringFlag(flags, "format");
    if (format !== "pem" && format !== "spiffe") {
      throw new CliError(`invalid format ${JSON.stringify(format)}: use "pem" or "spiffe"`);
    }

    const admin = connectAdmin(stringFlag(flags, "socketPath"));
    try {
      const bundle = await admin.call<types.Bundle__Output>((options, done) => admin.bundle.GetBundle({}, options, done));
      io.out(format === "pem" ? certificatesToPem(bundle.x509_authorities.map((authority) => authority.asn1)) : `${formatSpiffeBundle(bundle)}\n`);
    } finally {
      admin.close();
    }
  });
}

/**
 * Formats a bundle in the SPIFFE trust domain bundle format: a JWK set whose X.509
 * authorities have `"use": "x509-svid"` and the certificate in `x5c`, and whose JWT
 * authorities have `"use": "jwt-svid"` and a `kid`, with `spiffe_sequence` and
 * `spiffe_refresh_hint` when set.
 */
export function formatSpiffeBundle(bundle: types.Bundle__Output): string {
  const keys: Record<string, unknown>[] = [];
  for (const authority of bundle.x509_authorities) {
    const publicKey = new X509Certificate(authority.asn1).publicKey.export({ format: "jwk" });
    keys.push({ use: "x509-svid", ...publicKey, x5c: [authority.asn1.toString("base64")] });
  }
  for (const authority of bundle.jwt_authorities) {
    const publicKey = createPublicKey({ key: authority.public_key, format: "der", type: "spki" }).export({ format: "jwk" });
    keys.push({ use: "jwt-svid", ...publicKey, kid: authority.key_id });
  }

  const document: Record<string, unknown> = { keys };
  if (bundle.sequence_number !== 0) document.spiffe_sequence = bundle.sequence_number;
  if (bundle.refresh_hint !== 0) document.spiffe_refresh_hint = bundle.refresh_hint;
  return JSON.stringify(document, null, 4);
}
