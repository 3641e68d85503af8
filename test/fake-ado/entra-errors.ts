// Token-endpoint failures of the fake Microsoft Entra ID, with the AADSTS codes and texts the real
// service sends. Sources per entry ([D] Microsoft docs, [R] captured responses in public issues,
// [I] the fake's choice where the real behaviour is unknown; README "Fake Entra ID").
import { randomUUID } from "node:crypto";

/** OAuth 2.0 `error` values Entra uses (RFC 6749 §5.2 plus Entra's own `invalid_tenant`, `invalid_resource`). */
export type EntraErrorCode =
  | "invalid_request"
  | "invalid_client"
  | "invalid_grant"
  | "invalid_scope"
  | "invalid_resource"
  | "invalid_tenant"
  | "unauthorized_client"
  | "unsupported_grant_type";

/** The JSON body Entra answers a failed token request with ([D] reference-error-codes.md, v2-oauth2-client-creds-grant-flow.md). */
export interface EntraErrorBody {
  error: EntraErrorCode;
  error_description: string;
  error_codes: number[];
  timestamp: string;
  trace_id: string;
  correlation_id: string;
  error_uri: string;
}

export class EntraError extends Error {
  readonly status: number;
  readonly error: EntraErrorCode;
  readonly aadsts: number;

  constructor(status: number, error: EntraErrorCode, aadsts: number, text: string) {
    super(`AADSTS${aadsts}: ${text}`);
    this.status = status;
    this.error = error;
    this.aadsts = aadsts;
  }

  /** `correlationId`: the caller's `client-request-id`, echoed as MSAL expects; a fresh one otherwise. */
  body(correlationId: string | undefined, now: Date = new Date()): EntraErrorBody {
    const traceId = randomUUID();
    const correlation = correlationId ?? randomUUID();
    // "2016-01-09 02:02:12Z" ([D] the sample error response).
    const timestamp = `${now.toISOString().slice(0, 19).replace("T", " ")}Z`;
    return {
      error: this.error,
      error_description: `${this.message}\r\nTrace ID: ${traceId}\r\nCorrelation ID: ${correlation}\r\nTimestamp: ${timestamp}`,
      error_codes: [this.aadsts],
      timestamp,
      trace_id: traceId,
      correlation_id: correlation,
      error_uri: `https://login.microsoftonline.com/error?code=${this.aadsts}`,
    };
  }
}

const WIF_DOCS = "https://learn.microsoft.com/entra/workload-id/workload-identity-federation";

/** "2024-10-02T22:05:03.6755165Z": .NET's round-trip format with seven fractional digits ([R] AADSTS700024 texts). */
function dotnetTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, (_match, millis: string) => `.${millis}0000Z`);
}

