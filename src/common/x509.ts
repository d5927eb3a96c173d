/**
 * The one place that loads @peculiar/x509. Import `x509` from here, never from
 * "@peculiar/x509" directly: the library's dependency injection (tsyringe) needs the
 * `reflect-metadata` polyfill loaded first, and certificate work needs Node's WebCrypto
 * registered as its crypto provider.
 */
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { webcrypto } from "node:crypto";

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

export { x509 };
