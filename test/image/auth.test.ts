import { randomBytes, randomUUID } from "node:crypto";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { caBundleEnvName, imageContract } from "../../generator/contract/image.ts";
import { startTestIssuer, type TestIssuer } from "../fake-ado/test-oidc-issuer.ts";
import type { FakeAdo } from "../fake-ado/server.ts";
import { LISTENING, POOL, testTls, type ImageTestEnv } from "./support/environment.ts";
import { useImageEnv } from "./support/hooks.ts";
import { agentDeletes, agentsInPool, imageRequests, newPod } from "./support/fixtures.ts";
import { runOneShot, type FakePod } from "./support/pod.ts";

/** The image's exit codes, as the contract defines them. */
const EXIT = imageContract.exitCodes;

/**
 * `azp.auth` (issue #10) with real containers against the fake Azure DevOps and its fake
 * Microsoft Entra ID (test/fake-ado/README.md "Fake Entra ID"): a service principal with its
 * client secret, and a workload identity whose pod token (RS256, signed by a stand-in for the
 * cluster's service-account issuer) Entra verifies against the issuer's JWKS. The agent
 * registers with the Entra token in place of a PAT; the sidecar removes it with a fresh one.
 */

const { env: names } = imageContract;
/** Where the chart mounts the extra CA bundle (`caBundle`). */
const caFile = `${imageContract.paths.caBundle}/${imageContract.caBundleFileName}`;
const TENANT = randomUUID();
const SP_CLIENT = randomUUID();
const SP_OBJECT = randomUUID();
const WI_CLIENT = randomUUID();
const WI_OBJECT = randomUUID();
const STRANGER_CLIENT = randomUUID();
const SECRET = `azpsp~${randomBytes(16).toString("hex")}`;
const ISSUER = "https://kubernetes.default.svc.cluster.local";
const SUBJECT = "system:serviceaccount:azp-test:azp-agent";

let env: ImageTestEnv;
let issuer: TestIssuer;
useImageEnv((e) => (env = e));

beforeAll(async () => {
  issuer = await startTestIssuer({ issuer: ISSUER, advertisedJwksUri: `${ISSUER}/openid/v1/jwks`, tls: testTls() });
});
afterAll(async () => {
  await issuer?.close();
});

/** The identities of this file, after the fake's reset (runs after useImageEnv's). */
function entra(fake: FakeAdo, options: { ttl?: number; members?: string[] } = {}): void {
  fake.entra({
    tenants: [TENANT],
    applications: [
      { clientId: SP_CLIENT, objectId: SP_OBJECT, tenantId: TENANT, secrets: [SECRET] },
      { clientId: WI_CLIENT, objectId: WI_OBJECT, tenantId: TENANT, federatedCredentials: [{ issuer: ISSUER, subject: SUBJECT }] },
      { clientId: STRANGER_CLIENT, objectId: randomUUID(), tenantId: TENANT, secrets: [SECRET] },
    ],
    issuers: [{ issuer: ISSUER, baseUrl: issuer.baseUrl, ca: testTls().cert }],
    organizationMembers: options.members ?? [SP_OBJECT, WI_OBJECT],
    ...(options.ttl === undefined ? {} : { accessTokenTtlSeconds: options.ttl }),
    resetStats: true,
  });
}
beforeEach(() => entra(env.fake));

const authority = (): string => `https://127.0.0.1:${env.fake.httpsPort}/_entra/`;
const servicePrincipal = (clientId = SP_CLIENT): { mode: "servicePrincipal"; tenantId: string; clientId: string; authorityHost: string } => ({
  mode: "servicePrincipal",
  tenantId: TENANT,
  clientId,
  authorityHost: authority(),
});
const workloadIdentity = (): { mode: "workloadIdentity"; tenantId: string; clientId: string; authorityHost: string } => ({
  mode: "workloadIdentity",
  tenantId: TENANT,
  clientId: WI_CLIENT,
  authorityHost: authority(),
});

/** A projected service-account token as the kubelet writes it. */
function podToken(claims: Record<string, unknown> = {}): string {
  const now = Math.floor(Date.now() / 1000);
  return issuer.sign({ iss: ISSUER, sub: SUBJECT, aud: [imageContract.entra.federatedTokenAudience], iat: now, nbf: now, exp: now + 3600, ...claims });
}

