// A fake Microsoft Entra ID token service (test-only), mounted beside the fake Azure DevOps at
// `/_entra`: point AZURE_AUTHORITY_HOST at `${fake.baseUrl}/_entra/` and the OAuth 2.0 client
// credentials flow goes to `POST /_entra/{tenantId}/oauth2/v2.0/token`, with a client secret or
// a federated client assertion (a Kubernetes service-account token, verified for real against
// its issuer's JWKS). It issues RS256 access tokens for Azure DevOps shaped like the real v1
// tokens, and tells the fake Azure DevOps which of them to accept (auth.ts). README "Fake Entra ID".
import { createHash, generateKeyPairSync, randomUUID, timingSafeEqual, type KeyObject } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { EntraError, entraErrors } from "./entra-errors.ts";
import { readBody, sendJson } from "./http.ts";
import { audiences, decodeJwt, numericClaim, signRs256, verifyRs256, type DecodedJwt } from "./jwt.ts";
import { IssuerFetchError, IssuerKeyCache, defaultIssuerTrust, resolveIssuerTrust, type IssuerFetchStats, type IssuerTrust, type ResolvedIssuerTrust } from "./oidc-issuers.ts";

export type { IssuerTrust } from "./oidc-issuers.ts";

/** Application (client) id of Azure DevOps, the only resource the fake issues tokens for ([D] service-principal-managed-identity.md). */
export const AZURE_DEVOPS_RESOURCE_ID = "499b84ac-1321-427f-aa17-267ca6975798";
/** The audience a federated credential expects by default ([D] federated-credential-configuration-considerations.md). */
export const TOKEN_EXCHANGE_AUDIENCE = "api://AzureADTokenExchange";
export const JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/** Tolerance for an assertion's `nbf`/`iat` in the future ([I]: stricter than the customary 5 minutes). */
export const ASSERTION_CLOCK_SKEW_SECONDS = 60;

export interface EntraSecretSeed {
  value: string;
  /** ISO-8601 text or epoch milliseconds; from then on the secret is answered AADSTS7000222. @default never */
  expiresAt?: string | number;
}

export interface FederatedCredentialSeed {
  /** Must equal the assertion's `iss` exactly (case and trailing `/` count). https. */
  issuer: string;
  /** Must equal the assertion's `sub` exactly, e.g. `system:serviceaccount:<ns>:<sa>`. */
  subject: string;
  /** Exactly one value, as Entra allows ([D]). @default [TOKEN_EXCHANGE_AUDIENCE] */
  audiences?: string[];
  /** Shown in the view only. */
  name?: string;
}

/** An application registration and its service principal in one tenant. */
export interface EntraApplicationSeed {
  /** Application (client) id (GUID). */
  clientId: string;
  /** Object id of the application's service principal (GUID): the `oid` of its tokens, what Azure DevOps knows it by. */
  objectId: string;
  /** Tenant the service principal lives in (GUID); must be one of `tenants`. */
  tenantId: string;
  /** @default "app-<first 8 characters of clientId>" */
  displayName?: string;
  /** Client secrets (a plain string never expires). @default [] */
  secrets?: (string | EntraSecretSeed)[];
  /** At most 20 ([D]); issuer + subject unique. @default [] */
  federatedCredentials?: FederatedCredentialSeed[];
}

/** Options of the fake Entra ID (`startFakeAdo({ entra })`); also the body of `POST /_fake/entra`, where each given field replaces its table. */
export interface FakeEntraOptions {
  /** Tenants (GUIDs) the fake Entra ID knows; any other tenant in the path is AADSTS90002. @default the applications' tenants */
  tenants?: string[];
  /** Tenant the Azure DevOps organization is connected to: only tokens with this `tid` are accepted. @default tenants[0] */
  organizationTenantId?: string;
  applications?: EntraApplicationSeed[];
  /** How to reach the OIDC issuers of federated credentials. An issuer not listed is fetched at its own https URL. @default [] */
  issuers?: IssuerTrust[];
  /**
   * Object ids of the service principals added to the organization; a token of anyone else gets
   * 401 TF401444. @default every application's objectId
   */
  organizationMembers?: string[];
  /** `expires_in` of issued access tokens ([D] sample: 3599). @default 3599 */
  accessTokenTtlSeconds?: number;
  /** How long discovery documents and JWKS are cached (an unknown `kid` refetches at once). @default 60 */
  jwksCacheTtlSeconds?: number;
}

