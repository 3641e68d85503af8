// The fake Microsoft Entra ID (entra.ts) and the fake Azure DevOps accepting its tokens: the client
// credentials flow with a secret and with a federated Kubernetes service-account token verified
// against a real (stand-in) issuer, every refusal with its AADSTS code, and TF401444 / expiry on
// the Azure DevOps side (README "Fake Entra ID").
import { generateKeyPairSync, randomUUID } from "node:crypto";
import { rmSync } from "node:fs";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { makeTestTls, type TestTls } from "../support/test-tls.ts";
import { startFakeAdo, type FakeAdo } from "./server.ts";
import { API, basic, bearer, call, exchangeToken, obj, openSession, registerAgent } from "./test-client.ts";
import { startTestIssuer, type TestIssuer } from "./test-oidc-issuer.ts";
import { testPools } from "./test-pools.ts";

const PAT = "entra-test-pat";
const TENANT = "11111111-2222-4333-8444-555555555555";
const OTHER_TENANT = "99999999-8888-4777-8666-555555555555";
const UNKNOWN_TENANT = "00000000-1111-4222-8333-444444444444";
const ADO_SCOPE = "499b84ac-1321-427f-aa17-267ca6975798/.default";
const K8S_ISSUER = "https://kubernetes.default.svc.cluster.local";
const SA_SUBJECT = "system:serviceaccount:azp:azp-agent";
const JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

const SECRET_APP = { clientId: "a0000000-0000-4000-8000-000000000001", objectId: "b0000000-0000-4000-8000-000000000001", secret: "s3cret-value" };
const WIF_APP = { clientId: "a0000000-0000-4000-8000-000000000002", objectId: "b0000000-0000-4000-8000-000000000002" };
const OUTSIDER_APP = { clientId: "a0000000-0000-4000-8000-000000000003", objectId: "b0000000-0000-4000-8000-000000000003", secret: "outsider-secret" };
const FOREIGN_APP = { clientId: "a0000000-0000-4000-8000-000000000004", objectId: "b0000000-0000-4000-8000-000000000004", secret: "foreign-secret" };

let issuerTls: TestTls;
let clientTls: TestTls;
let issuer: TestIssuer;
let fake: FakeAdo;

beforeAll(async () => {
  issuerTls = makeTestTls(["127.0.0.1"]);
  clientTls = makeTestTls(["fake-entra-client"]);
  issuer = await startTestIssuer({
    issuer: K8S_ISSUER,
    // The API server names its own external address; only the fake's mapping makes it reachable.
    advertisedJwksUri: "https://172.18.0.2:6443/openid/v1/jwks",
    tls: issuerTls,
    clientCa: clientTls.cert,
  });
  fake = await startFakeAdo({
    pats: [PAT],
    pools: [testPools.agents],
    messageHoldMs: 100,
    entra: {
      tenants: [TENANT, OTHER_TENANT],
      organizationTenantId: TENANT,
      applications: [
        { clientId: SECRET_APP.clientId, objectId: SECRET_APP.objectId, tenantId: TENANT, secrets: [SECRET_APP.secret, { value: "old-secret", expiresAt: "2020-01-01T00:00:00Z" }] },
        { clientId: WIF_APP.clientId, objectId: WIF_APP.objectId, tenantId: TENANT, displayName: "azp-wif", federatedCredentials: [{ issuer: K8S_ISSUER, subject: SA_SUBJECT }] },
        { clientId: OUTSIDER_APP.clientId, objectId: OUTSIDER_APP.objectId, tenantId: TENANT, secrets: [OUTSIDER_APP.secret] },
        { clientId: FOREIGN_APP.clientId, objectId: FOREIGN_APP.objectId, tenantId: OTHER_TENANT, secrets: [FOREIGN_APP.secret] },
      ],
      // CA as a file path, client certificate as PEM text: both forms are accepted.
      issuers: [{ issuer: K8S_ISSUER, baseUrl: issuer.baseUrl, ca: issuerTls.certFile, cert: clientTls.cert, key: clientTls.key }],
      organizationMembers: [SECRET_APP.objectId, WIF_APP.objectId, FOREIGN_APP.objectId],
    },
  });
});

afterAll(async () => {
  await fake.close();
  await issuer.close();
  for (const tls of [issuerTls, clientTls]) rmSync(tls.dir, { recursive: true, force: true });
});

beforeEach(() => {
  fake.reset();
  issuer.requests.length = 0;
});

interface TokenResult {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
}

async function requestToken(
  form: Record<string, string> | string,
  options: { tenant?: string; method?: string; contentType?: string; headers?: Record<string, string> } = {},
): Promise<TokenResult> {
  const method = options.method ?? "POST";
  const response = await fetch(`${fake.entraAuthorityHost}${options.tenant ?? TENANT}/oauth2/v2.0/token`, {
    method,
    headers: { "Content-Type": options.contentType ?? "application/x-www-form-urlencoded", ...(options.headers ?? {}) },
    ...(method === "GET" ? {} : { body: typeof form === "string" ? form : new URLSearchParams(form).toString() }),
  });
  return { status: response.status, headers: response.headers, body: obj(await response.json()) };
}