// Status: `invalid_client` is 401, everything else 400 ([D] "An error response (400 Bad Request)";
// [R] 401 for invalid_client: AADSTS7000215 microsoft-365-agents-toolkit#8621, AADSTS700211
// azure-workload-identity#1350, AADSTS7000272 #616, AADSTS7002137 microsoft/Agents#202).
export const entraErrors = {
  /** [D] AADSTS900561; text [I] after the documented template. */
  methodNotAllowed: (method: string): EntraError =>
    new EntraError(400, "invalid_request", 900561, `The endpoint only accepts POST requests. Received a ${method} request.`),
  /** [R] azure-cli#22145, vcheckzen/FODI#23 (on the discovery endpoint; the same code on /token is [I]). */
  tenantNotFound: (tenant: string): EntraError =>
    new EntraError(
      400,
      "invalid_tenant",
      90002,
      `Tenant '${tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant.`,
    ),
  /** [D] AADSTS900144 "The request body must contain the following parameter: '{name}'." */
  missingParameter: (name: string): EntraError =>
    new EntraError(400, "invalid_request", 900144, `The request body must contain the following parameter: '${name}'.`),
  /** [D] AADSTS9002313; used for requests the fake refuses as malformed ([I] which ones). */
  malformed: (detail: string): EntraError => new EntraError(400, "invalid_request", 9002313, `Invalid request. Request is malformed or invalid. ${detail}`),
  /** [D] AADSTS70003 UnsupportedGrantType; text [I]. */
  unsupportedGrantType: (grantType: string): EntraError =>
    new EntraError(400, "unsupported_grant_type", 70003, `The app requested an unsupported grant type '${grantType}'.`),
  /** [R] AADSTS1002012 (Azure/azure-docs#99862, microsoft/CollectServiceFabricData#139). */
  scopeNotDefault: (scope: string): EntraError =>
    new EntraError(
      400,
      "invalid_scope",
      1002012,
      `The provided value for scope ${scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).`,
    ),
  /** [D] AADSTS70011 sample response; used for more than one scope and for the resource URI form ([I]). */
  invalidScope: (scope: string): EntraError =>
    new EntraError(400, "invalid_scope", 70011, `The provided value for the input parameter 'scope' isn't valid. The scope ${scope} isn't valid.`),
  /** [R] AADSTS500011 (rootinc/laravel-azure-middleware#51: invalid_resource). */
  resourceNotFound: (resource: string, tenant: string): EntraError =>
    new EntraError(
      400,
      "invalid_resource",
      500011,
      `The resource principal named ${resource} was not found in the tenant named ${tenant}. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant.`,
    ),
  /** [R] AADSTS700016 unauthorized_client (Azure/azure-sdk-for-python#8314, microsoft/AzureTRE#1475). */
  applicationNotFound: (clientId: string, tenant: string): EntraError =>
    new EntraError(
      400,
      "unauthorized_client",
      700016,
      `Application with identifier '${clientId}' was not found in the directory '${tenant}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.`,
    ),
  /** [D] AADSTS7000218; invalid_client [R] Azure-Samples/ms-identity-javascript-v2#18. */
  missingCredential: (): EntraError =>
    new EntraError(401, "invalid_client", 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'."),
  /** [R] AADSTS7000215 (microsoft-365-agents-toolkit#8621, Azure/sap-automation#418). */
  invalidSecret: (clientId: string): EntraError =>
    new EntraError(
      401,
      "invalid_client",
      7000215,
      `Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '${clientId}'.`,
    ),
  /** [R] AADSTS7000222 (liprec/vsts-release-aas#119, dotnet/sign#849). */
  secretExpired: (clientId: string): EntraError =>
    new EntraError(
      401,
      "invalid_client",
      7000222,
      `The provided client secret keys for app '${clientId}' are expired. Visit the Azure portal to create new keys for your app: https://aka.ms/NewClientSecret, or consider using certificate credentials for added security: https://aka.ms/certCreds.`,
    ),
  /** [R] AADSTS50027 "JWT token is invalid or malformed." (panva/openid-client#348); invalid_client [R] #300. */
  malformedAssertion: (): EntraError => new EntraError(401, "invalid_client", 50027, "JWT token is invalid or malformed."),
  /** [R] AADSTS70025 text (a GitHub Actions log quoted in public docs); status [I]. */
  noFederatedCredentials: (clientId: string, name: string): EntraError =>
    new EntraError(401, "invalid_client", 70025, `The client '${clientId}'(${name}) has no configured federated identity credentials.`),
  /** [R] AADSTS700211 (azure-workload-identity#1200, #1350: 401 invalid_client). */
  issuerMismatch: (issuer: string): EntraError =>
    new EntraError(
      401,
      "invalid_client",
      700211,
      `No matching federated identity record found for presented assertion issuer '${issuer}'. Please check your federated identity credential Subject, Audience and Issuer against the presented assertion. ${WIF_DOCS}`,
    ),
  /** [R] AADSTS700213 (dotnet/maui#31978, azure-workload-identity#1200); 401 invalid_client like 700211 [I]. */
  subjectMismatch: (subject: string): EntraError =>
    new EntraError(
      401,
      "invalid_client",
      700213,
      `No matching federated identity record found for presented assertion subject '${subject}'. Check your federated identity credential Subject, Audience and Issuer against the presented assertion. ${WIF_DOCS}`,
    ),
  /** [R] AADSTS700212 text (public client fixtures); 401 invalid_client like 700211 [I]. */
  audienceMismatch: (audience: string): EntraError =>
    new EntraError(
      401,
      "invalid_client",
      700212,
      `No matching federated identity record found for presented assertion audience '${audience}'. Please check your federated identity credential Subject, Audience and Issuer against the presented assertion. ${WIF_DOCS}`,
    ),
  /** [R] AADSTS90061 (azure-workload-identity#605: 400 invalid_request). */
  issuerUnreachable: (): EntraError => new EntraError(400, "invalid_request", 90061, "Request to External OIDC endpoint failed."),
  /** [R] AADSTS7000272 (azure-workload-identity#1232, #616: 401 invalid_client). */
  signingKeyNotFound: (kid: string, issuer: string): EntraError =>
    new EntraError(
      401,
      "invalid_client",
      7000272,
      `The certificate with identifier ${kid} used to sign the federated credential could not be found in the metadata of identity provider ${issuer}. Please validate that your Identity Provider's metadata exposes the key used to sign the incoming token.`,
    ),
  /** [D] AADSTS700027 "Client assertion failed signature validation."; status [I]. */
  badSignature: (): EntraError => new EntraError(401, "invalid_client", 700027, "Client assertion failed signature validation."),
  /** [R] AADSTS700024 (AzureAD/microsoft-authentication-library-for-java#984, obikuro/Sato#1: invalid_client). */
  assertionTimeRange: (nowMs: number, nbfSeconds: number | undefined, expSeconds: number | undefined): EntraError =>
    new EntraError(
      401,
      "invalid_client",
      700024,
      `Client assertion is not within its valid time range. Current time: ${dotnetTime(nowMs)}, assertion valid from ${dotnetTime((nbfSeconds ?? 0) * 1000)}, expiry time of assertion ${dotnetTime((expSeconds ?? 0) * 1000)}. Review the documentation at https://learn.microsoft.com/entra/identity-platform/certificate-credentials .`,
    ),
} as const;