/** Body of `POST /_fake/entra`. */
export interface EntraControlRequest extends FakeEntraOptions {
  /** Zero the counters (tokens issued, failures, issuer fetches). */
  resetStats?: boolean;
}

export interface EntraStats {
  /** Tokens issued per client id and grant (client secret or federated assertion). */
  issued: Record<string, { secret: number; assertion: number }>;
  failures: number;
  lastFailure: { status: number; error: string; code: number; clientId: string | null; at: string } | null;
  /** Discovery and JWKS fetches per issuer. */
  issuerFetches: Record<string, IssuerFetchStats>;
}

/** What `GET /_fake/entra` answers; secrets are never echoed. */
export interface EntraView {
  /** AZURE_AUTHORITY_HOST for clients, e.g. `http://127.0.0.1:41234/_entra/`. */
  authorityHost: string;
  tenants: string[];
  organizationTenantId: string | null;
  organizationMembers: string[];
  applications: {
    clientId: string;
    objectId: string;
    tenantId: string;
    displayName: string;
    secrets: { expiresAt: string | null }[];
    federatedCredentials: { issuer: string; subject: string; audiences: string[]; name: string | null }[];
  }[];
  issuers: { issuer: string; baseUrl: string; ca: boolean; clientCertificate: boolean; serverName: string | null }[];
  accessTokenTtlSeconds: number;
  jwksCacheTtlSeconds: number;
  stats: EntraStats;
}

/** A service principal the fake Azure DevOps accepted. */
export interface EntraIdentity {
  objectId: string;
  tenantId: string;
  appId: string;
}

/** Outcome of checking an access token presented to Azure DevOps. */
export type EntraTokenCheck =
  | { ok: true; identity: EntraIdentity }
  | { ok: false; reason: "invalid" | "expired" }
  | { ok: false; reason: "notMember"; identity: EntraIdentity };

interface Secret {
  digest: Buffer;
  expiresAt: number | undefined;
}

interface Application {
  clientId: string;
  objectId: string;
  tenantId: string;
  displayName: string;
  secrets: Secret[];
  federatedCredentials: { issuer: string; subject: string; audiences: string[]; name: string | undefined }[];
}

interface Tables {
  tenants: string[];
  organizationTenantId: string | undefined;
  applications: Application[];
  issuers: ResolvedIssuerTrust[];
  organizationMembers: string[] | undefined;
  accessTokenTtlSeconds: number;
  jwksCacheTtlSeconds: number;
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const MAX_FEDERATED_CREDENTIALS = 20;

const digest = (value: string): Buffer => createHash("sha256").update(value, "utf8").digest();

function guid(value: unknown, what: string): string {
  if (typeof value !== "string" || !GUID.test(value)) throw new Error(`${what} must be a GUID, got '${String(value)}'`);
  return value.toLowerCase();
}

function positiveInteger(value: unknown, what: string): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < 1) throw new Error(`${what} must be a positive integer, got '${String(value)}'`);
  return value;
}

function stringArray(value: unknown, what: string): string[] {
  if (!Array.isArray(value) || value.some((item) => typeof item !== "string")) throw new Error(`${what} must be an array of strings`);
  return value as string[];
}

function objectArray(value: unknown, what: string): Record<string, unknown>[] {
  if (!Array.isArray(value) || value.some((item) => typeof item !== "object" || item === null || Array.isArray(item))) throw new Error(`${what} must be an array of objects`);
  return value as Record<string, unknown>[];
}

