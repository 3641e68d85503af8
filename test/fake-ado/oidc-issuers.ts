// How the fake Entra ID reaches the OpenID Connect issuers it trusts for workload identity
// federation, and the signing keys it caches from them. Real Entra fetches
// `{issuer}/.well-known/openid-configuration`, then the `jwks_uri` it names ([D] Entra
// workload-identity-federation.md "validates the external token against the OIDC issuer URL").
// A test cluster's issuer (`https://kubernetes.default.svc.cluster.local`) is not reachable from
// the host, so an issuer may be mapped to another origin (e.g. the API server at
// `https://127.0.0.1:6443`), with the CA and client certificate that origin wants.
import { readFileSync } from "node:fs";
import { request as httpRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import type { KeyObject } from "node:crypto";
import { rsaKeyFromJwk } from "./jwt.ts";

/** One trusted issuer and how to reach it. */
export interface IssuerTrust {
  /** Issuer URL exactly as the tokens' `iss` carries it (https). */
  issuer: string;
  /**
   * Origin (`scheme://host:port`, no path) to fetch the discovery document and the JWKS from
   * instead of the issuer's own; the `jwks_uri` the document names gets this origin too.
   * @default the issuer's origin
   */
  baseUrl?: string;
  /** CA certificate(s) to verify the origin's TLS certificate: PEM text or a file path. @default Node's CA store */
  ca?: string;
  /** Client certificate (PEM text or a file path), for an API server that refuses anonymous discovery. */
  cert?: string;
  /** Key of `cert` (PEM text or a file path). */
  key?: string;
  /** Name the TLS certificate must carry, when it is not the host of `baseUrl`. @default the host of `baseUrl` */
  serverName?: string;
}

/** An issuer trust with PEM files read and URLs parsed. */
export interface ResolvedIssuerTrust {
  issuer: string;
  origin: URL;
  ca: string | undefined;
  cert: string | undefined;
  key: string | undefined;
  serverName: string | undefined;
}

/** Per issuer: what was fetched, for tests (`GET /_fake/entra`). */
export interface IssuerFetchStats {
  discoveryFetches: number;
  jwksFetches: number;
  /** URLs as fetched (after rewriting to `baseUrl`). */
  lastDiscoveryUrl: string | null;
  lastJwksUrl: string | null;
  lastError: string | null;
}

const FETCH_TIMEOUT_MS = 5_000;
const MAX_DOCUMENT_BYTES = 1024 * 1024;

/** PEM text stays as it is; anything else is a path to read. */
function pem(value: string | undefined, what: string): string | undefined {
  if (value === undefined || value === "") return undefined;
  if (value.includes("-----BEGIN")) return value;
  try {
    return readFileSync(value, "utf8");
  } catch (error) {
    throw new Error(`${what}: cannot read '${value}': ${error instanceof Error ? error.message : String(error)}`);
  }
}

function httpsUrl(value: unknown, what: string): URL {
  if (typeof value !== "string") throw new Error(`${what} must be a URL string`);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new Error(`${what} '${value}' is not a URL`);
  }
  if (url.protocol !== "https:") throw new Error(`${what} '${value}' must be https`);
  return url;
}

export function resolveIssuerTrust(trust: IssuerTrust): ResolvedIssuerTrust {
  const issuer = httpsUrl(trust.issuer, "issuer");
  let origin = new URL(issuer.origin);
  if (trust.baseUrl !== undefined) {
    try {
      origin = new URL(trust.baseUrl);
    } catch {
      throw new Error(`baseUrl '${trust.baseUrl}' of issuer ${trust.issuer} is not a URL`);
    }
    // Only the origin is replaced; a path here would be ambiguous for the jwks_uri.
    if (origin.protocol !== "https:" && origin.protocol !== "http:") throw new Error(`baseUrl '${trust.baseUrl}' must be http(s)`);
    if ((origin.pathname !== "/" && origin.pathname !== "") || origin.search !== "") throw new Error(`baseUrl '${trust.baseUrl}' must be an origin without a path`);
  }
  const where = `issuer ${trust.issuer}`;
  if ((trust.cert === undefined) !== (trust.key === undefined)) throw new Error(`${where}: cert and key go together`);
  return {
    issuer: trust.issuer,
    origin,
    ca: pem(trust.ca, `${where} ca`),
    cert: pem(trust.cert, `${where} cert`),
    key: pem(trust.key, `${where} key`),
    serverName: trust.serverName,
  };
}

/** The trust used for an issuer nobody mapped: its own https origin, Node's CAs. */
export function defaultIssuerTrust(issuer: string): ResolvedIssuerTrust {
  const url = httpsUrl(issuer, "issuer");
  return { issuer, origin: new URL(url.origin), ca: undefined, cert: undefined, key: undefined, serverName: undefined };
}

export class IssuerFetchError extends Error {}

