/**
 * The x509pop wire format shared by the agent and server plugins, compatible with SPIRE's
 * (pkg/common/plugin/x509pop in spiffe/spire): JSON documents whose byte fields are standard
 * base64 with padding, as Go encodes `[]byte`, and whose unused members are `null`.
 *
 * - attestation data: `{"certificates":[<leaf DER>, <intermediate DER>...]}`
 * - challenge: `{"rsa_signature":{"nonce":…},"ecdsa_signature":null}` or the ECDSA member
 * - response: `{"rsa_signature":{"nonce":…,"signature":…},"ecdsa_signature":null}` or
 *   `{"rsa_signature":null,"ecdsa_signature":{"nonce":…,"r":…,"s":…}}`
 *
 * Both nonces are 32 random bytes. The agent signs SHA-256(server nonce ‖ agent nonce): RSA
 * keys with RSA-PSS and SHA-256, ECDSA keys over that digest with r and s sent as unsigned
 * big-endian integers without leading zeros.
 */
import { constants, createHash, randomBytes, sign, verify } from "node:crypto";
import type { KeyObject } from "node:crypto";

/** Plugin name and attestation data type. */
export const X509POP_PLUGIN_NAME = "x509pop";

/** Length of the server's and the agent's nonce, in bytes. */
export const X509POP_NONCE_BYTES = 32;

/** Raised when an x509pop message is malformed or a proof of possession does not verify. */
export class X509popError extends Error {
  override readonly name = "X509popError";
}

/** The signature scheme a challenge requests, chosen by the leaf certificate's key type. */
export type X509popSignatureKind = "rsa" | "ecdsa";

/** A challenge: which signature the server expects, and the server's nonce. */
export interface X509popChallenge {
  kind: X509popSignatureKind;
  nonce: Buffer;
}

/** Encodes the attestation data the agent sends first: its certificate chain, leaf first. */
export function encodeAttestationData(certificates: readonly Buffer[]): Buffer {
  return Buffer.from(JSON.stringify({ certificates: certificates.map((der) => der.toString("base64")) }));
}

/** Decodes attestation data; returns the DER certificates, leaf first. Throws {@link X509popError}. */
export function decodeAttestationData(payload: Buffer): Buffer[] {
  const document = parseJsonObject(payload, "attestation data");
  const certificates = document.certificates;
  if (certificates === undefined || certificates === null) {
    return [];
  }
  if (!Array.isArray(certificates)) {
    throw new X509popError('failed to unmarshal attestation data: "certificates" must be a list of base64 strings');
  }
  return certificates.map((item, index) => decodeBase64(item, `certificates[${index}]`));
}

/**
 * Returns the signature kind for a certificate's public key. Throws {@link X509popError}
 * for key types SPIRE's x509pop does not support (Ed25519, DSA, RSA-PSS keys).
 */
export function signatureKindOf(key: KeyObject): X509popSignatureKind {
  if (key.asymmetricKeyType === "rsa") {
    return "rsa";
  }
  if (key.asymmetricKeyType === "ec") {
    return "ecdsa";
  }
  throw new X509popError(`unsupported key type ${key.asymmetricKeyType ?? "unknown"}: x509pop supports RSA and ECDSA keys`);
}

/** Creates a challenge with a fresh random nonce. */
export function createChallenge(kind: X509popSignatureKind): X509popChallenge {
  return { kind, nonce: randomBytes(X509POP_NONCE_BYTES) };
}

/** Encodes a challenge as the server sends it. */
export function encodeChallenge(challenge: X509popChallenge): Buffer {
  const member = { nonce: challenge.nonce.toString("base64") };
  return Buffer.from(
    JSON.stringify({
      rsa_signature: challenge.kind === "rsa" ? member : null,
      ecdsa_signature: challenge.kind === "ecdsa" ? member : null,
    }),
  );
}

/**
 * Signs a challenge with `privateKey`: picks a new agent nonce and signs
 * SHA-256(server nonce ‖ agent nonce). Returns the encoded response. Throws
 * {@link X509popError} when the challenge is malformed or requests the other key type.
 */
export function respondToChallenge(privateKey: KeyObject, challengeBytes: Buffer): Buffer {
  const kind = signatureKindOf(privateKey);
  const document = parseJsonObject(challengeBytes, "challenge");
  const member = readMember(document, kind === "rsa" ? "rsa_signature" : "ecdsa_signature");
  if (member === undefined) {
    throw new X509popError(`expecting ${kind === "rsa" ? "RSA" : "ECDSA"} challenge: the key in private_key_path is ${kind.toUpperCase()}`);
  }

  const serverNonce = checkNonce(decodeBase64(member.nonce, "nonce"), "challenge");
  const agentNonce = randomBytes(X509POP_NONCE_BYTES);
  const signedData = Buffer.concat([serverNonce, agentNonce]);

  if (kind === "rsa") {
    const signature = sign("sha256", signedData, { key: privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_MAX_SIGN });
    return Buffer.from(
      JSON.stringify({ rsa_signature: { nonce: agentNonce.toString("base64"), signature: signature.toString("base64") }, ecdsa_signature: null }),
    );
  }

  const signature = sign("sha256", signedData, { key: privateKey, dsaEncoding: "ieee-p1363" });
  const half = signature.length / 2;
  const r = stripLeadingZeros(signature.subarray(0, half));
  const s = stripLeadingZeros(signature.subarray(half));
  return Buffer.from(
    JSON.stringify({ rsa_signature: null, ecdsa_signature: { nonce: agentNonce.toString("base64"), r: r.toString("base64"), s: s.toString("base64") } }),
  );
}