function parseSecret(value: unknown, what: string): Secret {
  const seed = typeof value === "string" ? { value } : (value as Record<string, unknown>);
  if (typeof seed !== "object" || seed === null || typeof seed["value"] !== "string" || seed["value"] === "") throw new Error(`${what} must be a non-empty string or {value, expiresAt?}`);
  let expiresAt: number | undefined;
  const raw = seed["expiresAt"];
  if (raw !== undefined) {
    expiresAt = typeof raw === "number" ? raw : typeof raw === "string" ? Date.parse(raw) : Number.NaN;
    if (!Number.isFinite(expiresAt)) throw new Error(`${what}.expiresAt must be ISO-8601 text or epoch milliseconds`);
  }
  return { digest: digest(seed["value"]), expiresAt };
}

function parseApplication(seed: Record<string, unknown>, index: number, tenants: readonly string[]): Application {
  const where = `applications[${index}]`;
  const clientId = guid(seed["clientId"], `${where}.clientId`);
  const tenantId = guid(seed["tenantId"], `${where}.tenantId`);
  if (!tenants.includes(tenantId)) throw new Error(`${where}.tenantId ${tenantId} is not one of the tenants`);
  const displayName = seed["displayName"] ?? `app-${clientId.slice(0, 8)}`;
  if (typeof displayName !== "string") throw new Error(`${where}.displayName must be a string`);
  const secrets = seed["secrets"] === undefined ? [] : (seed["secrets"] as unknown[]);
  if (!Array.isArray(secrets)) throw new Error(`${where}.secrets must be an array`);
  const credentials = seed["federatedCredentials"] === undefined ? [] : objectArray(seed["federatedCredentials"], `${where}.federatedCredentials`);
  if (credentials.length > MAX_FEDERATED_CREDENTIALS) throw new Error(`${where} has more than ${MAX_FEDERATED_CREDENTIALS} federated credentials`);
  const federatedCredentials = credentials.map((credential, fic) => {
    const at = `${where}.federatedCredentials[${fic}]`;
    const issuer = credential["issuer"];
    if (typeof issuer !== "string" || !issuer.startsWith("https://") || issuer.trim() !== issuer) throw new Error(`${at}.issuer must be an https URL without surrounding blanks`);
    const subject = credential["subject"];
    if (typeof subject !== "string" || subject === "") throw new Error(`${at}.subject must be a non-empty string`);
    const fallback = [TOKEN_EXCHANGE_AUDIENCE];
    const list = credential["audiences"] === undefined ? fallback : stringArray(credential["audiences"], `${at}.audiences`);
    if (list.length !== 1 || list[0] === "") throw new Error(`${at}.audiences must hold exactly one value, as Entra requires`);
    const name = credential["name"];
    if (name !== undefined && typeof name !== "string") throw new Error(`${at}.name must be a string`);
    return { issuer, subject, audiences: list, name };
  });
  const pairs = new Set(federatedCredentials.map((credential) => `${credential.issuer}\n${credential.subject}`));
  if (pairs.size !== federatedCredentials.length) throw new Error(`${where}: issuer and subject must be unique among its federated credentials`);
  return {
    clientId,
    objectId: guid(seed["objectId"], `${where}.objectId`),
    tenantId,
    displayName,
    secrets: secrets.map((secret, n) => parseSecret(secret, `${where}.secrets[${n}]`)),
    federatedCredentials,
  };
}