/** The image's requests to Azure DevOps (not to the fake's Entra endpoint, which is anonymous). */
const adoRequests = (fake: FakeAdo): ReturnType<typeof imageRequests> => imageRequests(fake).filter((r) => !/(^|\/)_entra\//.test(r.path));

const issued = (clientId: string): { secret: number; assertion: number } => env.fake.entra().stats.issued[clientId] ?? { secret: 0, assertion: 0 };

async function runOneJob(pod: FakePod, script: string): Promise<void> {
  await pod.start();
  await pod.waitForLog("agent", LISTENING);
  const [id] = env.fake.enqueueJobs(env.poolId, { script });
  expect(await env.fake.waitFor(() => env.fake.job(id!).result, { timeoutMs: 120_000 })).toBe("succeeded");
  await env.fake.waitFor(() => (agentsInPool(env.fake, env.poolId).length === 0 ? true : undefined), { timeoutMs: 60_000 });
}

/** No credential anywhere in what the pod printed: the secret, nor any JWT (pod token, Entra token). */
async function expectNoCredentialInLogs(pod: FakePod): Promise<void> {
  const logs = await pod.allLogs();
  expect(logs).not.toContain(SECRET);
  expect(logs).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}/);
}

describe("a service principal (azp.auth=servicePrincipal)", () => {
  it("should register with an Entra token from the client secret, run a job, and have the sidecar remove the agent", async () => {
    const pod = newPod(env, { token: SECRET, auth: servicePrincipal() });
    await runOneJob(pod, "echo one job");
    expect(await pod.logs("register")).toContain(`authenticating with the service principal ${SP_CLIENT} of tenant ${TENANT} with its client secret (AZP_AUTH=servicePrincipal)`);
    expect(agentDeletes(env.fake).map((r) => r.status)).toEqual([204]);
    // Azure DevOps saw the service principal, never a PAT user, on every call of the image.
    expect([...new Set(adoRequests(env.fake).map((r) => r.principal))]).toEqual([`sp:${SP_OBJECT}`]);
    // One token for config.sh, at least one for the sidecar; never the assertion grant.
    expect(issued(SP_CLIENT).secret).toBeGreaterThanOrEqual(2);
    expect(issued(SP_CLIENT).assertion).toBe(0);
    await expectNoCredentialInLogs(pod);
  });

  it("should fail to register with a wrong client secret, naming Entra's reason and the value to fix", async () => {
    const pod = newPod(env, { token: "not-the-secret", auth: servicePrincipal() });
    const r = await pod.register();
    expect(r.exitCode).toBe(EXIT.auth);
    expect(r.output).toContain(
      `Microsoft Entra refused the client secret of client ${SP_CLIENT} of tenant ${TENANT} (AADSTS7000215: invalid secret): put the secret's value (not its id) into the Secret (azp.entra.clientSecret or azp.entra.existingSecret)`,
    );
    expect(agentsInPool(env.fake, env.poolId)).toEqual([]);
  });

  it("should fail to register an unknown client with its id and tenant", async () => {
    const unknown = randomUUID();
    const r = await newPod(env, { token: SECRET, auth: servicePrincipal(unknown) }).register();
    expect(r.exitCode).toBe(EXIT.auth);
    expect(r.output).toContain(
      `Microsoft Entra found no application ${unknown} in tenant ${TENANT} (AADSTS700016): check AZURE_CLIENT_ID and AZURE_TENANT_ID (azp.entra.clientId, azp.entra.tenantId)`,
    );
  });

  it("should fail with TF401444 and the fix when the identity was never added to the organization", async () => {
    const r = await newPod(env, { token: SECRET, auth: servicePrincipal(STRANGER_CLIENT) }).register();
    expect(r.exitCode).toBe(EXIT.auth);
    expect(r.output).toMatch(
      new RegExp(
        `Azure DevOps does not know the identity ${STRANGER_CLIENT} of tenant ${TENANT} \\(TF401444, HTTP 401 while checking the connection \\(GET _apis/connectionData\\)\\): add the identity ${STRANGER_CLIENT} to the organization and give it the Administrator role in the agent pool`,
      ),
    );
  });

  it("should report in helm test's smoke command which identity it used", async () => {
    const r = await runOneShot({
      image: env.image,
      command: imageContract.commands.smoke,
      token: SECRET,
      dockerArgs: ["--volume", `${env.caFile}:${caFile}:ro`, "--env", `${caBundleEnvName}=${caFile}`],
      env: {
        [names.url.name]: env.fake.url,
        [names.pool.name]: POOL,
        [names.release.name]: "azp-test/azp-agent",
        [names.smokeMinAgents.name]: "0",
        [names.smokeTimeout.name]: "5",
        [names.auth.name]: "servicePrincipal",
        [names.tenantId.name]: TENANT,
        [names.clientId.name]: SP_CLIENT,
        [names.authorityHost.name]: authority(),
      },
    });
    expect(r.code, r.output).toBe(0);
    expect(r.stdout).toContain(`authenticating with the service principal ${SP_CLIENT} of tenant ${TENANT} with its client secret (AZP_AUTH=servicePrincipal)`);
    expect(r.stdout).toContain(`is reachable and accepts the Entra token of ${SP_CLIENT} (tenant ${TENANT})`);
  });
});