const secretForm = (clientId: string, secret: string, extra: Record<string, string> = {}): Record<string, string> => ({
  grant_type: "client_credentials",
  client_id: clientId,
  scope: ADO_SCOPE,
  client_secret: secret,
  ...extra,
});

const assertionForm = (assertion: string, extra: Record<string, string> = {}): Record<string, string> => ({
  grant_type: "client_credentials",
  client_id: WIF_APP.clientId,
  scope: ADO_SCOPE,
  client_assertion_type: JWT_BEARER,
  client_assertion: assertion,
  ...extra,
});

/** A projected service-account token as the kubelet writes it (audience api://AzureADTokenExchange). */
function serviceAccountToken(overrides: Record<string, unknown> = {}, signOptions?: Parameters<TestIssuer["sign"]>[1]): string {
  const now = Math.floor(Date.now() / 1000);
  const claims: Record<string, unknown> = {
    aud: ["api://AzureADTokenExchange"],
    exp: now + 3600,
    iat: now,
    iss: K8S_ISSUER,
    jti: randomUUID(),
    "kubernetes.io": { namespace: "azp", serviceaccount: { name: "azp-agent", uid: randomUUID() } },
    nbf: now,
    sub: SA_SUBJECT,
    ...overrides,
  };
  for (const [name, value] of Object.entries(claims)) if (value === undefined) delete claims[name];
  return issuer.sign(claims, signOptions);
}

function decode(token: string): { header: Record<string, unknown>; payload: Record<string, unknown> } {
  const [header = "", payload = ""] = token.split(".");
  return { header: obj(JSON.parse(Buffer.from(header, "base64url").toString("utf8"))), payload: obj(JSON.parse(Buffer.from(payload, "base64url").toString("utf8"))) };
}

async function accessToken(clientId: string, secret: string): Promise<string> {
  const result = await requestToken(secretForm(clientId, secret));
  if (result.status !== 200) throw new Error(`token request failed: ${JSON.stringify(result.body)}`);
  return String(result.body["access_token"]);
}

function expectEntraError(result: TokenResult, status: number, error: string, code: number, firstLine: string): void {
  expect({ status: result.status, error: result.body["error"], codes: result.body["error_codes"] }).toEqual({ status, error, codes: [code] });
  expect(String(result.body["error_description"]).split("\r\n")[0]).toBe(firstLine);
}

