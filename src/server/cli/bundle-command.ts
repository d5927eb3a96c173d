import { readFileSync } from "node:fs";
import type { FlagSpec } from "../../config/flags.js";
import type { bundlev1, types } from "../../proto/index.js";
import { certificatesToPem, parsePemCertificates } from "../../spiffe/bundle.js";
import { parseTrustDomain } from "../../spiffe/trust-domain.js";
import { connectAdmin } from "./admin-client.js";
import { CliError, runCommand, SOCKET_PATH_FLAG, stringFlag } from "./command.js";
import type { CommandIo } from "./command.js";
import { formatSpiffeBundle, parseSpiffeBundle } from "./spiffe-bundle-json.js";

const FORMAT_FLAG: FlagSpec = { name: "format", type: "string", usage: 'Bundle format: "pem" or "spiffe" (SPIFFE bundle JSON)', default: "pem" };
const ID_FLAG: FlagSpec = { name: "id", type: "string", usage: "SPIFFE ID of the trust domain, e.g. spiffe://other.org" };

const SHOW_FLAGS: readonly FlagSpec[] = [SOCKET_PATH_FLAG, FORMAT_FLAG];
const SET_FLAGS: readonly FlagSpec[] = [
  SOCKET_PATH_FLAG,
  ID_FLAG,
  { name: "path", type: "string", usage: "Path to the bundle data; standard input when unset" },
  FORMAT_FLAG,
];
const LIST_FLAGS: readonly FlagSpec[] = [SOCKET_PATH_FLAG, { ...ID_FLAG, usage: "SPIFFE ID of one trust domain to show; all when unset" }, FORMAT_FLAG];
const DELETE_FLAGS: readonly FlagSpec[] = [
  SOCKET_PATH_FLAG,
  ID_FLAG,
  {
    name: "mode",
    type: "string",
    usage: 'What to do with entries that federate with the trust domain: "restrict" (fail), "delete" (delete them) or "dissociate" (remove the trust domain from them)',
    default: "restrict",
  },
];

/** spire-server's banner above each bundle in `bundle list`. */
const HEADER_LINE = "****************************************";

/** `bundle show`: prints the server's own trust bundle as PEM or as a SPIFFE bundle (JWKS). */
export function runBundleShow(args: string[], io: CommandIo): Promise<number> {
  return runCommand("tessera-server bundle show", SHOW_FLAGS, args, io, async (flags) => {
    const format = requireFormat(stringFlag(flags, "format"));
    const admin = connectAdmin(stringFlag(flags, "socketPath"));
    try {
      const bundle = await admin.call<types.Bundle__Output>((options, done) => admin.bundle.GetBundle({}, options, done));
      io.out(formatBundle(bundle, format));
    } finally {
      admin.close();
    }
  });
}

/** `bundle set`: creates or replaces a federated bundle from a PEM or SPIFFE bundle file. */
export function runBundleSet(args: string[], io: CommandIo): Promise<number> {
  return runCommand("tessera-server bundle set", SET_FLAGS, args, io, async (flags) => {
    const trustDomain = requireTrustDomain(stringFlag(flags, "id"));
    const format = requireFormat(stringFlag(flags, "format"));
    const path = stringFlag(flags, "path");

    let text: string;
    try {
      text = path === "" ? readFileSync(0, "utf8") : readFileSync(path, "utf8");
    } catch (error) {
      throw new CliError(`unable to load bundle data: ${(error as Error).message}`);
    }

    let bundle: types.Bundle;
    try {
      bundle =
        format === "pem"
          ? { trust_domain: trustDomain, x509_authorities: parsePemCertificates(text).map((asn1) => ({ asn1 })) }
          : parseSpiffeBundle(trustDomain, text);
    } catch (error) {
      throw new CliError(`unable to parse bundle data: ${(error as Error).message}`);
    }

    const admin = connectAdmin(stringFlag(flags, "socketPath"));
    try {
      const response = await admin.call<bundlev1.BatchSetFederatedBundleResponse__Output>((options, done) =>
        admin.bundle.BatchSetFederatedBundle({ bundle: [bundle] }, options, done),
      );
      const status = response.results[0]?.status;
      if (status?.code !== 0) throw new CliError(`failed to set federated bundle: ${status?.message ?? "no result"}`);
      io.out("bundle set.\n");
    } finally {
      admin.close();
    }
  });
}