describe("a workload identity (azp.auth=workloadIdentity)", () => {
  it("should register with the pod's federated token, run a job, and remove the agent, with no secret in the pod", async () => {
    const pod = newPod(env, { token: undefined, federatedToken: podToken(), auth: workloadIdentity() });
    await runOneJob(pod, "echo one job");
    expect(agentDeletes(env.fake).map((r) => r.status)).toEqual([204]);
    expect([...new Set(adoRequests(env.fake).map((r) => r.principal))]).toEqual([`sp:${WI_OBJECT}`]);
    expect(issued(WI_CLIENT).assertion).toBeGreaterThanOrEqual(2);
    expect(issued(WI_CLIENT).secret).toBe(0);
    // Entra really fetched the issuer's discovery document and keys.
    expect(issuer.requests.map((r) => r.path)).toEqual(expect.arrayContaining(["/.well-known/openid-configuration", "/openid/v1/jwks"]));
    await expectNoCredentialInLogs(pod);
  });

  it("should remove the agent after a job that outlived its Entra token, with a fresh token", async () => {
    // Entra tokens that live 12 s; the job takes 20 s. The fake refuses an expired token.
    entra(env.fake, { ttl: 12 });
    const pod = newPod(env, { token: undefined, federatedToken: podToken(), auth: workloadIdentity() });
    await runOneJob(pod, "sleep 20");
    expect(agentDeletes(env.fake).map((r) => r.status)).toEqual([204]);
    expect(adoRequests(env.fake).filter((r) => r.status === 401)).toEqual([]);
    // config.sh's token, the sidecar's first, and at least one renewal during the job.
    expect(issued(WI_CLIENT).assertion).toBeGreaterThanOrEqual(3);
  });

  it("should name the claims of the pod's token when no federated credential matches them", async () => {
    const pod = newPod(env, { token: undefined, federatedToken: podToken({ aud: ["api://other-audience"] }), auth: workloadIdentity() });
    const r = await pod.register();
    expect(r.exitCode).toBe(EXIT.auth);
    expect(r.output).toMatch(
      new RegExp(
        `Microsoft Entra found no federated credential of client ${WI_CLIENT} of tenant ${TENANT} matching this pod's token \\(AADSTS7002\\d+; the token has issuer ${ISSUER}, subject ${SUBJECT}, audience api://other-audience\\): add a federated credential with that issuer, subject and audience, or set azp.entra.audience to the audience it has`,
      ),
    );
  });

  it("should refuse a federated token file that holds no JWT, as a setting error", async () => {
    const r = await newPod(env, { token: undefined, federatedToken: "not a token", auth: workloadIdentity() }).register();
    expect(r.exitCode).toBe(EXIT.settings);
    expect(r.output).toContain("AZURE_FEDERATED_TOKEN_FILE: /azp/federated/token does not hold a JWT; it must be a projected service-account token");
    expect(issued(WI_CLIENT).assertion).toBe(0);
  });
});

describe("settings of the identity modes", () => {
  it("should refuse an unknown AZP_AUTH before any request", async () => {
    const r = await newPod(env, { env: { register: { [names.auth.name]: "oauth" } } }).register();
    expect(r.exitCode).toBe(EXIT.settings);
    expect(r.output).toContain("AZP_AUTH is 'oauth'; expected one of: pat, servicePrincipal, workloadIdentity (the chart's azp.auth)");
  });

  it("should refuse a client id that is not a GUID", async () => {
    const r = await newPod(env, { token: SECRET, auth: { ...servicePrincipal(), clientId: "my-app" } }).register();
    expect(r.exitCode).toBe(EXIT.settings);
    expect(r.output).toContain("AZURE_CLIENT_ID must be the application (client) id, a GUID, with AZP_AUTH=servicePrincipal (the chart's azp.entra.clientId)");
  });
});