/** Validates a (partial) configuration and merges it over `base`; throws Error with the offending field. */
export function buildTables(request: FakeEntraOptions, base?: Tables): Tables {
  const record = request as Record<string, unknown>;
  const applicationSeeds = record["applications"] === undefined ? undefined : objectArray(record["applications"], "applications");
  let tenants: string[];
  if (record["tenants"] !== undefined) tenants = stringArray(record["tenants"], "tenants").map((tenant, n) => guid(tenant, `tenants[${n}]`));
  else if (base !== undefined) tenants = base.tenants;
  else tenants = (applicationSeeds ?? []).map((seed, n) => guid(seed["tenantId"], `applications[${n}].tenantId`));
  tenants = [...new Set(tenants)];
  const applications = applicationSeeds !== undefined ? applicationSeeds.map((seed, n) => parseApplication(seed, n, tenants)) : (base?.applications ?? []);
  for (const application of applications) {
    if (!tenants.includes(application.tenantId)) throw new Error(`application ${application.clientId} is in tenant ${application.tenantId}, which is not one of the tenants`);
  }
  const clientIds = new Set(applications.map((application) => `${application.tenantId}/${application.clientId}`));
  if (clientIds.size !== applications.length) throw new Error("applications: a clientId appears twice in one tenant");
  const organizationTenantId =
    record["organizationTenantId"] !== undefined ? guid(record["organizationTenantId"], "organizationTenantId") : base !== undefined && record["tenants"] === undefined ? base.organizationTenantId : tenants[0];
  if (organizationTenantId !== undefined && !tenants.includes(organizationTenantId)) throw new Error(`organizationTenantId ${organizationTenantId} is not one of the tenants`);
  const issuers =
    record["issuers"] !== undefined
      ? objectArray(record["issuers"], "issuers").map((trust) => resolveIssuerTrust(trust as unknown as IssuerTrust))
      : (base?.issuers ?? []);
  if (new Set(issuers.map((trust) => trust.issuer)).size !== issuers.length) throw new Error("issuers: an issuer appears twice");
  const organizationMembers =
    record["organizationMembers"] !== undefined
      ? stringArray(record["organizationMembers"], "organizationMembers").map((id, n) => guid(id, `organizationMembers[${n}]`))
      : base?.organizationMembers;
  return {
    tenants,
    organizationTenantId,
    applications,
    issuers,
    organizationMembers,
    accessTokenTtlSeconds: record["accessTokenTtlSeconds"] !== undefined ? positiveInteger(record["accessTokenTtlSeconds"], "accessTokenTtlSeconds") : (base?.accessTokenTtlSeconds ?? 3599),
    jwksCacheTtlSeconds: record["jwksCacheTtlSeconds"] !== undefined ? positiveInteger(record["jwksCacheTtlSeconds"], "jwksCacheTtlSeconds") : (base?.jwksCacheTtlSeconds ?? 60),
  };
}

function secretMatches(secret: Secret, presented: Buffer): boolean {
  return timingSafeEqual(secret.digest, presented);
}

function sendEntraJson(res: ServerResponse, status: number, body: unknown): void {
  // Token responses must not be cached (RFC 6749 §5.1); Entra sends both headers.
  sendJson(res, status, body, "", { "Content-Type": "application/json; charset=utf-8", "Cache-Control": "no-store, no-cache", Pragma: "no-cache" });
}

/** The fake Entra ID: configuration tables, its signing key, the token endpoint and the check Azure DevOps runs on tokens. */
export class FakeEntra {
  private tables: Tables;
  private readonly seed: Tables;
  private readonly signingKey: KeyObject;
  private readonly verifyKey: KeyObject;
  private readonly publicJwk: Record<string, unknown>;
  /** Key id of the fake's signing key (header `kid` and `x5t` of every token it issues). */
  readonly keyId: string;
  private keys: IssuerKeyCache;
  private issued = new Map<string, { secret: number; assertion: number }>();
  private failures = 0;
  private lastFailure: EntraStats["lastFailure"] = null;

  constructor(options: FakeEntraOptions = {}) {
    this.seed = buildTables(options);
    this.tables = this.seed;
    this.keys = new IssuerKeyCache(this.tables.jwksCacheTtlSeconds * 1000);
    const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    this.signingKey = privateKey;
    const jwk = publicKey.export({ format: "jwk" }) as Record<string, unknown>;
    this.keyId = createHash("sha256").update(String(jwk["n"])).digest("base64url").slice(0, 27);
    this.publicJwk = { kty: "RSA", use: "sig", kid: this.keyId, x5t: this.keyId, n: jwk["n"], e: jwk["e"] };
    this.verifyKey = publicKey;
  }

