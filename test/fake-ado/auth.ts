// Authentication as Azure DevOps Services does it for the clients in scope (contract §1.2, §2,
// §3.7 step 9): PATs via Basic (password only) or Bearer, Microsoft Entra access tokens of service
// principals wherever a PAT is accepted (entra.ts; README "Fake Entra ID"), and per-agent OAuth
// access tokens that an agent obtains with an RS256 JWT client assertion signed by its registration key.
import { createPublicKey, randomBytes, verify } from "node:crypto";
import type { EntraIdentity, EntraTokenCheck } from "./entra.ts";
import { AdoError } from "./errors.ts";
import { looksLikeJwt } from "./jwt.ts";
import type { AgentRecord } from "./model.ts";

export type AuthFailureMode = "ok" | "html203";

/** A PAT holder, or a service principal with an Entra token (`servicePrincipal`): both may do what a PAT user may. */
export type Principal =
  | { kind: "user"; scheme: "Basic" | "Bearer"; servicePrincipal?: EntraIdentity }
  | { kind: "agent"; agentId: number; poolId: number };

/** "notMember": a valid Entra token of a service principal the organization does not know (TF401444). */
export type AuthFailureReason = "missing" | "invalid" | "expired" | "notMember";

export interface AuthOutcome {
  /** Scheme named by the Authorization header, for the request log. */
  scheme: string | undefined;
  /** Basic username (never the password), for the request log. */
  basicUser: string | undefined;
  principal: Principal | undefined;
  failure: AuthFailureReason | undefined;
  /** With "notMember": whom TF401444 names. */
  unprovisioned?: EntraIdentity;
}

type CredentialCheck = Pick<AuthOutcome, "principal" | "failure" | "unprovisioned">;

interface AgentToken {
  agentId: number;
  poolId: number;
  expiresAt: number;
}

export class AuthRegistry {
  mode: AuthFailureMode;
  readonly validPats = new Set<string>();
  readonly expiredPats = new Set<string>();
  tokenTtlSeconds: number;
  private readonly tokens = new Map<string, AgentToken>();

  /** `entraCheck`: how a JWT presented instead of a PAT is judged (FakeEntra.verifyAccessToken). */
  constructor(
    mode: AuthFailureMode,
    tokenTtlSeconds: number,
    private readonly entraCheck?: (token: string) => EntraTokenCheck,
  ) {
    this.mode = mode;
    this.tokenTtlSeconds = tokenTtlSeconds;
  }

  reset(mode: AuthFailureMode, validPats: readonly string[], expiredPats: readonly string[]): void {
    this.mode = mode;
    this.validPats.clear();
    this.expiredPats.clear();
    for (const pat of validPats) this.validPats.add(pat);
    for (const pat of expiredPats) this.expiredPats.add(pat);
    this.tokens.clear();
  }

  /** A PAT, or an Entra access token in its place (Bearer, or Basic password with any username). */
  private checkCredential(secret: string, scheme: "Basic" | "Bearer"): CredentialCheck {
    if (this.validPats.has(secret)) return { principal: { kind: "user", scheme }, failure: undefined };
    if (this.expiredPats.has(secret)) return { principal: undefined, failure: "expired" };
    if (this.entraCheck !== undefined && looksLikeJwt(secret)) {
      const check = this.entraCheck(secret);
      if (check.ok) return { principal: { kind: "user", scheme, servicePrincipal: check.identity }, failure: undefined };
      if (check.reason === "notMember") return { principal: undefined, failure: "notMember", unprovisioned: check.identity };
      // An expired Entra token gets the same 401 TF400813 (or 203) as a bad one, not the PAT
      // "expired" message (azure-devops-auth-samples#52) [R].
      return { principal: undefined, failure: "invalid" };
    }
    return { principal: undefined, failure: "invalid" };
  }