describe("GIVEN the fake Entra ID token endpoint with a client secret", () => {
  it("should issue a v1 Azure DevOps access token shaped like Entra's", async () => {
    // WHEN
    const result = await requestToken(secretForm(SECRET_APP.clientId, SECRET_APP.secret));
    // THEN
    expect(result.status).toBe(200);
    expect(result.headers.get("content-type")).toBe("application/json; charset=utf-8");
    expect(result.headers.get("cache-control")).toBe("no-store, no-cache");
    expect(Object.keys(result.body).sort()).toEqual(["access_token", "expires_in", "ext_expires_in", "token_type"]);
    expect(result.body).toMatchObject({ token_type: "Bearer", expires_in: 3599, ext_expires_in: 3599 });
    const { header, payload } = decode(String(result.body["access_token"]));
    expect(header["alg"]).toBe("RS256");
    expect(payload).toMatchObject({
      aud: "499b84ac-1321-427f-aa17-267ca6975798",
      iss: "https://sts.windows.net/11111111-2222-4333-8444-555555555555/",
      idp: "https://sts.windows.net/11111111-2222-4333-8444-555555555555/",
      tid: "11111111-2222-4333-8444-555555555555",
      appid: "a0000000-0000-4000-8000-000000000001",
      appidacr: "1",
      oid: "b0000000-0000-4000-8000-000000000001",
      sub: "b0000000-0000-4000-8000-000000000001",
      ver: "1.0",
    });
    expect(Number(payload["exp"]) - Number(payload["iat"])).toBe(3599);
    expect(fake.entra().stats.issued).toEqual({ "a0000000-0000-4000-8000-000000000001": { secret: 1, assertion: 0 } });
  });

  it("should answer a failure with Entra's error body", async () => {
    // WHEN
    const result = await requestToken(secretForm(SECRET_APP.clientId, "wrong"), { headers: { "client-request-id": "4c0d8d3e-7d5f-4b0e-9a55-3f9f2b1f6a01" } });
    // THEN
    expect(Object.keys(result.body).sort()).toEqual(["correlation_id", "error", "error_codes", "error_description", "error_uri", "timestamp", "trace_id"]);
    expect(result.body["correlation_id"]).toBe("4c0d8d3e-7d5f-4b0e-9a55-3f9f2b1f6a01");
    expect(result.body["error_uri"]).toBe("https://login.microsoftonline.com/error?code=7000215");
    expect(String(result.body["timestamp"])).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$/);
    expect(String(result.body["trace_id"])).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    const [, traceLine, correlationLine, timestampLine] = String(result.body["error_description"]).split("\r\n");
    expect(traceLine).toBe(`Trace ID: ${String(result.body["trace_id"])}`);
    expect(correlationLine).toBe("Correlation ID: 4c0d8d3e-7d5f-4b0e-9a55-3f9f2b1f6a01");
    expect(timestampLine).toBe(`Timestamp: ${String(result.body["timestamp"])}`);
  });

  it.each([
    ["a GET", {}, { method: "GET" }, 400, "invalid_request", 900561, "AADSTS900561: The endpoint only accepts POST requests. Received a GET request."],
    ["a tenant it does not know", {}, { tenant: UNKNOWN_TENANT }, 400, "invalid_tenant", 90002, `AADSTS90002: Tenant '${UNKNOWN_TENANT}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant.`],
    ["the common endpoint", {}, { tenant: "common" }, 400, "invalid_tenant", 90002, "AADSTS90002: Tenant 'common' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant."],
    ["a JSON body", {}, { contentType: "application/json" }, 400, "invalid_request", 900144, "AADSTS900144: The request body must contain the following parameter: 'grant_type'."],
    ["no grant_type", { grant_type: "" }, {}, 400, "invalid_request", 900144, "AADSTS900144: The request body must contain the following parameter: 'grant_type'."],
    ["grant_type password", { grant_type: "password" }, {}, 400, "unsupported_grant_type", 70003, "AADSTS70003: The app requested an unsupported grant type 'password'."],
    ["no client_id", { client_id: "" }, {}, 400, "invalid_request", 900144, "AADSTS900144: The request body must contain the following parameter: 'client_id'."],
    ["no scope", { scope: "" }, {}, 400, "invalid_request", 900144, "AADSTS900144: The request body must contain the following parameter: 'scope'."],
    ["a delegated scope", { scope: "499b84ac-1321-427f-aa17-267ca6975798/user_impersonation" }, {}, 400, "invalid_scope", 1002012, "AADSTS1002012: The provided value for scope 499b84ac-1321-427f-aa17-267ca6975798/user_impersonation is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."],
    ["the resource URI scope", { scope: "https://app.vssps.visualstudio.com/.default" }, {}, 400, "invalid_scope", 70011, "AADSTS70011: The provided value for the input parameter 'scope' isn't valid. The scope https://app.vssps.visualstudio.com/.default isn't valid."],
    ["two scopes", { scope: `${ADO_SCOPE} offline_access` }, {}, 400, "invalid_scope", 70011, "AADSTS70011: The provided value for the input parameter 'scope' isn't valid. The scope 499b84ac-1321-427f-aa17-267ca6975798/.default offline_access isn't valid."],
    ["another resource", { scope: "https://graph.microsoft.com/.default" }, {}, 400, "invalid_resource", 500011, `AADSTS500011: The resource principal named https://graph.microsoft.com was not found in the tenant named ${TENANT}. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant.`],
    ["an unknown client", { client_id: "c0000000-0000-4000-8000-000000000009" }, {}, 400, "unauthorized_client", 700016, `AADSTS700016: Application with identifier 'c0000000-0000-4000-8000-000000000009' was not found in the directory '${TENANT}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.`],
    ["a client of another tenant", { client_id: FOREIGN_APP.clientId, client_secret: FOREIGN_APP.secret }, {}, 400, "unauthorized_client", 700016, `AADSTS700016: Application with identifier '${FOREIGN_APP.clientId}' was not found in the directory '${TENANT}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.`],
    ["no credential", { client_secret: "" }, {}, 401, "invalid_client", 7000218, "AADSTS7000218: The request body must contain the following parameter: 'client_assertion' or 'client_secret'."],
    ["a wrong secret", { client_secret: "wrong" }, {}, 401, "invalid_client", 7000215, `AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '${SECRET_APP.clientId}'.`],
    ["an expired secret", { client_secret: "old-secret" }, {}, 401, "invalid_client", 7000222, `AADSTS7000222: The provided client secret keys for app '${SECRET_APP.clientId}' are expired. Visit the Azure portal to create new keys for your app: https://aka.ms/NewClientSecret, or consider using certificate credentials for added security: https://aka.ms/certCreds.`],
    ["a secret and an assertion", { client_assertion_type: JWT_BEARER, client_assertion: "x.y.z" }, {}, 400, "invalid_request", 9002313, "AADSTS9002313: Invalid request. Request is malformed or invalid. Exactly one of 'client_secret' and 'client_assertion' may be given."],
  ])("should refuse %s", async (_name, override, options, status, error, code, firstLine) => {
    // WHEN
    const result = await requestToken({ ...secretForm(SECRET_APP.clientId, SECRET_APP.secret), ...override }, options);
    // THEN
    expectEntraError(result, status, error, code, firstLine);
    expect(fake.entra().stats.issued).toEqual({});
  });

  it("should refuse a parameter given twice", async () => {
    // WHEN
    const result = await requestToken(`${new URLSearchParams(secretForm(SECRET_APP.clientId, SECRET_APP.secret)).toString()}&scope=${encodeURIComponent(ADO_SCOPE)}`);
    // THEN
    expectEntraError(result, 400, "invalid_request", 9002313, "AADSTS9002313: Invalid request. Request is malformed or invalid. The parameter 'scope' is given more than once.");
  });

  it("should count failures and keep the last one's code", async () => {
    // GIVEN
    await requestToken(secretForm(SECRET_APP.clientId, "wrong"));
    // WHEN
    await requestToken(secretForm(SECRET_APP.clientId, "old-secret"));
    // THEN
    const stats = fake.entra().stats;
    expect(stats.failures).toBe(2);
    expect(stats.lastFailure).toMatchObject({ status: 401, error: "invalid_client", code: 7000222, clientId: SECRET_APP.clientId });
  });

  it("should accept the double slash clients produce from an authority host ending in /", async () => {
    // WHEN
    const response = await fetch(`${fake.entraAuthorityHost}/${TENANT}//oauth2/v2.0/token`, {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded; charset=utf-8" },
      body: new URLSearchParams(secretForm(SECRET_APP.clientId, SECRET_APP.secret)).toString(),
    });
    // THEN
    expect(response.status).toBe(200);
  });
});