  /** Back to the configuration given at start; counters and the issuer cache are cleared. The signing key stays. */
  reset(): void {
    this.tables = this.seed;
    this.keys = new IssuerKeyCache(this.tables.jwksCacheTtlSeconds * 1000);
    this.resetStats();
  }

  resetStats(): void {
    this.issued = new Map();
    this.failures = 0;
    this.lastFailure = null;
    this.keys.stats.clear();
  }

  /** `POST /_fake/entra`: replaces the given tables (throws Error on invalid input, nothing changed). */
  configure(request: EntraControlRequest, authorityHost: string): EntraView {
    const { resetStats, ...options } = request;
    const next = buildTables(options, this.tables);
    if (next.jwksCacheTtlSeconds !== this.tables.jwksCacheTtlSeconds || options.issuers !== undefined) {
      const stats = this.keys.stats;
      this.keys = new IssuerKeyCache(next.jwksCacheTtlSeconds * 1000);
      for (const [issuer, entry] of stats) this.keys.stats.set(issuer, entry);
    }
    this.tables = next;
    if (resetStats === true) this.resetStats();
    return this.view(authorityHost);
  }

  stats(): EntraStats {
    return {
      issued: Object.fromEntries([...this.issued].map(([clientId, counts]) => [clientId, { ...counts }])),
      failures: this.failures,
      lastFailure: this.lastFailure === null ? null : { ...this.lastFailure },
      issuerFetches: Object.fromEntries([...this.keys.stats].map(([issuer, stats]) => [issuer, { ...stats }])),
    };
  }

  private members(): string[] {
    return this.tables.organizationMembers ?? this.tables.applications.map((application) => application.objectId);
  }

  view(authorityHost: string): EntraView {
    const t = this.tables;
    return {
      authorityHost,
      tenants: [...t.tenants],
      organizationTenantId: t.organizationTenantId ?? null,
      organizationMembers: this.members(),
      applications: t.applications.map((application) => ({
        clientId: application.clientId,
        objectId: application.objectId,
        tenantId: application.tenantId,
        displayName: application.displayName,
        secrets: application.secrets.map((secret) => ({ expiresAt: secret.expiresAt === undefined ? null : new Date(secret.expiresAt).toISOString() })),
        federatedCredentials: application.federatedCredentials.map((credential) => ({ ...credential, audiences: [...credential.audiences], name: credential.name ?? null })),
      })),
      issuers: t.issuers.map((trust) => ({ issuer: trust.issuer, baseUrl: trust.origin.origin, ca: trust.ca !== undefined, clientCertificate: trust.cert !== undefined, serverName: trust.serverName ?? null })),
      accessTokenTtlSeconds: t.accessTokenTtlSeconds,
      jwksCacheTtlSeconds: t.jwksCacheTtlSeconds,
      stats: this.stats(),
    };
  }

