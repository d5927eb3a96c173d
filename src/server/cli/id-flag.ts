import type { types } from "../../proto/index.js";
import { parseSpiffeId } from "../../spiffe/spiffe-id.js";
import { CliError } from "./command.js";

/** Parses a SPIFFE ID flag value into the API form; the error names the flag. */
export function protoIdFromFlag(text: string, flag: string): types.SPIFFEID {
  try {
    const id = parseSpiffeId(text);
    return { trust_domain: id.trustDomain, path: id.path };
  } catch (error) {
    throw new CliError(`${flag}: ${(error as Error).message}`);
  }
}
