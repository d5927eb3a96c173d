/**
 * The one door through which server code loads @peculiar/x509: it installs the metadata
 * shim tsyringe needs and registers Node's WebCrypto before any certificate work.
 * Import `x509` from here, never from "@peculiar/x509" directly, or module order may load
 * the library before the shim.
 */
import "./reflect-metadata-shim.js";
import * as x509 from "@peculiar/x509";
import { webcrypto } from "node:crypto";

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

export { x509 };