  /**
   * Serves `/_entra/...`; `segments` excludes `_entra`, `authority` is `<origin>/_entra`.
   * Routes: `POST {tenant}/oauth2/v2.0/token`, `GET {tenant}/v2.0/.well-known/openid-configuration`,
   * `GET {tenant}/discovery/v2.0/keys`.
   */
  async handle(req: IncomingMessage, res: ServerResponse, method: string, segments: readonly string[], authority: string): Promise<void> {
    const [tenant = "", ...rest] = segments;
    const route = rest.join("/").toLowerCase();
    const correlationId = typeof req.headers["client-request-id"] === "string" ? req.headers["client-request-id"] : undefined;
    if (route === "oauth2/v2.0/token") {
      let clientId: string | null = null;
      try {
        if (method !== "POST") throw entraErrors.methodNotAllowed(method);
        const known = this.knownTenant(tenant);
        const form = await this.readForm(req);
        clientId = form.get("client_id") ?? null;
        const token = await this.token(known, form);
        sendEntraJson(res, 200, token);
      } catch (error) {
        if (!(error instanceof EntraError)) throw error;
        this.failures += 1;
        this.lastFailure = { status: error.status, error: error.error, code: error.aadsts, clientId, at: new Date().toISOString() };
        sendEntraJson(res, error.status, error.body(correlationId));
      }
      return;
    }
    if (method === "GET" && (route === "v2.0/.well-known/openid-configuration" || route === "discovery/v2.0/keys")) {
      try {
        const known = this.knownTenant(tenant);
        if (route === "discovery/v2.0/keys") return sendEntraJson(res, 200, { keys: [{ ...this.publicJwk }] });
        return sendEntraJson(res, 200, {
          token_endpoint: `${authority}/${known}/oauth2/v2.0/token`,
          token_endpoint_auth_methods_supported: ["client_secret_post", "private_key_jwt"],
          jwks_uri: `${authority}/${known}/discovery/v2.0/keys`,
          issuer: `https://login.microsoftonline.com/${known}/v2.0`,
          id_token_signing_alg_values_supported: ["RS256"],
          tenant_region_scope: "EU",
        });
      } catch (error) {
        if (error instanceof EntraError) return sendEntraJson(res, error.status, error.body(correlationId));
        throw error;
      }
    }
    sendEntraJson(res, 404, { error: "not_found", error_description: `fake Entra ID: no route ${method} /_entra/${segments.join("/")}` });
  }

  private knownTenant(segment: string): string {
    let name: string;
    try {
      name = decodeURIComponent(segment);
    } catch {
      name = segment;
    }
    // Domain names and `common`/`organizations` are not modelled: client credentials need the tenant id here ([I], stricter).
    if (!this.tables.tenants.includes(name.toLowerCase())) throw entraErrors.tenantNotFound(name);
    return name.toLowerCase();
  }

  private async readForm(req: IncomingMessage): Promise<Map<string, string>> {
    const type = String(req.headers["content-type"] ?? "").split(";")[0]?.trim().toLowerCase();
    let raw: string;
    try {
      raw = (await readBody(req)).toString("utf8");
    } catch {
      throw entraErrors.malformed("The request body could not be read.");
    }
    // [I] Entra reads parameters from a form body only; without one it finds none.
    if (type !== "application/x-www-form-urlencoded") throw entraErrors.missingParameter("grant_type");
    const form = new Map<string, string>();
    for (const [name, value] of new URLSearchParams(raw)) {
      if (form.has(name)) throw entraErrors.malformed(`The parameter '${name}' is given more than once.`);
      form.set(name, value);
    }
    return form;
  }

  private async token(tenant: string, form: Map<string, string>): Promise<Record<string, unknown>> {
    const grantType = form.get("grant_type");
    if (grantType === undefined || grantType === "") throw entraErrors.missingParameter("grant_type");
    if (grantType !== "client_credentials") throw entraErrors.unsupportedGrantType(grantType);
    const clientIdRaw = form.get("client_id");
    if (clientIdRaw === undefined || clientIdRaw === "") throw entraErrors.missingParameter("client_id");
    const scope = form.get("scope");
    if (scope === undefined || scope.trim() === "") throw entraErrors.missingParameter("scope");
    this.checkScope(scope, tenant);
    const clientId = clientIdRaw.toLowerCase();
    const application = this.tables.applications.find((candidate) => candidate.tenantId === tenant && candidate.clientId === clientId);
    if (application === undefined) throw entraErrors.applicationNotFound(clientIdRaw, tenant);

    const secret = form.get("client_secret");
    const assertion = form.get("client_assertion");
    const assertionType = form.get("client_assertion_type");
    let grant: "secret" | "assertion";
    if (secret !== undefined && (assertion !== undefined || assertionType !== undefined)) {
      throw entraErrors.malformed("Exactly one of 'client_secret' and 'client_assertion' may be given.");
    } else if (secret !== undefined && secret !== "") {
      this.checkSecret(application, secret);
      grant = "secret";
    } else if (assertion !== undefined && assertion !== "") {
      if (assertionType === undefined || assertionType === "") throw entraErrors.missingParameter("client_assertion_type");
      if (assertionType !== JWT_BEARER) throw entraErrors.malformed(`client_assertion_type must be '${JWT_BEARER}'.`);
      await this.checkAssertion(application, assertion);
      grant = "assertion";
    } else {
      throw entraErrors.missingCredential();
    }

    const counts = this.issued.get(application.clientId) ?? { secret: 0, assertion: 0 };
    counts[grant] += 1;
    this.issued.set(application.clientId, counts);
    const ttl = this.tables.accessTokenTtlSeconds;
    return { token_type: "Bearer", expires_in: ttl, ext_expires_in: ttl, access_token: this.issueAccessToken(application, grant, ttl) };
  }