function readLimited(res: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    res.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_DOCUMENT_BYTES) {
        res.destroy();
        reject(new IssuerFetchError(`document larger than ${MAX_DOCUMENT_BYTES} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    res.on("end", () => resolve(Buffer.concat(chunks)));
    res.on("error", reject);
  });
}

/** GET a JSON object over http(s) with the trust's TLS settings; any failure is an IssuerFetchError. */
function getJson(url: URL, trust: ResolvedIssuerTrust): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const options = {
      method: "GET",
      // The JWKS media type too: the Kubernetes API server answers /openid/v1/jwks with
      // `application/jwk-set+json` and refuses (406) an Accept that excludes it.
      headers: { Accept: "application/json, application/jwk-set+json" },
      timeout: FETCH_TIMEOUT_MS,
      ...(url.protocol === "https:"
        ? {
            ...(trust.ca !== undefined ? { ca: trust.ca } : {}),
            ...(trust.cert !== undefined ? { cert: trust.cert, key: trust.key } : {}),
            ...(trust.serverName !== undefined ? { servername: trust.serverName } : {}),
          }
        : {}),
    };
    const req = (url.protocol === "https:" ? httpsRequest : httpRequest)(url, options, (res) => {
      readLimited(res).then(
        (body) => {
          if (res.statusCode !== 200) {
            reject(new IssuerFetchError(`GET ${url.href} answered ${res.statusCode ?? "?"}`));
            return;
          }
          try {
            const value = JSON.parse(body.toString("utf8")) as unknown;
            if (typeof value !== "object" || value === null || Array.isArray(value)) throw new Error("not a JSON object");
            resolve(value as Record<string, unknown>);
          } catch (error) {
            reject(new IssuerFetchError(`GET ${url.href}: ${error instanceof Error ? error.message : String(error)}`));
          }
        },
        (error: unknown) => reject(error instanceof IssuerFetchError ? error : new IssuerFetchError(String(error))),
      );
    });
    req.on("timeout", () => req.destroy(new IssuerFetchError(`GET ${url.href} timed out after ${FETCH_TIMEOUT_MS} ms`)));
    req.on("error", (error) => reject(error instanceof IssuerFetchError ? error : new IssuerFetchError(`GET ${url.href}: ${error.message}`)));
    req.end();
  });
}

/** Replaces the origin of `url` with `origin` (path and query kept). */
function rewriteOrigin(url: URL, origin: URL): URL {
  return new URL(`${url.pathname}${url.search}`, origin);
}

interface CachedKeys {
  keys: Map<string, KeyObject>;
  fetchedAt: number;
}

/**
 * Discovery + JWKS per issuer, cached for `ttlMs`; an unknown `kid` forces one refetch (key
 * rotation), as OIDC relying parties do.
 */
export class IssuerKeyCache {
  private readonly cache = new Map<string, CachedKeys>();
  readonly stats = new Map<string, IssuerFetchStats>();

  constructor(private readonly ttlMs: number) {}

  clear(): void {
    this.cache.clear();
    this.stats.clear();
  }

  private statsOf(issuer: string): IssuerFetchStats {
    let stats = this.stats.get(issuer);
    if (stats === undefined) {
      stats = { discoveryFetches: 0, jwksFetches: 0, lastDiscoveryUrl: null, lastJwksUrl: null, lastError: null };
      this.stats.set(issuer, stats);
    }
    return stats;
  }

  private async fetchKeys(trust: ResolvedIssuerTrust): Promise<CachedKeys> {
    const stats = this.statsOf(trust.issuer);
    try {
      const issuerUrl = new URL(trust.issuer);
      const discoveryUrl = rewriteOrigin(new URL(`${issuerUrl.pathname.replace(/\/+$/, "")}/.well-known/openid-configuration`, issuerUrl), trust.origin);
      stats.discoveryFetches += 1;
      stats.lastDiscoveryUrl = discoveryUrl.href;
      const discovery = await getJson(discoveryUrl, trust);
      // OpenID Connect Discovery 1.0 §4.3: the document's issuer must be the issuer asked for.
      if (discovery["issuer"] !== trust.issuer) throw new IssuerFetchError(`discovery document names issuer '${String(discovery["issuer"])}', not '${trust.issuer}'`);
      const jwksUri = discovery["jwks_uri"];
      let jwksUrl: URL;
      try {
        jwksUrl = rewriteOrigin(new URL(String(jwksUri)), trust.origin);
      } catch {
        throw new IssuerFetchError(`discovery document has no usable jwks_uri ('${String(jwksUri)}')`);
      }
      stats.jwksFetches += 1;
      stats.lastJwksUrl = jwksUrl.href;
      const jwks = await getJson(jwksUrl, trust);
      const keys = new Map<string, KeyObject>();
      if (!Array.isArray(jwks["keys"])) throw new IssuerFetchError(`${jwksUrl.href} has no 'keys' array`);
      for (const jwk of jwks["keys"] as unknown[]) {
        if (typeof jwk !== "object" || jwk === null) continue;
        const record = jwk as Record<string, unknown>;
        if (typeof record["kid"] !== "string") continue;
        if (record["use"] !== undefined && record["use"] !== "sig") continue;
        if (record["alg"] !== undefined && record["alg"] !== "RS256") continue;
        const key = rsaKeyFromJwk(record);
        if (key !== undefined) keys.set(record["kid"], key);
      }
      stats.lastError = null;
      const entry = { keys, fetchedAt: Date.now() };
      this.cache.set(trust.issuer, entry);
      return entry;
    } catch (error) {
      stats.lastError = error instanceof Error ? error.message : String(error);
      throw error instanceof IssuerFetchError ? error : new IssuerFetchError(stats.lastError);
    }
  }

  /** The issuer's key `kid`; undefined when the issuer does not publish it (even after a refetch). Throws IssuerFetchError. */
  async key(trust: ResolvedIssuerTrust, kid: string): Promise<KeyObject | undefined> {
    const cached = this.cache.get(trust.issuer);
    const fresh = cached !== undefined && Date.now() - cached.fetchedAt < this.ttlMs;
    const entry = fresh ? cached : await this.fetchKeys(trust);
    const key = entry.keys.get(kid);
    if (key !== undefined || !fresh) return key;
    return (await this.fetchKeys(trust)).keys.get(kid);
  }
}
