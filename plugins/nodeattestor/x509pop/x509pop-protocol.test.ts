import { execFileSync } from "node:child_process";
import { createPrivateKey, createPublicKey } from "node:crypto";
import type { KeyObject } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import {
  createChallenge,
  decodeAttestationData,
  encodeAttestationData,
  encodeChallenge,
  respondToChallenge,
  verifyChallengeResponse,
  X509popError,
} from "./x509pop-protocol.js";

let folder: string;
const keys: Record<string, { privateKey: KeyObject; publicKey: KeyObject; publicPath: string }> = {};

/** Generates a key with openssl, so the signatures are checked against keys this code did not make. */
function opensslKey(name: string, args: string[]): void {
  const privatePath = join(folder, `${name}.key`);
  const publicPath = join(folder, `${name}.pub`);
  execFileSync("openssl", ["genpkey", ...args, "-out", privatePath], { stdio: "pipe" });
  execFileSync("openssl", ["pkey", "-in", privatePath, "-pubout", "-out", publicPath]);
  const privateKey = createPrivateKey(readFileSync(privatePath));
  keys[name] = { privateKey, publicKey: createPublicKey(privateKey), publicPath };
}

beforeAll(() => {
  folder = mkdtempSync(join(tmpdir(), "tessera-x509pop-protocol-"));
  opensslKey("ec", ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"]);
  opensslKey("ec2", ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"]);
  opensslKey("ec384", ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"]);
  opensslKey("rsa", ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"]);
});

afterAll(() => {
  rmSync(folder, { recursive: true, force: true });
});

function key(name: string): { privateKey: KeyObject; publicKey: KeyObject; publicPath: string } {
  return keys[name] as { privateKey: KeyObject; publicKey: KeyObject; publicPath: string };
}

/** Verifies a signature over SHA-256(data) with the openssl command line; returns its output. */
function opensslVerify(publicPath: string, data: Buffer, signatureDer: Buffer, extra: string[] = []): string {
  const dataPath = join(folder, "data.bin");
  const signaturePath = join(folder, "signature.bin");
  writeFileSync(dataPath, data);
  writeFileSync(signaturePath, signatureDer);
  return execFileSync("openssl", ["dgst", "-sha256", ...extra, "-verify", publicPath, "-signature", signaturePath, dataPath]).toString();
}

/** DER-encodes an ECDSA signature from unsigned big-endian r and s. */
function ecdsaDer(r: Buffer, s: Buffer): Buffer {
  const integer = (value: Buffer): Buffer => {
    const body = value.length > 0 && (value[0] as number) >= 0x80 ? Buffer.concat([Buffer.from([0]), value]) : value;
    return Buffer.concat([Buffer.from([0x02, body.length]), body]);
  };
  const content = Buffer.concat([integer(r), integer(s)]);
  return Buffer.concat([Buffer.from([0x30, content.length]), content]);
}

describe("x509pop wire format", () => {
  it("encodes attestation data as SPIRE does", () => {
    const payload = encodeAttestationData([Buffer.from([1, 2, 3]), Buffer.from([4])]);

    expect(payload.toString()).toBe('{"certificates":["AQID","BA=="]}');
    expect(decodeAttestationData(payload)).toEqual([Buffer.from([1, 2, 3]), Buffer.from([4])]);
  });

  it("rejects attestation data that is not base64", () => {
    expect(() => decodeAttestationData(Buffer.from('{"certificates":["not base64!"]}'))).toThrow(
      /failed to unmarshal certificates\[0\]: expected a standard base64 string/,
    );
    expect(() => decodeAttestationData(Buffer.from("[]"))).toThrow(X509popError);
  });

  it("encodes a challenge with a null member", () => {
    const challenge = createChallenge("ecdsa");
    const document = JSON.parse(encodeChallenge(challenge).toString()) as Record<string, unknown>;

    expect(Object.keys(document)).toEqual(["rsa_signature", "ecdsa_signature"]);
    expect(document.rsa_signature).toBeNull();
    expect(Buffer.from((document.ecdsa_signature as { nonce: string }).nonce, "base64")).toHaveLength(32);
  });
});

describe("x509pop challenge response", () => {
  it("verifies a good ECDSA signature", () => {
    const challenge = createChallenge("ecdsa");
    const response = respondToChallenge(key("ec").privateKey, encodeChallenge(challenge));
    const document = JSON.parse(response.toString()) as { rsa_signature: unknown; ecdsa_signature: { nonce: string; r: string; s: string } };

    expect(document.rsa_signature).toBeNull();
    const agentNonce = Buffer.from(document.ecdsa_signature.nonce, "base64");
    expect(agentNonce).toHaveLength(32);
    expect(() => verifyChallengeResponse(key("ec").publicKey, challenge, response)).not.toThrow();

    // openssl agrees that r and s sign SHA-256(server nonce ‖ agent nonce).
    const r = Buffer.from(document.ecdsa_signature.r, "base64");
    const s = Buffer.from(document.ecdsa_signature.s, "base64");
    expect(opensslVerify(key("ec").publicPath, Buffer.concat([challenge.nonce, agentNonce]), ecdsaDer(r, s))).toContain("Verified OK");
  });

  it("verifies a good P-384 signature", () => {
    const challenge = createChallenge("ecdsa");
    const response = respondToChallenge(key("ec384").privateKey, encodeChallenge(challenge));

    expect(() => verifyChallengeResponse(key("ec384").publicKey, challenge, response)).not.toThrow();
  });

  it("verifies a good RSA-PSS signature", () => {
    const challenge = createChallenge("rsa");
    const response = respondToChallenge(key("rsa").privateKey, encodeChallenge(challenge));
    const document = JSON.parse(response.toString()) as { rsa_signature: { nonce: string; signature: string }; ecdsa_signature: unknown };

    expect(document.ecdsa_signature).toBeNull();
    expect(() => verifyChallengeResponse(key("rsa").publicKey, challenge, response)).not.toThrow();

    const agentNonce = Buffer.from(document.rsa_signature.nonce, "base64");
    const signature = Buffer.from(document.rsa_signature.signature, "base64");
    const output = opensslVerify(key("rsa").publicPath, Buffer.concat([challenge.nonce, agentNonce]), signature, [
      "-sigopt",
      "rsa_padding_mode:pss",
      "-sigopt",
      "rsa_pss_saltlen:auto",
    ]);
    expect(output).toContain("Verified OK");
  });

  it("rejects a signature by another key", () => {
    const challenge = createChallenge("ecdsa");
    const response = respondToChallenge(key("ec2").privateKey, encodeChallenge(challenge));

    expect(() => verifyChallengeResponse(key("ec").publicKey, challenge, response)).toThrow("ECDSA signature verify failed");
  });

  it("rejects an RSA signature by another key", () => {
    const otherPath = join(folder, "rsa-other.key");
    execFileSync("openssl", ["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", otherPath], { stdio: "pipe" });
    const challenge = createChallenge("rsa");
    const response = respondToChallenge(createPrivateKey(readFileSync(otherPath)), encodeChallenge(challenge));

    expect(() => verifyChallengeResponse(key("rsa").publicKey, challenge, response)).toThrow("RSA signature verify failed");
  });

  it("rejects a response to another nonce", () => {
    const sent = createChallenge("ecdsa");
    const other = createChallenge("ecdsa");
    const response = respondToChallenge(key("ec").privateKey, encodeChallenge(other));

    expect(() => verifyChallengeResponse(key("ec").publicKey, sent, response)).toThrow("ECDSA signature verify failed");
  });

  it("rejects a short agent nonce", () => {
    const challenge = createChallenge("ecdsa");
    const document = JSON.parse(respondToChallenge(key("ec").privateKey, encodeChallenge(challenge)).toString()) as {
      ecdsa_signature: { nonce: string };
    };
    document.ecdsa_signature.nonce = Buffer.alloc(16).toString("base64");

    expect(() => verifyChallengeResponse(key("ec").publicKey, challenge, Buffer.from(JSON.stringify(document)))).toThrow(
      "invalid response nonce: expected 32 bytes, got 16",
    );
  });

  it("rejects a short server nonce", () => {
    const challenge = encodeChallenge({ kind: "ecdsa", nonce: Buffer.alloc(8) });

    expect(() => respondToChallenge(key("ec").privateKey, challenge)).toThrow("invalid challenge nonce: expected 32 bytes, got 8");
  });

  it("rejects a challenge for the other key type", () => {
    const challenge = encodeChallenge(createChallenge("rsa"));

    expect(() => respondToChallenge(key("ec").privateKey, challenge)).toThrow(/expecting ECDSA challenge/);
  });

  it("rejects a response of the wrong kind", () => {
    const challenge = createChallenge("rsa");
    const response = respondToChallenge(key("ec").privateKey, encodeChallenge(createChallenge("ecdsa")));

    expect(() => verifyChallengeResponse(key("rsa").publicKey, challenge, response)).toThrow("expecting RSA response");
  });
});