  private checkScope(scope: string, tenant: string): void {
    const scopes = scope.trim().split(/\s+/);
    // [I] one scope only: the client credentials flow takes one resource's `.default` ([D] "All scopes included must be for a single resource").
    if (scopes.length !== 1) throw entraErrors.invalidScope(scope);
    const [only = ""] = scopes;
    if (!only.endsWith("/.default")) throw entraErrors.scopeNotDefault(only);
    const resource = only.slice(0, -"/.default".length);
    if (resource.toLowerCase() === AZURE_DEVOPS_RESOURCE_ID) return;
    // [I] Stricter than Entra: Azure DevOps says "Use the Azure DevOps application ID, not our resource URI, for generating tokens."
    if (/^https:\/\/app\.vssps\.visualstudio\.com\/?$/i.test(resource)) throw entraErrors.invalidScope(only);
    throw entraErrors.resourceNotFound(resource, tenant);
  }

  private checkSecret(application: Application, secret: string): void {
    const presented = digest(secret);
    const match = application.secrets.find((candidate) => secretMatches(candidate, presented));
    if (match === undefined) throw entraErrors.invalidSecret(application.clientId);
    if (match.expiresAt !== undefined && match.expiresAt <= Date.now()) throw entraErrors.secretExpired(application.clientId);
  }

  private trustFor(issuer: string): ResolvedIssuerTrust {
    return this.tables.issuers.find((trust) => trust.issuer === issuer) ?? defaultIssuerTrust(issuer);
  }

  /**
   * Workload identity federation: the assertion must be an RS256 JWT from an issuer one of the
   * application's federated credentials names, signed with a key that issuer publishes, within its
   * validity, for that credential's subject and audience. Order of the checks is [I].
   */
  private async checkAssertion(application: Application, assertion: string): Promise<void> {
    const jwt = decodeJwt(assertion);
    if (jwt === undefined || jwt.header["alg"] !== "RS256") throw entraErrors.malformedAssertion();
    if (application.federatedCredentials.length === 0) throw entraErrors.noFederatedCredentials(application.clientId, application.displayName);
    const issuer = jwt.payload["iss"];
    if (typeof issuer !== "string") throw entraErrors.malformedAssertion();
    const candidates = application.federatedCredentials.filter((credential) => credential.issuer === issuer);
    if (candidates.length === 0) throw entraErrors.issuerMismatch(issuer);
    await this.checkSignature(jwt, issuer);
    this.checkLifetime(jwt);
    const subject = jwt.payload["sub"];
    const credential = candidates.find((candidate) => candidate.subject === subject);
    if (credential === undefined) throw entraErrors.subjectMismatch(typeof subject === "string" ? subject : "");
    const presented = audiences(jwt.payload);
    if (!presented.some((aud) => credential.audiences.includes(aud))) throw entraErrors.audienceMismatch(presented.join(","));
  }