  authenticate(header: string | undefined): AuthOutcome {
    if (header === undefined || header.trim() === "") return { scheme: undefined, basicUser: undefined, principal: undefined, failure: "missing" };
    const space = header.indexOf(" ");
    const scheme = space < 0 ? header : header.slice(0, space);
    const credential = space < 0 ? "" : header.slice(space + 1).trim();
    if (scheme.toLowerCase() === "basic") {
      const decoded = Buffer.from(credential, "base64").toString("utf8");
      const colon = decoded.indexOf(":");
      if (colon < 0) return { scheme: "Basic", basicUser: undefined, principal: undefined, failure: "invalid" };
      // §1.2: the username is ignored (KEDA sends "", the agent "VstsAgent", start.sh "user").
      const basicUser = decoded.slice(0, colon);
      return { scheme: "Basic", basicUser, ...this.checkCredential(decoded.slice(colon + 1), "Basic") };
    }
    if (scheme.toLowerCase() === "bearer") {
      const token = this.tokens.get(credential);
      if (token) {
        if (token.expiresAt <= Date.now()) {
          this.tokens.delete(credential);
          return { scheme: "Bearer", basicUser: undefined, principal: undefined, failure: "invalid" };
        }
        return { scheme: "Bearer", basicUser: undefined, principal: { kind: "agent", agentId: token.agentId, poolId: token.poolId }, failure: undefined };
      }
      // §1.2 "Optionally accept Bearer <PAT>"; Entra tokens are sent as Bearer by REST clients.
      return { scheme: "Bearer", basicUser: undefined, ...this.checkCredential(credential, "Bearer") };
    }
    return { scheme, basicUser: undefined, principal: undefined, failure: "invalid" };
  }

  issueToken(agent: AgentRecord): { accessToken: string; expiresIn: number } {
    const accessToken = randomBytes(32).toString("base64url");
    this.tokens.set(accessToken, { agentId: agent.id, poolId: agent.poolId, expiresAt: Date.now() + this.tokenTtlSeconds * 1000 });
    return { accessToken, expiresIn: this.tokenTtlSeconds };
  }

  /** A replaced or deleted registration must not keep working through tokens it already holds. */
  revokeAgent(agentId: number): void {
    for (const [token, entry] of this.tokens) if (entry.agentId === agentId) this.tokens.delete(token);
  }

  sweep(): void {
    const now = Date.now();
    for (const [token, entry] of this.tokens) if (entry.expiresAt <= now) this.tokens.delete(token);
  }
}

/** An OAuth 2.0 token-endpoint error (RFC 6749 §5.2 body shape). */
export class OAuthError extends Error {
  readonly status: number;
  readonly error: string;

  constructor(status: number, error: string, description: string) {
    super(description);
    this.status = status;
    this.error = error;
  }

  body(): Record<string, string> {
    return { error: this.error, error_description: this.message };
  }
}

export const JWT_BEARER_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
const CLOCK_SKEW_SECONDS = 300;

function decodeJsonPart(part: string, what: string): Record<string, unknown> {
  try {
    const value = JSON.parse(Buffer.from(part, "base64url").toString("utf8")) as unknown;
    if (typeof value === "object" && value !== null && !Array.isArray(value)) return value as Record<string, unknown>;
  } catch {
    // fall through to the error below
  }
  throw new OAuthError(400, "invalid_request", `The client assertion ${what} is not valid JSON.`);
}

/** Base64 of big-endian bytes (what the agent registers) → base64url for a JWK. */
const toBase64Url = (base64: string): string => Buffer.from(base64, "base64").toString("base64url");

/**
 * Verifies a client assertion (§3.7 step 9): RS256 JWT with iss = sub = the agent's clientId,
 * aud = the token endpoint, valid nbf/exp, signed by the key whose public part the agent
 * registered (`authorization.publicKey` exponent/modulus).
 */
export function verifyClientAssertion(
  assertion: string,
  expectedAudiencePath: string,
  findAgent: (clientId: string) => AgentRecord | undefined,
): AgentRecord {
  const parts = assertion.split(".");
  if (parts.length !== 3) throw new OAuthError(400, "invalid_request", "The client assertion is not a JWT.");
  const [headerPart = "", payloadPart = "", signaturePart = ""] = parts;
  const header = decodeJsonPart(headerPart, "header");
  const payload = decodeJsonPart(payloadPart, "payload");
  if (header["alg"] !== "RS256") throw new OAuthError(401, "invalid_client", `Unsupported JWT algorithm '${String(header["alg"])}'.`);
  const clientId = typeof payload["sub"] === "string" ? payload["sub"] : undefined;
  if (!clientId || payload["iss"] !== clientId) throw new OAuthError(401, "invalid_client", "The JWT issuer and subject must both be the client id.");
  const agent = findAgent(clientId);
  if (!agent || !agent.publicKey) throw new OAuthError(401, "invalid_client", `Unknown client '${clientId}'.`);
  const key = createPublicKey({ key: { kty: "RSA", n: toBase64Url(agent.publicKey.modulus), e: toBase64Url(agent.publicKey.exponent) }, format: "jwk" });
  const signed = Buffer.from(`${headerPart}.${payloadPart}`, "ascii");
  if (!verify("sha256", signed, key, Buffer.from(signaturePart, "base64url"))) {
    throw new OAuthError(401, "invalid_client", "The client assertion signature does not match the registered public key.");
  }
  const audiences = Array.isArray(payload["aud"]) ? payload["aud"] : [payload["aud"]];
  const audienceOk = audiences.some((aud) => {
    if (typeof aud !== "string") return false;
    try {
      return new URL(aud).pathname.replace(/\/{2,}/g, "/").toLowerCase() === expectedAudiencePath.toLowerCase();
    } catch {
      return false;
    }
  });
  if (!audienceOk) throw new OAuthError(401, "invalid_client", `The client assertion audience must be the token endpoint ${expectedAudiencePath}.`);
  const now = Math.floor(Date.now() / 1000);
  const exp = payload["exp"];
  const nbf = payload["nbf"];
  if (typeof exp !== "number" || exp + CLOCK_SKEW_SECONDS < now) throw new OAuthError(401, "invalid_client", "The client assertion has expired.");
  if (typeof nbf === "number" && nbf - CLOCK_SKEW_SECONDS > now) throw new OAuthError(401, "invalid_client", "The client assertion is not valid yet.");
  return agent;
}