describe("GIVEN the fake Entra ID token endpoint with a federated service-account token", () => {
  it("should verify it against the issuer's JWKS, fetched from the mapped address with the client certificate", async () => {
    // WHEN
    const result = await requestToken(assertionForm(serviceAccountToken()));
    // THEN
    expect(result.status).toBe(200);
    expect(decode(String(result.body["access_token"])).payload).toMatchObject({ appid: WIF_APP.clientId, oid: WIF_APP.objectId, appidacr: "2" });
    const host = new URL(issuer.baseUrl).host;
    expect(issuer.requests).toEqual([
      { method: "GET", path: "/.well-known/openid-configuration", host, clientCertificate: true },
      // jwks_uri named https://172.18.0.2:6443/openid/v1/jwks: its origin was rewritten to the mapped one.
      { method: "GET", path: "/openid/v1/jwks", host, clientCertificate: true },
    ]);
    const stats = fake.entra().stats;
    expect(stats.issued).toEqual({ [WIF_APP.clientId]: { secret: 0, assertion: 1 } });
    expect(stats.issuerFetches[K8S_ISSUER]).toEqual({
      discoveryFetches: 1,
      jwksFetches: 1,
      lastDiscoveryUrl: `${issuer.baseUrl}/.well-known/openid-configuration`,
      lastJwksUrl: `${issuer.baseUrl}/openid/v1/jwks`,
      lastError: null,
    });
  });

  it("should use the cached keys for the next assertion", async () => {
    // GIVEN
    await requestToken(assertionForm(serviceAccountToken()));
    // WHEN
    const second = await requestToken(assertionForm(serviceAccountToken()));
    // THEN
    expect(second.status).toBe(200);
    expect(issuer.requests.map((request) => request.path)).toEqual(["/.well-known/openid-configuration", "/openid/v1/jwks"]);
  });

  it("should refetch the JWKS at once when the kid is unknown (key rotation)", async () => {
    // GIVEN
    await requestToken(assertionForm(serviceAccountToken()));
    issuer.rotate();
    // WHEN
    const result = await requestToken(assertionForm(serviceAccountToken()));
    // THEN
    expect(result.status).toBe(200);
    expect(issuer.requests.map((request) => request.path)).toEqual([
      "/.well-known/openid-configuration",
      "/openid/v1/jwks",
      "/.well-known/openid-configuration",
      "/openid/v1/jwks",
    ]);
  });

  it("should refuse a key the issuer does not publish, even after refetching", async () => {
    // WHEN
    const result = await requestToken(assertionForm(serviceAccountToken({}, { kid: "no-such-kid" })));
    // THEN
    expectEntraError(
      result,
      401,
      "invalid_client",
      7000272,
      "AADSTS7000272: The certificate with identifier no-such-kid used to sign the federated credential could not be found in the metadata of identity provider https://kubernetes.default.svc.cluster.local. Please validate that your Identity Provider's metadata exposes the key used to sign the incoming token.",
    );
  });

  it("should refuse a token signed with another key under a published kid", async () => {
    // GIVEN
    const forger = generateKeyPairSync("rsa", { modulusLength: 2048 });
    // WHEN
    const result = await requestToken(assertionForm(serviceAccountToken({}, { privateKey: forger.privateKey })));
    // THEN
    expectEntraError(result, 401, "invalid_client", 700027, "AADSTS700027: Client assertion failed signature validation.");
  });

  const now = (): number => Math.floor(Date.now() / 1000);
  it.each([
    ["no JWT at all", () => "not-a-jwt", 401, "invalid_client", 50027, "AADSTS50027: JWT token is invalid or malformed."],
    ["an HS256 token", () => serviceAccountToken({}, { header: { alg: "HS256" } }), 401, "invalid_client", 50027, "AADSTS50027: JWT token is invalid or malformed."],
    [
      "another issuer",
      () => serviceAccountToken({ iss: "https://token.actions.githubusercontent.com" }),
      401,
      "invalid_client",
      700211,
      "AADSTS700211: No matching federated identity record found for presented assertion issuer 'https://token.actions.githubusercontent.com'. Please check your federated identity credential Subject, Audience and Issuer against the presented assertion. https://learn.microsoft.com/entra/workload-id/workload-identity-federation",
    ],
    [
      "the issuer with a trailing slash",
      () => serviceAccountToken({ iss: `${K8S_ISSUER}/` }),
      401,
      "invalid_client",
      700211,
      "AADSTS700211: No matching federated identity record found for presented assertion issuer 'https://kubernetes.default.svc.cluster.local/'. Please check your federated identity credential Subject, Audience and Issuer against the presented assertion. https://learn.microsoft.com/entra/workload-id/workload-identity-federation",
    ],
    [
      "another service account",
      () => serviceAccountToken({ sub: "system:serviceaccount:azp:default" }),
      401,
      "invalid_client",
      700213,
      "AADSTS700213: No matching federated identity record found for presented assertion subject 'system:serviceaccount:azp:default'. Check your federated identity credential Subject, Audience and Issuer against the presented assertion. https://learn.microsoft.com/entra/workload-id/workload-identity-federation",
    ],
    [
      "the subject in another case",
      () => serviceAccountToken({ sub: "system:serviceaccount:azp:AZP-agent" }),
      401,
      "invalid_client",
      700213,
      "AADSTS700213: No matching federated identity record found for presented assertion subject 'system:serviceaccount:azp:AZP-agent'. Check your federated identity credential Subject, Audience and Issuer against the presented assertion. https://learn.microsoft.com/entra/workload-id/workload-identity-federation",
    ],
    [
      "the default service-account token audience",
      () => serviceAccountToken({ aud: [K8S_ISSUER] }),
      401,
      "invalid_client",
      700212,
      "AADSTS700212: No matching federated identity record found for presented assertion audience 'https://kubernetes.default.svc.cluster.local'. Please check your federated identity credential Subject, Audience and Issuer against the presented assertion. https://learn.microsoft.com/entra/workload-id/workload-identity-federation",
    ],
    ["an expired token", () => serviceAccountToken({ exp: now() - 5 }), 401, "invalid_client", 700024, /^AADSTS700024: Client assertion is not within its valid time range\. Current time: /],
    ["a token without exp", () => serviceAccountToken({ exp: undefined }), 401, "invalid_client", 700024, /^AADSTS700024: Client assertion is not within its valid time range\. Current time: /],
    ["a token not valid yet", () => serviceAccountToken({ nbf: now() + 600 }), 401, "invalid_client", 700024, /^AADSTS700024: Client assertion is not within its valid time range\. Current time: /],
    ["a token issued in the future", () => serviceAccountToken({ iat: now() + 600 }), 401, "invalid_client", 700024, /^AADSTS700024: Client assertion is not within its valid time range\. Current time: /],
  ])("should refuse %s", async (_name, assertion, status, error, code, firstLine) => {
    // WHEN
    const result = await requestToken(assertionForm(assertion()));
    // THEN
    expect({ status: result.status, error: result.body["error"], codes: result.body["error_codes"] }).toEqual({ status, error, codes: [code] });
    const first = String(result.body["error_description"]).split("\r\n")[0];
    if (typeof firstLine === "string") expect(first).toBe(firstLine);
    else expect(first).toMatch(firstLine);
    expect(fake.entra().stats.issued).toEqual({});
  });

  it("should name the times in AADSTS700024 as Entra does", async () => {
    // WHEN
    const result = await requestToken(assertionForm(serviceAccountToken({ nbf: 1_700_000_000, iat: 1_700_000_000, exp: 1_700_000_600 })));
    // THEN
    expect(String(result.body["error_description"])).toMatch(
      /^AADSTS700024: Client assertion is not within its valid time range\. Current time: \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z, assertion valid from 2023-11-14T22:13:20\.0000000Z, expiry time of assertion 2023-11-14T22:23:20\.0000000Z\. Review the documentation at https:\/\/learn\.microsoft\.com\/entra\/identity-platform\/certificate-credentials \.\r\n/,
    );
  });

  it.each([
    ["no client_assertion_type", { client_assertion_type: "" }, 400, "invalid_request", 900144, "AADSTS900144: The request body must contain the following parameter: 'client_assertion_type'."],
    ["another client_assertion_type", { client_assertion_type: "urn:ietf:params:oauth:client-assertion-type:saml2-bearer" }, 400, "invalid_request", 9002313, "AADSTS9002313: Invalid request. Request is malformed or invalid. client_assertion_type must be 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'."],
    ["an application without federated credentials", { client_id: SECRET_APP.clientId }, 401, "invalid_client", 70025, `AADSTS70025: The client '${SECRET_APP.clientId}'(app-a0000000) has no configured federated identity credentials.`],
  ])("should refuse %s", async (_name, override, status, error, code, firstLine) => {
    // WHEN
    const result = await requestToken(assertionForm(serviceAccountToken(), override));
    // THEN
    expectEntraError(result, status, error, code, firstLine);
  });

  it.each([
    ["without the client certificate the API server wants", { ca: "ca", cert: undefined, key: undefined }],
    ["without the CA of its TLS certificate", { ca: undefined, cert: "cert", key: "key" }],
    ["at an address nothing listens on", { baseUrl: "https://127.0.0.1:1", ca: "ca", cert: "cert", key: "key" }],
  ])("should answer AADSTS90061 when the issuer cannot be fetched %s", async (_name, trust) => {
    // GIVEN
    const pick = (value: string | undefined, pem: { ca: string; cert: string; key: string }): string | undefined => (value === undefined ? undefined : pem[value as keyof typeof pem]);
    const pem = { ca: issuerTls.cert, cert: clientTls.cert, key: clientTls.key };
    fake.entra({
      issuers: [{ issuer: K8S_ISSUER, baseUrl: "baseUrl" in trust ? trust.baseUrl : issuer.baseUrl, ca: pick(trust.ca, pem), cert: pick(trust.cert, pem), key: pick(trust.key, pem) }],
    });
    // WHEN
    const result = await requestToken(assertionForm(serviceAccountToken()));
    // THEN
    expectEntraError(result, 400, "invalid_request", 90061, "AADSTS90061: Request to External OIDC endpoint failed.");
    expect(fake.entra().stats.issuerFetches[K8S_ISSUER]?.lastError).toEqual(expect.any(String));
  });

  it("should answer AADSTS90061 when the discovery document names another issuer", async () => {
    // GIVEN a federated credential for an issuer mapped to a server that says it is someone else
    const impostor = "https://oidc.example.test";
    fake.entra({
      applications: [{ clientId: WIF_APP.clientId, objectId: WIF_APP.objectId, tenantId: TENANT, federatedCredentials: [{ issuer: impostor, subject: SA_SUBJECT }] }],
      issuers: [{ issuer: impostor, baseUrl: issuer.baseUrl, ca: issuerTls.cert, cert: clientTls.cert, key: clientTls.key }],
    });
    // WHEN
    const result = await requestToken(assertionForm(serviceAccountToken({ iss: impostor })));
    // THEN
    expectEntraError(result, 400, "invalid_request", 90061, "AADSTS90061: Request to External OIDC endpoint failed.");
    expect(fake.entra().stats.issuerFetches[impostor]?.lastError).toBe(
      "discovery document names issuer 'https://kubernetes.default.svc.cluster.local', not 'https://oidc.example.test'",
    );
    expect(issuer.requests.map((request) => request.path)).toEqual(["/.well-known/openid-configuration"]);
  });
});