  private async checkSignature(jwt: DecodedJwt, issuer: string): Promise<void> {
    const kid = typeof jwt.header["kid"] === "string" ? jwt.header["kid"] : "";
    let key: KeyObject | undefined;
    try {
      key = kid === "" ? undefined : await this.keys.key(this.trustFor(issuer), kid);
    } catch (error) {
      if (error instanceof IssuerFetchError) throw entraErrors.issuerUnreachable();
      throw error;
    }
    if (key === undefined) throw entraErrors.signingKeyNotFound(kid, issuer);
    if (!verifyRs256(jwt, key)) throw entraErrors.badSignature();
  }

  private checkLifetime(jwt: DecodedJwt): void {
    const nowMs = Date.now();
    const now = nowMs / 1000;
    const exp = numericClaim(jwt.payload, "exp");
    const nbf = numericClaim(jwt.payload, "nbf");
    const iat = numericClaim(jwt.payload, "iat");
    const tooEarly = (claim: number | undefined): boolean => claim !== undefined && claim > now + ASSERTION_CLOCK_SKEW_SECONDS;
    if (exp === undefined || exp <= now || tooEarly(nbf) || tooEarly(iat)) throw entraErrors.assertionTimeRange(nowMs, nbf, exp);
  }

  /** A v1 access token for Azure DevOps as Entra issues it to a service principal (claims: Entra access-token reference [D]). */
  private issueAccessToken(application: Application, grant: "secret" | "assertion", ttl: number): string {
    const now = Math.floor(Date.now() / 1000);
    const issuer = `https://sts.windows.net/${application.tenantId}/`;
    return signRs256(
      { typ: "JWT", kid: this.keyId, x5t: this.keyId },
      {
        aud: AZURE_DEVOPS_RESOURCE_ID,
        iss: issuer,
        iat: now,
        nbf: now,
        exp: now + ttl,
        aio: randomUUID(),
        appid: application.clientId,
        // 1 = client secret, 2 = certificate or assertion ([D] access-token claims reference).
        appidacr: grant === "secret" ? "1" : "2",
        idp: issuer,
        oid: application.objectId,
        rh: randomUUID(),
        sub: application.objectId,
        tid: application.tenantId,
        uti: randomUUID().replaceAll("-", ""),
        ver: "1.0",
      },
      this.signingKey,
    );
  }

  /**
   * What the fake Azure DevOps makes of a token presented as Bearer or Basic password: signed by
   * this fake Entra ID, for Azure DevOps, not expired, from the organization's tenant, and the
   * identity added to the organization.
   */
  verifyAccessToken(token: string): EntraTokenCheck {
    const jwt = decodeJwt(token);
    if (jwt === undefined || jwt.header["alg"] !== "RS256" || jwt.header["kid"] !== this.keyId || !verifyRs256(jwt, this.verifyKey)) return { ok: false, reason: "invalid" };
    const claims = jwt.payload;
    const tenantId = claims["tid"];
    const objectId = claims["oid"];
    const appId = claims["appid"];
    if (typeof tenantId !== "string" || typeof objectId !== "string" || typeof appId !== "string") return { ok: false, reason: "invalid" };
    if (!audiences(claims).includes(AZURE_DEVOPS_RESOURCE_ID) || claims["iss"] !== `https://sts.windows.net/${tenantId}/`) return { ok: false, reason: "invalid" };
    const exp = numericClaim(claims, "exp");
    const nbf = numericClaim(claims, "nbf");
    const now = Date.now() / 1000;
    if (exp === undefined || exp <= now) return { ok: false, reason: "expired" };
    if (nbf !== undefined && nbf > now + ASSERTION_CLOCK_SKEW_SECONDS) return { ok: false, reason: "invalid" };
    // [I] A token of another tenant than the organization's: answered like an unknown credential.
    if (tenantId !== this.tables.organizationTenantId) return { ok: false, reason: "invalid" };
    const identity = { objectId, tenantId, appId };
    if (!this.members().includes(objectId)) return { ok: false, reason: "notMember", identity };
    return { ok: true, identity };
  }
}