/** `bundle list`: prints one federated bundle (`-id`) or all of them, each under a banner. */
export function runBundleList(args: string[], io: CommandIo): Promise<number> {
  return runCommand("tessera-server bundle list", LIST_FLAGS, args, io, async (flags) => {
    const id = stringFlag(flags, "id");
    const format = requireFormat(stringFlag(flags, "format"));
    const admin = connectAdmin(stringFlag(flags, "socketPath"));
    try {
      if (id !== "") {
        const trustDomain = requireTrustDomain(id);
        const bundle = await admin.call<types.Bundle__Output>((options, done) =>
          admin.bundle.GetFederatedBundle({ trust_domain: trustDomain }, options, done),
        );
        io.out(formatBundle(bundle, format));
        return;
      }

      const bundles: types.Bundle__Output[] = [];
      let pageToken = "";
      do {
        const page = await admin.call<bundlev1.ListFederatedBundlesResponse__Output>((options, done) =>
          admin.bundle.ListFederatedBundles({ page_token: pageToken }, options, done),
        );
        bundles.push(...page.bundles);
        pageToken = page.next_page_token;
      } while (pageToken !== "");

      io.out(bundles.map((bundle) => `${HEADER_LINE}\n* ${bundle.trust_domain}\n${HEADER_LINE}\n${formatBundle(bundle, format)}`).join("\n"));
    } finally {
      admin.close();
    }
  });
}

/** `bundle delete`: deletes a federated bundle, handling federating entries per `-mode`. */
export function runBundleDelete(args: string[], io: CommandIo): Promise<number> {
  return runCommand("tessera-server bundle delete", DELETE_FLAGS, args, io, async (flags) => {
    const trustDomain = requireTrustDomain(stringFlag(flags, "id"));
    const mode = deleteModeFromFlag(stringFlag(flags, "mode"));
    const admin = connectAdmin(stringFlag(flags, "socketPath"));
    try {
      const response = await admin.call<bundlev1.BatchDeleteFederatedBundleResponse__Output>((options, done) =>
        admin.bundle.BatchDeleteFederatedBundle({ trust_domains: [trustDomain], mode }, options, done),
      );
      const status = response.results[0]?.status;
      if (status?.code !== 0) {
        throw new CliError(`failed to delete federated bundle "${trustDomain}": ${status?.message ?? "no result"}`);
      }
      io.out("bundle deleted.\n");
    } finally {
      admin.close();
    }
  });
}

function formatBundle(bundle: types.Bundle__Output, format: "pem" | "spiffe"): string {
  if (format === "pem") return certificatesToPem(bundle.x509_authorities.map((authority) => authority.asn1));
  return `${formatSpiffeBundle(bundle)}\n`;
}

function requireFormat(format: string): "pem" | "spiffe" {
  const lower = format.toLowerCase();
  if (lower !== "pem" && lower !== "spiffe") throw new CliError(`invalid format ${JSON.stringify(format)}: use "pem" or "spiffe"`);
  return lower;
}

function requireTrustDomain(id: string): string {
  if (id === "") throw new CliError("the -id flag is required: name the trust domain, e.g. -id spiffe://other.org");
  try {
    return parseTrustDomain(id);
  } catch (error) {
    throw new CliError(`-id: ${(error as Error).message}`);
  }
}

function deleteModeFromFlag(mode: string): bundlev1.BatchDeleteFederatedBundleRequest["mode"] {
  switch (mode) {
    case "restrict":
      return "RESTRICT";
    case "delete":
      return "DELETE";
    case "dissociate":
      return "DISSOCIATE";
    default:
      throw new CliError(`unsupported mode ${JSON.stringify(mode)}: use "restrict", "delete" or "dissociate"`);
  }
}