describe("GIVEN the fake Azure DevOps and an Entra access token", () => {
  it.each([
    ["Bearer", (token: string) => bearer(token)],
    ["Basic with an empty username (a PAT's place)", (token: string) => basic("", token)],
    ["Basic with the agent's username", (token: string) => basic("VstsAgent", token)],
  ])("should accept it as %s", async (_name, auth) => {
    // GIVEN
    const token = await accessToken(SECRET_APP.clientId, SECRET_APP.secret);
    // WHEN
    const result = await call(fake, `/_apis/distributedtask/pools?poolName=${testPools.agents}`, { auth: auth(token) });
    // THEN
    expect(result.status).toBe(200);
    expect(obj(result.body)["count"]).toBe(1);
    expect(fake.requests().at(-1)?.principal).toBe("sp:b0000000-0000-4000-8000-000000000001");
  });

  it("should accept a token obtained with a federated service-account token", async () => {
    // GIVEN
    const result = await requestToken(assertionForm(serviceAccountToken()));
    // WHEN
    const pools = await call(fake, "/_apis/distributedtask/pools", { auth: bearer(String(result.body["access_token"])) });
    // THEN
    expect(pools.status).toBe(200);
    expect(fake.requests().at(-1)?.principal).toBe("sp:b0000000-0000-4000-8000-000000000002");
  });

  it("should let a service principal register an agent whose own OAuth flow works unchanged", async () => {
    // GIVEN
    const token = await accessToken(SECRET_APP.clientId, SECRET_APP.secret);
    // WHEN
    const { agent, key } = await registerAgent(fake, 1, "sp-agent", basic("VstsAgent", token));
    const exchanged = await exchangeToken(fake, agent, key);
    const session = await openSession(fake, 1, Number(agent["id"]), bearer(String(obj(exchanged.body)["access_token"])));
    const removed = await call(fake, `/_apis/distributedtask/pools/1/agents/${String(agent["id"])}`, { method: "DELETE", auth: bearer(token), apiVersion: API.agents });
    // THEN
    expect(exchanged.status).toBe(200);
    expect(session.status).toBe(200);
    expect(removed.status).toBe(204);
  });

  it("should answer a service principal the organization does not know with 401 TF401444", async () => {
    // GIVEN
    const token = await accessToken(OUTSIDER_APP.clientId, OUTSIDER_APP.secret);
    // WHEN
    const result = await call(fake, "/_apis/distributedtask/pools", { auth: bearer(token) });
    // THEN
    expect(result.status).toBe(401);
    expect(result.headers.get("www-authenticate")).toBe(`Basic realm="${fake.baseUrl}/"`);
    expect(result.body).toEqual({
      $id: "1",
      innerException: null,
      message:
        "TF401444: Please sign-in at least once as 11111111-2222-4333-8444-555555555555\\11111111-2222-4333-8444-555555555555\\b0000000-0000-4000-8000-000000000003 in a web browser to enable access to the service.",
      typeName: "Microsoft.TeamFoundation.Framework.Server.UnauthorizedRequestException, Microsoft.TeamFoundation.Framework.Server",
      typeKey: "UnauthorizedRequestException",
      errorCode: 0,
      eventId: 3000,
    });
    expect(fake.requests().at(-1)?.principal).toBe("rejected");
  });

  it("should check membership on every request (an identity removed from the organization)", async () => {
    // GIVEN
    const token = await accessToken(SECRET_APP.clientId, SECRET_APP.secret);
    expect((await call(fake, "/_apis/distributedtask/pools", { auth: bearer(token) })).status).toBe(200);
    fake.entra({ organizationMembers: [WIF_APP.objectId] });
    // WHEN
    const result = await call(fake, "/_apis/distributedtask/pools", { auth: bearer(token) });
    // THEN
    expect(result.status).toBe(401);
    expect(String(obj(result.body)["message"])).toMatch(/^TF401444: /);
  });

  it("should answer an expired token with 401 TF400813, as for an unknown credential", async () => {
    // GIVEN
    fake.entra({ accessTokenTtlSeconds: 1 });
    const issued = await requestToken(secretForm(SECRET_APP.clientId, SECRET_APP.secret));
    expect(issued.body["expires_in"]).toBe(1);
    const token = String(issued.body["access_token"]);
    const expiresAtMs = Number(decode(token).payload["exp"]) * 1000;
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, expiresAtMs - Date.now()) + 100));
    // WHEN
    const result = await call(fake, "/_apis/distributedtask/pools", { auth: bearer(token) });
    // THEN
    expect(result.status).toBe(401);
    expect(result.headers.get("x-tfs-serviceerror")).toBeNull();
    expect(obj(result.body)["message"]).toBe("TF400813: The user '' is not authorized to access this resource.");
  });

  it("should answer an expired token in html203 mode like any bad credential", async () => {
    // GIVEN
    fake.entra({ accessTokenTtlSeconds: 1 });
    fake.auth({ mode: "html203" });
    const token = await accessToken(SECRET_APP.clientId, SECRET_APP.secret);
    const expiresAtMs = Number(decode(token).payload["exp"]) * 1000;
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, expiresAtMs - Date.now()) + 100));
    // WHEN
    const get = await call(fake, "/_apis/distributedtask/pools", { auth: bearer(token) });
    const patch = await call(fake, "/_apis/distributedtask/pools/1/agents/1", { method: "PATCH", auth: bearer(token), json: {}, apiVersion: API.agents });
    // THEN
    expect([get.status, patch.status]).toEqual([203, 401]);
  });

  it("should refuse a token of a tenant the organization is not connected to", async () => {
    // GIVEN
    const issued = await requestToken(secretForm(FOREIGN_APP.clientId, FOREIGN_APP.secret), { tenant: OTHER_TENANT });
    expect(issued.status).toBe(200);
    // WHEN
    const result = await call(fake, "/_apis/distributedtask/pools", { auth: bearer(String(issued.body["access_token"])) });
    // THEN
    expect(result.status).toBe(401);
    expect(obj(result.body)["message"]).toBe("TF400813: The user '' is not authorized to access this resource.");
  });

  it("should refuse a token with the fake's claims and kid signed by another key", async () => {
    // GIVEN
    const genuine = await accessToken(SECRET_APP.clientId, SECRET_APP.secret);
    const { header, payload } = decode(genuine);
    const forger = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const forged = issuer.sign(payload, { kid: String(header["kid"]), privateKey: forger.privateKey });
    // WHEN
    const result = await call(fake, "/_apis/distributedtask/pools", { auth: bearer(forged) });
    // THEN
    expect(result.status).toBe(401);
    expect(obj(result.body)["typeKey"]).toBe("UnauthorizedRequestException");
  });
});

