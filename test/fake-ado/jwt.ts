// Compact JWS (RFC 7515) helpers for RS256 tokens, on node:crypto only: the fake Entra ID signs
// access tokens with them and verifies client assertions (Kubernetes service-account tokens).
import { createPublicKey, sign, verify, type JsonWebKey, type KeyObject } from "node:crypto";

export interface DecodedJwt {
  header: Record<string, unknown>;
  payload: Record<string, unknown>;
  /** `base64url(header) + "." + base64url(payload)`: the bytes the signature covers. */
  signingInput: string;
  signature: Buffer;
}

const BASE64URL = /^[A-Za-z0-9_-]*$/;

function decodePart(part: string): Record<string, unknown> | undefined {
  if (!BASE64URL.test(part)) return undefined;
  try {
    const value = JSON.parse(Buffer.from(part, "base64url").toString("utf8")) as unknown;
    return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** Splits and parses a compact JWS; undefined when it is not one (no signature check here). */
export function decodeJwt(token: string): DecodedJwt | undefined {
  const parts = token.split(".");
  if (parts.length !== 3) return undefined;
  const [headerPart = "", payloadPart = "", signaturePart = ""] = parts;
  const header = decodePart(headerPart);
  const payload = decodePart(payloadPart);
  if (header === undefined || payload === undefined || signaturePart === "" || !BASE64URL.test(signaturePart)) return undefined;
  return { header, payload, signingInput: `${headerPart}.${payloadPart}`, signature: Buffer.from(signaturePart, "base64url") };
}

/** True when `token` has the shape of a compact JWS (three base64url parts); PATs and agent tokens do not. */
export function looksLikeJwt(token: string): boolean {
  return decodeJwt(token) !== undefined;
}

export function signRs256(header: Record<string, unknown>, payload: Record<string, unknown>, privateKey: KeyObject): string {
  const encode = (value: unknown): string => Buffer.from(JSON.stringify(value), "utf8").toString("base64url");
  const signingInput = `${encode({ ...header, alg: "RS256" })}.${encode(payload)}`;
  return `${signingInput}.${sign("sha256", Buffer.from(signingInput, "ascii"), privateKey).toString("base64url")}`;
}

export function verifyRs256(jwt: DecodedJwt, key: KeyObject): boolean {
  try {
    return verify("sha256", Buffer.from(jwt.signingInput, "ascii"), key, jwt.signature);
  } catch {
    return false;
  }
}

/** An RSA public key from a JWK; undefined for anything else (EC keys, symmetric keys, garbage). */
export function rsaKeyFromJwk(jwk: Record<string, unknown>): KeyObject | undefined {
  if (jwk["kty"] !== "RSA" || typeof jwk["n"] !== "string" || typeof jwk["e"] !== "string") return undefined;
  try {
    return createPublicKey({ key: { kty: "RSA", n: jwk["n"], e: jwk["e"] } as JsonWebKey, format: "jwk" });
  } catch {
    return undefined;
  }
}

/** `aud` may be a string or an array of strings (RFC 7519 §4.1.3). */
export function audiences(payload: Record<string, unknown>): string[] {
  const aud = payload["aud"];
  if (typeof aud === "string") return [aud];
  return Array.isArray(aud) ? aud.filter((item): item is string => typeof item === "string") : [];
}

export function numericClaim(payload: Record<string, unknown>, name: string): number | undefined {
  const value = payload[name];
  return typeof value === "number" && Number.isFinite(value) ? value : undefined;
}