/**
 * Verifies the agent's response to `challenge` with the leaf certificate's public key.
 * Throws {@link X509popError} naming what failed: a malformed response, a nonce that is not
 * 32 bytes, or a signature that does not verify.
 */
export function verifyChallengeResponse(publicKey: KeyObject, challenge: X509popChallenge, responseBytes: Buffer): void {
  const document = parseJsonObject(responseBytes, "challenge response");
  const member = readMember(document, challenge.kind === "rsa" ? "rsa_signature" : "ecdsa_signature");
  if (member === undefined) {
    throw new X509popError(`expecting ${challenge.kind === "rsa" ? "RSA" : "ECDSA"} response`);
  }

  const agentNonce = decodeBase64(member.nonce, "nonce");
  checkNonce(challenge.nonce, "challenge");
  checkNonce(agentNonce, "response");
  const signedData = Buffer.concat([challenge.nonce, agentNonce]);

  if (challenge.kind === "rsa") {
    const signature = decodeBase64(member.signature, "signature");
    const valid = verify("sha256", signedData, { key: publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_AUTO }, signature);
    if (!valid) {
      throw new X509popError("RSA signature verify failed");
    }
    return;
  }

  const size = ecdsaScalarBytes(publicKey);
  const r = fixedWidth(decodeBase64(member.r, "r"), size);
  const s = fixedWidth(decodeBase64(member.s, "s"), size);
  const valid = r !== undefined && s !== undefined && verify("sha256", signedData, { key: publicKey, dsaEncoding: "ieee-p1363" }, Buffer.concat([r, s]));
  if (!valid) {
    throw new X509popError("ECDSA signature verify failed");
  }
}

/** Returns the SHA-1 fingerprint of a DER certificate as lowercase hex, as SPIRE names agents and CA selectors. */
export function certificateFingerprint(der: Buffer): string {
  return createHash("sha1").update(der).digest("hex");
}

type JsonObject = Record<string, unknown>;

function parseJsonObject(bytes: Buffer, what: string): JsonObject {
  let parsed: unknown;
  try {
    parsed = JSON.parse(bytes.toString("utf8"));
  } catch (error) {
    throw new X509popError(`failed to unmarshal ${what}: ${(error as Error).message}`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new X509popError(`failed to unmarshal ${what}: expected a JSON object`);
  }
  return parsed as JsonObject;
}

/** Returns the named member when it is an object, undefined when it is absent or null. */
function readMember(document: JsonObject, name: string): JsonObject | undefined {
  const member = document[name];
  if (member === undefined || member === null) {
    return undefined;
  }
  if (typeof member !== "object" || Array.isArray(member)) {
    throw new X509popError(`failed to unmarshal ${name}: expected a JSON object`);
  }
  return member as JsonObject;
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Decodes a Go `[]byte` JSON field: standard base64 with padding, or null for an empty value. */
function decodeBase64(value: unknown, field: string): Buffer {
  if (value === undefined || value === null) {
    return Buffer.alloc(0);
  }
  if (typeof value !== "string" || !BASE64.test(value) || value.length % 4 !== 0) {
    throw new X509popError(`failed to unmarshal ${field}: expected a standard base64 string`);
  }
  return Buffer.from(value, "base64");
}

function checkNonce(nonce: Buffer, side: "challenge" | "response"): Buffer {
  if (nonce.length !== X509POP_NONCE_BYTES) {
    throw new X509popError(`invalid ${side} nonce: expected ${X509POP_NONCE_BYTES} bytes, got ${nonce.length}`);
  }
  return nonce;
}

function stripLeadingZeros(bytes: Buffer): Buffer {
  let start = 0;
  while (start < bytes.length && bytes[start] === 0) {
    start++;
  }
  return bytes.subarray(start);
}

/** Left-pads an unsigned big-endian integer to `size` bytes; undefined when it does not fit. */
function fixedWidth(bytes: Buffer, size: number): Buffer | undefined {
  const value = stripLeadingZeros(bytes);
  if (value.length > size) {
    return undefined;
  }
  return Buffer.concat([Buffer.alloc(size - value.length), value]);
}

/** Byte length of r and s for the curve of an EC public key. */
function ecdsaScalarBytes(publicKey: KeyObject): number {
  const curve = publicKey.asymmetricKeyDetails?.namedCurve;
  const sizes: Record<string, number> = { secp224r1: 28, prime256v1: 32, secp384r1: 48, secp521r1: 66 };
  const size = curve === undefined ? undefined : sizes[curve];
  if (size === undefined) {
    throw new X509popError(`unsupported elliptic curve ${curve ?? "unknown"}: x509pop supports P-224, P-256, P-384 and P-521`);
  }
  return size;
}