describe("GIVEN the fake Entra ID's control plane (/_fake/entra)", () => {
  it("should show its tables and counters without the secrets", async () => {
    // GIVEN
    await requestToken(secretForm(SECRET_APP.clientId, SECRET_APP.secret));
    // WHEN
    const response = await fetch(`${fake.baseUrl}/_fake/entra`);
    const text = await response.text();
    // THEN
    expect(response.status).toBe(200);
    expect(text).not.toContain(SECRET_APP.secret);
    const view = obj(JSON.parse(text));
    expect(view["authorityHost"]).toBe(`${fake.baseUrl}/_entra/`);
    expect(view["organizationTenantId"]).toBe(TENANT);
    expect(view["organizationMembers"]).toEqual([SECRET_APP.objectId, WIF_APP.objectId, FOREIGN_APP.objectId]);
    expect((view["applications"] as Record<string, unknown>[])[0]).toEqual({
      clientId: SECRET_APP.clientId,
      objectId: SECRET_APP.objectId,
      tenantId: TENANT,
      displayName: "app-a0000000",
      secrets: [{ expiresAt: null }, { expiresAt: "2020-01-01T00:00:00.000Z" }],
      federatedCredentials: [],
    });
    expect(view["issuers"]).toEqual([{ issuer: K8S_ISSUER, baseUrl: issuer.baseUrl, ca: true, clientCertificate: true, serverName: null }]);
    expect(obj(view["stats"])["issued"]).toEqual({ [SECRET_APP.clientId]: { secret: 1, assertion: 0 } });
  });

  it("should replace the applications table at run time", async () => {
    // GIVEN
    const response = await fetch(`${fake.baseUrl}/_fake/entra`, {
      method: "POST",
      body: JSON.stringify({ applications: [{ clientId: "a0000000-0000-4000-8000-00000000000a", objectId: "b0000000-0000-4000-8000-00000000000a", tenantId: TENANT, secrets: ["new-secret"] }] }),
    });
    expect(response.status).toBe(200);
    // WHEN
    const fresh = await requestToken(secretForm("a0000000-0000-4000-8000-00000000000a", "new-secret"));
    const old = await requestToken(secretForm(SECRET_APP.clientId, SECRET_APP.secret));
    // THEN
    expect(fresh.status).toBe(200);
    expect(old.body["error_codes"]).toEqual([700016]);
    // The members table was not replaced: the new service principal is not in the organization.
    const pools = await call(fake, "/_apis/distributedtask/pools", { auth: bearer(String(fresh.body["access_token"])) });
    expect(pools.status).toBe(401);
    expect(String(obj(pools.body)["message"])).toMatch(/^TF401444: .*\\b0000000-0000-4000-8000-00000000000a in a web browser/);
  });

  it.each([
    ["an unknown field", { application: [] }, "Unknown field(s) application; allowed: tenants, organizationTenantId, applications, issuers, organizationMembers, accessTokenTtlSeconds, jwksCacheTtlSeconds, resetStats."],
    ["a client id that is no GUID", { applications: [{ clientId: "my-app", objectId: SECRET_APP.objectId, tenantId: TENANT }] }, "Invalid entra configuration: applications[0].clientId must be a GUID, got 'my-app'"],
    ["two audiences", { applications: [{ clientId: WIF_APP.clientId, objectId: WIF_APP.objectId, tenantId: TENANT, federatedCredentials: [{ issuer: K8S_ISSUER, subject: SA_SUBJECT, audiences: ["a", "b"] }] }] }, "Invalid entra configuration: applications[0].federatedCredentials[0].audiences must hold exactly one value, as Entra requires"],
    ["an http issuer", { issuers: [{ issuer: "http://issuer.test" }] }, "Invalid entra configuration: issuer 'http://issuer.test' must be https"],
  ])("should refuse %s and keep the tables", async (_name, body, message) => {
    // WHEN
    const response = await fetch(`${fake.baseUrl}/_fake/entra`, { method: "POST", body: JSON.stringify(body) });
    // THEN
    expect(response.status).toBe(400);
    expect(obj(await response.json())["message"]).toBe(message);
    expect((await requestToken(secretForm(SECRET_APP.clientId, SECRET_APP.secret))).status).toBe(200);
  });

  it("should serve its own signing key and discovery document", async () => {
    // GIVEN
    const token = await accessToken(SECRET_APP.clientId, SECRET_APP.secret);
    // WHEN
    const discovery = obj(await (await fetch(`${fake.entraAuthorityHost}${TENANT}/v2.0/.well-known/openid-configuration`)).json());
    const jwks = obj(await (await fetch(String(discovery["jwks_uri"]))).json());
    // THEN
    expect(discovery["token_endpoint"]).toBe(`${fake.baseUrl}/_entra/${TENANT}/oauth2/v2.0/token`);
    expect((jwks["keys"] as Record<string, unknown>[]).map((key) => key["kid"])).toEqual([decode(token).header["kid"]]);
  });
});