export interface AuthFailureResponse {
  status: number;
  headers: Record<string, string>;
  contentType: string;
  body: string;
}

const SIGN_IN_PAGE =
  "<!DOCTYPE html><html><head><title>Azure DevOps Services | Sign In</title></head>" +
  "<body><h1>Azure DevOps Services | Sign In</h1><p>Sign in to your account to continue.</p></body></html>";

/** The WrappedException body of the service's UnauthorizedRequestException. */
const unauthorizedRequest = (message: string): string =>
  JSON.stringify(
    new AdoError(401, "UnauthorizedRequestException", message, "Microsoft.TeamFoundation.Framework.Server.UnauthorizedRequestException, Microsoft.TeamFoundation.Framework.Server").body(),
  );

/**
 * §2: how the service answers bad credentials. The html203 mode emulates the browser-ish sign-in
 * page (203 for GET/POST, 401 otherwise — azure-devops-auth-samples#52), which the .NET client
 * suppresses with `X-TFS-FedAuthRedirect: Suppress`.
 */
export function authFailureResponse(
  reason: AuthFailureReason,
  request: { method: string; suppressRedirect: boolean; mode: AuthFailureMode; origin: string; user: string; unprovisioned?: EntraIdentity | undefined },
): AuthFailureResponse {
  if (request.mode === "html203" && !request.suppressRedirect && ["GET", "HEAD", "POST"].includes(request.method)) {
    return { status: 203, headers: {}, contentType: "text/html; charset=utf-8", body: SIGN_IN_PAGE };
  }
  const challenge = { "WWW-Authenticate": `Basic realm="${request.origin}/"` };
  if (reason === "notMember" && request.unprovisioned !== undefined) {
    // A service principal not added to the organization. Text: azure-devops-docs
    // "Access Azure DevOps with Entra workload identity" (Common error messages) [D], form
    // tenant\tenant\objectId [D] service-principal-managed-identity.md "Potential errors"; 401 and
    // typeKey UnauthorizedRequestException [R] (public client fixtures); no X-TFS-ServiceError [I].
    const { tenantId, objectId } = request.unprovisioned;
    return {
      status: 401,
      headers: challenge,
      contentType: "application/json; charset=utf-8",
      body: unauthorizedRequest(`TF401444: Please sign-in at least once as ${tenantId}\\${tenantId}\\${objectId} in a web browser to enable access to the service.`),
    };
  }
  if (reason === "expired") {
    const message = "Access Denied: The Personal Access Token used has expired.";
    return {
      status: 401,
      headers: { ...challenge, "X-TFS-ServiceError": encodeURIComponent(message) },
      contentType: "application/json; charset=utf-8",
      body: JSON.stringify({
        $id: "1",
        customProperties: { Descriptor: null, IdentityDisplayName: null, Token: null, RequestedPermissions: 0, NamespaceId: "00000000-0000-0000-0000-000000000000" },
        innerException: null,
        message,
        typeName: "Microsoft.VisualStudio.Services.Security.AccessCheckException, Microsoft.VisualStudio.Services.WebApi",
        typeKey: "AccessCheckException",
        errorCode: 0,
        eventId: 3000,
      }),
    };
  }
  return {
    status: 401,
    headers: challenge,
    contentType: "application/json; charset=utf-8",
    body: unauthorizedRequest(`TF400813: The user '${request.user}' is not authorized to access this resource.`),
  };
}
