// The Azure DevOps REST surface under `/{org}/_apis/...` (contract §3.1–§3.10) plus the two
// fake-only endpoints an agent needs: the OAuth token endpoint and the job log upload [I].
import { apiResources, type ApiResource } from "./api-version.ts";
import { JWT_BEARER_ASSERTION_TYPE, OAuthError, verifyClientAssertion, type Principal } from "./auth.ts";
import type { RequestContext } from "./core.ts";
import { AdoError, adoErrors } from "./errors.ts";
import { isRecord, parseIntParam, readBody, readJson, sendEmpty, sendJson } from "./http.ts";
import { capabilitiesOf, demandsSatisfied, isTaskResult, type AgentInput, type AgentRecord, type JobRecord, type PoolType, type PublicKey } from "./model.ts";
import { downloadPath } from "./packages.ts";
import {
  agentJson,
  agentReferenceJson,
  connectionDataJson,
  jobRequestJson,
  messageJson,
  packageJson,
  poolJson,
  sessionJson,
  taskLogJson,
  tokenEndpointUrl,
} from "./wire.ts";

/** Who may call a route: a PAT holder only ("user"), a PAT holder or the agent itself ("agent"), anyone. */
export type RouteAuth = "user" | "agent" | "anonymous";

export interface Route {
  method: string;
  template: readonly string[];
  auth: RouteAuth;
  /** Versioning rules (api-version.ts); undefined = not a versioned REST resource (the OAuth token endpoint). */
  resource: ApiResource | undefined;
  handle: (ctx: RequestContext) => Promise<void> | void;
}

/** Thrown when an authenticated agent token reaches beyond its own agent; answered like a bad PAT (401). */
export class ScopeError extends Error {}

const DT = ["_apis", "distributedtask"] as const;
const POOL = [...DT, "pools", ":poolId"] as const;

const collection = (value: unknown[]): Record<string, unknown> => ({ count: value.length, value });

function poolIdOf(ctx: RequestContext): number {
  return parseIntParam(ctx.params["poolId"], "poolId");
}

function agentPrincipal(ctx: RequestContext): Extract<Principal, { kind: "agent" }> | undefined {
  return ctx.principal?.kind === "agent" ? ctx.principal : undefined;
}

/** An agent token is good for its own agent's sessions, messages, job requests and logs only. */
function requireOwnAgent(ctx: RequestContext, agentId: number | undefined): void {
  const agent = agentPrincipal(ctx);
  if (agent && agent.agentId !== agentId) throw new ScopeError(`agent token of agent ${agent.agentId} used for agent ${String(agentId)}`);
  if (agent && agentId !== undefined) ctx.core.model.touchAgent(agentId);
}

function stringRecord(value: unknown, what: string): Record<string, string> | undefined {
  if (value === undefined || value === null) return undefined;
  if (!isRecord(value)) throw adoErrors.badRequest(`'${what}' must be an object of strings.`);
  return Object.fromEntries(Object.entries(value).map(([key, entry]) => [key, entry === null || entry === undefined ? "" : String(entry)]));
}

function optionalString(body: Record<string, unknown>, key: string): string | undefined {
  const value = body[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "string") throw adoErrors.badRequest(`'${key}' must be a string.`);
  return value;
}

/** Reads the TaskAgent fields a client may set; unknown/extra fields are ignored (§3.7.2). */
function parseAgentInput(body: unknown): AgentInput {
  if (!isRecord(body)) throw adoErrors.badRequest("The request body must be a TaskAgent object.");
  const input: AgentInput = {};
  const name = optionalString(body, "name");
  if (name !== undefined) input.name = name;
  const version = optionalString(body, "version");
  if (version !== undefined) input.version = version;
  const osDescription = optionalString(body, "osDescription");
  if (osDescription !== undefined) input.osDescription = osDescription;
  const provisioningState = optionalString(body, "provisioningState");
  if (provisioningState !== undefined) input.provisioningState = provisioningState;
  if (typeof body["enabled"] === "boolean") input.enabled = body["enabled"];
  if (typeof body["maxParallelism"] === "number") input.maxParallelism = body["maxParallelism"];
  const systemCapabilities = stringRecord(body["systemCapabilities"], "systemCapabilities");
  if (systemCapabilities) input.systemCapabilities = systemCapabilities;
  const userCapabilities = stringRecord(body["userCapabilities"], "userCapabilities");
  if (userCapabilities) input.userCapabilities = userCapabilities;
  const authorization = body["authorization"];
  if (isRecord(authorization) && isRecord(authorization["publicKey"])) {
    const { exponent, modulus } = authorization["publicKey"];
    // Newtonsoft serializes byte[] as a base64 string (§1.4).
    if (typeof exponent !== "string" || typeof modulus !== "string") throw adoErrors.badRequest("authorization.publicKey exponent/modulus must be base64 strings.");
    const publicKey: PublicKey = { exponent, modulus };
    input.publicKey = publicKey;
  }
  return input;
}

function reservedAgentJson(ctx: RequestContext, job: JobRecord): Record<string, unknown> | undefined {
  if (job.reservedAgentId === undefined) return undefined;
  const agent = ctx.core.model.agents.get(job.reservedAgentId);
  if (!agent) return { id: job.reservedAgentId, name: job.reservedAgentName ?? "" };
  return agentReferenceJson(agent, ctx.core.model.isOnline(agent.id), ctx.base);
}

function jobJson(ctx: RequestContext, job: JobRecord, includeMatchedAgents: boolean): Record<string, unknown> {
  const { model } = ctx.core;
  const matchedAgents = includeMatchedAgents ? model.matchedAgents(job).map((agent) => agentReferenceJson(agent, model.isOnline(agent.id), ctx.base)) : undefined;
  return jobRequestJson(job, { reservedAgent: reservedAgentJson(ctx, job), matchedAgents }, ctx.base);
}

function fullAgentJson(ctx: RequestContext, agent: AgentRecord, includeCapabilities: boolean): Record<string, unknown> {
  const { model } = ctx.core;
  const assigned = ctx.query.bool("includeAssignedRequest") ? model.currentJob(agent.id) : undefined;
  const last = ctx.query.bool("includeLastCompletedRequest") ? model.lastCompletedJob(agent.id) : undefined;
  return agentJson(
    agent,
    {
      online: model.isOnline(agent.id),
      includeCapabilities,
      assignedRequest: assigned ? jobJson(ctx, assigned, false) : undefined,
      lastCompletedRequest: last ? jobJson(ctx, last, false) : undefined,
    },
    ctx.base,
  );
}

/** `top=1` (start.sh) and `$top=1` (OData) both truncate (§3.3, §3.9). */
function topOf(ctx: RequestContext): number | undefined {
  return ctx.query.int("$top") ?? ctx.query.int("top");
}

// ---- handlers ----------------------------------------------------------------------------------

function connectionData(ctx: RequestContext): void {
  const agent = agentPrincipal(ctx);
  const name = agent ? (ctx.core.model.agents.get(agent.agentId)?.name ?? "Agent") : "Fake User";
  sendJson(ctx.res, 200, connectionDataJson(name), ctx.apiVersion);
}

function listPackages(ctx: RequestContext): void {
  const type = ctx.params["packageType"] ?? "agent";
  const platform = ctx.params["platform"] ?? ctx.query.get("platform");
  // version-major and other unknown parameters are ignored, as by the service (§3.3, #5100).
  let entries = ctx.core.catalog.list(type, platform);
  const top = topOf(ctx);
  if (top !== undefined && top >= 0) entries = entries.slice(0, top);
  sendJson(ctx.res, 200, collection(entries.map((entry) => packageJson({ ...entry, hashValue: entry.publishHash ? entry.sha256 : undefined, downloadUrl: ctx.downloadOrigin + downloadPath(entry) }))), ctx.apiVersion);
}

function getPackage(ctx: RequestContext): void {
  const { packageType = "", platform = "", version = "" } = ctx.params;
  const entry = ctx.core.catalog.find(packageType, platform, version);
  if (!entry) throw adoErrors.packageNotFound(`${packageType}/${platform}/${version}`);
  sendJson(ctx.res, 200, packageJson({ ...entry, hashValue: entry.publishHash ? entry.sha256 : undefined, downloadUrl: ctx.downloadOrigin + downloadPath(entry) }), ctx.apiVersion);
}

function listPools(ctx: RequestContext): void {
  const { model } = ctx.core;
  const poolType = ctx.query.get("poolType")?.toLowerCase();
  const name = ctx.query.get("poolName");
  // §3.5: KEDA's undocumented `poolID` filters by id and 404s for an unknown id so that KEDA's
  // "pool doesn't exist" path can be exercised; `poolIds` is the documented by-ids filter.
  const poolID = ctx.query.int("poolID");
  if (poolID !== undefined && !model.pools.has(poolID)) throw adoErrors.poolNotFound(poolID);
  const ids = poolID !== undefined ? [poolID] : ctx.query.intList("poolIds");
  const pools = model.findPools({
    ...(name !== undefined ? { name } : {}),
    ...(poolType === "automation" || poolType === "deployment" ? { poolType: poolType as PoolType } : {}),
    ...(ids !== undefined ? { ids } : {}),
  });
  // A poolType outside the enum matches nothing rather than everything.
  const filtered = poolType !== undefined && poolType !== "automation" && poolType !== "deployment" ? [] : pools;
  sendJson(ctx.res, 200, collection(filtered.map((pool) => poolJson(pool, model.agentsInPool(pool.id).length))), ctx.apiVersion);
}

function getPool(ctx: RequestContext): void {
  const pool = ctx.core.model.pool(poolIdOf(ctx));
  sendJson(ctx.res, 200, poolJson(pool, ctx.core.model.agentsInPool(pool.id).length), ctx.apiVersion);
}

function listAgents(ctx: RequestContext): void {
  const { model } = ctx.core;
  const poolId = poolIdOf(ctx);
  model.pool(poolId);
  const name = ctx.query.get("agentName");
  const demands = ctx.query.get("demands")?.split(",").map((demand) => demand.trim()).filter((demand) => demand !== "");
  const agents = model
    .agentsInPool(poolId)
    .filter((agent) => name === undefined || agent.name.toLowerCase() === name.toLowerCase())
    .filter((agent) => demands === undefined || demandsSatisfied(capabilitiesOf(agent), demands));
  // §3.7.1: capabilities only when asked for.
  const includeCapabilities = ctx.query.bool("includeCapabilities");
  sendJson(ctx.res, 200, collection(agents.map((agent) => fullAgentJson(ctx, agent, includeCapabilities))), ctx.apiVersion);
}

function getAgent(ctx: RequestContext): void {
  const agent = ctx.core.model.agent(poolIdOf(ctx), parseIntParam(ctx.params["agentId"], "agentId"));
  sendJson(ctx.res, 200, fullAgentJson(ctx, agent, ctx.query.bool("includeCapabilities")), ctx.apiVersion);
}

async function addAgent(ctx: RequestContext): Promise<void> {
  const agent = ctx.core.model.addAgent(poolIdOf(ctx), parseAgentInput(await readJson(ctx.req)));
  sendJson(ctx.res, 200, fullAgentJson(ctx, agent, true), ctx.apiVersion);
}

async function replaceAgent(ctx: RequestContext): Promise<void> {
  const agentId = parseIntParam(ctx.params["agentId"], "agentId");
  const agent = ctx.core.model.replaceAgent(poolIdOf(ctx), agentId, parseAgentInput(await readJson(ctx.req)));
  // §3.7.3: the previous holder of this registration loses its tokens along with its session.
  ctx.core.auth.revokeAgent(agent.id);
  sendJson(ctx.res, 200, fullAgentJson(ctx, agent, true), ctx.apiVersion);
}

async function updateAgent(ctx: RequestContext): Promise<void> {
  const agentId = parseIntParam(ctx.params["agentId"], "agentId");
  const agent = ctx.core.model.updateAgent(poolIdOf(ctx), agentId, parseAgentInput(await readJson(ctx.req)));
  sendJson(ctx.res, 200, fullAgentJson(ctx, agent, true), ctx.apiVersion);
}

function deleteAgent(ctx: RequestContext): void {
  const agentId = parseIntParam(ctx.params["agentId"], "agentId");
  ctx.core.model.deleteAgent(poolIdOf(ctx), agentId);
  ctx.core.auth.revokeAgent(agentId);
  sendEmpty(ctx.res, 204);
}

async function createSession(ctx: RequestContext): Promise<void> {
  const { model } = ctx.core;
  const poolId = poolIdOf(ctx);
  const body = await readJson(ctx.req);
  if (!isRecord(body) || !isRecord(body["agent"])) throw adoErrors.badRequest("The request body must be a TaskAgentSession with an 'agent'.");
  const agentRef = body["agent"];
  let agentId = typeof agentRef["id"] === "number" ? agentRef["id"] : undefined;
  if ((agentId === undefined || agentId === 0) && typeof agentRef["name"] === "string") agentId = model.findAgentByName(poolId, agentRef["name"])?.id;
  if (agentId === undefined) throw adoErrors.badRequest("The session's agent needs an id.");
  requireOwnAgent(ctx, agentId);
  const principal = agentPrincipal(ctx);
  if (principal && principal.poolId !== poolId) throw new ScopeError("agent token used for another pool");
  const session = model.createSession(poolId, agentId, typeof body["ownerName"] === "string" ? body["ownerName"] : "");
  // The listener sends the capabilities it scanned at start (MessageListener.CreateSessionAsync);
  // the service shows them from then on (a restarted agent reports new software, agents.md).
  const systemCapabilities = stringRecord(body["systemCapabilities"], "systemCapabilities");
  if (systemCapabilities !== undefined) model.reportCapabilities(agentId, systemCapabilities);
  const agent = model.agent(poolId, agentId);
  sendJson(ctx.res, 200, sessionJson(session, agent, true, ctx.base), ctx.apiVersion);
}

function deleteSession(ctx: RequestContext): void {
  const { model } = ctx.core;
  const sessionId = ctx.params["sessionId"] ?? "";
  const session = model.sessions.get(sessionId.toLowerCase());
  if (session) requireOwnAgent(ctx, session.agentId);
  model.deleteSession(poolIdOf(ctx), sessionId);
  sendEmpty(ctx.res, 204);
}

async function getMessage(ctx: RequestContext): Promise<void> {
  const { model, settings } = ctx.core;
  const sessionId = ctx.query.get("sessionId");
  if (!sessionId) throw adoErrors.badRequest("The 'sessionId' query parameter is required.");
  const session = model.session(poolIdOf(ctx), sessionId);
  requireOwnAgent(ctx, session.agentId);
  const aborted = new AbortController();
  ctx.res.on("close", () => {
    if (!ctx.res.writableFinished) aborted.abort();
  });
  const message = await model.poll(session, ctx.query.int("lastMessageId"), settings.messageHoldMs, ctx.base.orgUrl, aborted.signal);
  if (ctx.res.destroyed) return;
  // §3.8 step 2: no message within the hold ⇒ 202 Accepted with an empty body.
  if (message) sendJson(ctx.res, 200, messageJson(message), ctx.apiVersion);
  else sendEmpty(ctx.res, 202);
}

function deleteMessage(ctx: RequestContext): void {
  const { model } = ctx.core;
  const sessionId = ctx.query.get("sessionId");
  if (!sessionId) throw adoErrors.badRequest("The 'sessionId' query parameter is required.");
  const session = model.session(poolIdOf(ctx), sessionId);
  requireOwnAgent(ctx, session.agentId);
  model.deleteMessage(session, parseIntParam(ctx.params["messageId"], "messageId"));
  sendEmpty(ctx.res, 204);
}

/**
 * §3.9 KEDA forms: `$top=N` ⇒ newest N of all requests without matchedAgents (and it overrides
 * completedRequestCount); `completedRequestCount=0` ⇒ unfinished only; no filter ⇒ everything.
 * At most `jobRequestsCap` (200, kedacore/keda#6819) items.
 */
function listJobRequests(ctx: RequestContext): void {
  const { model, settings } = ctx.core;
  const poolId = poolIdOf(ctx);
  model.pool(poolId);
  const agentIds = ctx.query.intList("agentIds") ?? (ctx.query.int("agentId") !== undefined ? [ctx.query.int("agentId") ?? 0] : undefined);
  const planId = ctx.query.get("planId")?.toLowerCase();
  const jobId = ctx.query.get("jobId")?.toLowerCase();
  let jobs = model
    .jobsInPool(poolId)
    .filter((job) => agentIds === undefined || (job.reservedAgentId !== undefined && agentIds.includes(job.reservedAgentId)))
    .filter((job) => planId === undefined || job.planId === planId)
    .filter((job) => jobId === undefined || job.jobId === jobId)
    .sort((a, b) => b.requestId - a.requestId);
  const top = topOf(ctx);
  if (top !== undefined) {
    jobs = jobs.slice(0, Math.max(0, Math.min(top, settings.jobRequestsCap)));
    sendJson(ctx.res, 200, collection(jobs.map((job) => jobJson(ctx, job, false))), ctx.apiVersion);
    return;
  }
  const completed = ctx.query.int("completedRequestCount");
  if (completed !== undefined) {
    const finished = jobs.filter((job) => job.result !== undefined).sort((a, b) => (b.finishTime ?? 0) - (a.finishTime ?? 0)).slice(0, Math.max(0, completed));
    jobs = jobs.filter((job) => job.result === undefined || finished.includes(job));
  }
  jobs = jobs.slice(0, settings.jobRequestsCap);
  sendJson(ctx.res, 200, collection(jobs.map((job) => jobJson(ctx, job, true))), ctx.apiVersion);
}

function getJobRequest(ctx: RequestContext): void {
  const job = ctx.core.model.job(parseIntParam(ctx.params["requestId"], "requestId"));
  if (job.poolId !== poolIdOf(ctx)) throw adoErrors.jobNotFound(job.requestId);
  if (agentPrincipal(ctx)) requireOwnAgent(ctx, job.reservedAgentId);
  sendJson(ctx.res, 200, jobJson(ctx, job, true), ctx.apiVersion);
}

/** §3.8 step 4 / §3.10: a body with `result` finishes the request, anything else renews the lock. */
async function updateJobRequest(ctx: RequestContext): Promise<void> {
  const { model } = ctx.core;
  const job = model.job(parseIntParam(ctx.params["requestId"], "requestId"));
  if (job.poolId !== poolIdOf(ctx)) throw adoErrors.jobNotFound(job.requestId);
  if (agentPrincipal(ctx)) requireOwnAgent(ctx, job.reservedAgentId);
  const body = await readJson(ctx.req);
  if (!isRecord(body)) throw adoErrors.badRequest("The request body must be a TaskAgentJobRequest.");
  const result = body["result"];
  if (result !== undefined && result !== null) {
    if (!isTaskResult(result)) throw adoErrors.badRequest(`Unknown task result '${String(result)}'.`);
    model.finishJob(job, result);
  } else {
    model.renewJobLock(job);
  }
  sendJson(ctx.res, 200, jobJson(ctx, job, false), ctx.apiVersion);
}

/** Fake-only [I]: the agent reports the step's output and exit code for its job's plan. */
async function uploadLog(ctx: RequestContext): Promise<void> {
  const { model } = ctx.core;
  const planId = ctx.params["planId"] ?? "";
  const job = model.jobByPlan(planId);
  if (!job) throw new AdoError(404, "TaskOrchestrationPlanNotFoundException", `Plan ${planId} not found.`);
  if (agentPrincipal(ctx)) requireOwnAgent(ctx, job.reservedAgentId);
  const body = await readJson(ctx.req);
  if (!isRecord(body)) throw adoErrors.badRequest("The log body must be a JSON object.");
  const output = typeof body["output"] === "string" ? body["output"] : "";
  const exitCode = typeof body["exitCode"] === "number" ? body["exitCode"] : undefined;
  model.recordLog(job, output, exitCode);
  const lineCount = output === "" ? 0 : output.replace(/\n$/, "").split("\n").length;
  sendJson(ctx.res, 200, taskLogJson(ctx.core.nextLogId(), lineCount, job.planId, ctx.base), ctx.apiVersion);
}

/**
 * Fake token endpoint [I] (§3.7 step 9): client-credentials grant with a JWT client assertion;
 * answers a short-lived bearer token scoped to that agent.
 */
async function issueToken(ctx: RequestContext): Promise<void> {
  const { model, auth } = ctx.core;
  try {
    const form = new URLSearchParams((await readBody(ctx.req)).toString("utf8"));
    if (form.get("grant_type") !== "client_credentials") throw new OAuthError(400, "unsupported_grant_type", "grant_type must be client_credentials.");
    if (form.get("client_assertion_type") !== JWT_BEARER_ASSERTION_TYPE) throw new OAuthError(400, "invalid_request", `client_assertion_type must be ${JWT_BEARER_ASSERTION_TYPE}.`);
    const assertion = form.get("client_assertion");
    if (!assertion) throw new OAuthError(400, "invalid_request", "client_assertion is required.");
    const audiencePath = new URL(tokenEndpointUrl(ctx.base)).pathname;
    const agent = verifyClientAssertion(assertion, audiencePath, (clientId) => model.agentByClientId(clientId));
    const { accessToken, expiresIn } = auth.issueToken(agent);
    model.touchAgent(agent.id);
    sendJson(ctx.res, 200, { access_token: accessToken, token_type: "bearer", expires_in: expiresIn }, ctx.apiVersion);
  } catch (error) {
    if (!(error instanceof OAuthError)) throw error;
    sendJson(ctx.res, error.status, error.body(), ctx.apiVersion);
  }
}

export const ADO_ROUTES: readonly Route[] = [
  { method: "GET", template: ["_apis", "connectionData"], auth: "agent", resource: apiResources.connectionData, handle: connectionData },
  { method: "POST", template: ["_apis", "oauth2", "token"], auth: "anonymous", resource: undefined, handle: issueToken },
  { method: "GET", template: [...DT, "packages", ":packageType"], auth: "user", resource: apiResources.packages, handle: listPackages },
  { method: "GET", template: [...DT, "packages", ":packageType", ":platform"], auth: "user", resource: apiResources.packages, handle: listPackages },
  { method: "GET", template: [...DT, "packages", ":packageType", ":platform", ":version"], auth: "user", resource: apiResources.packages, handle: getPackage },
  { method: "GET", template: [...DT, "pools"], auth: "user", resource: apiResources.pools, handle: listPools },
  { method: "GET", template: [...POOL], auth: "user", resource: apiResources.pools, handle: getPool },
  { method: "GET", template: [...POOL, "agents"], auth: "user", resource: apiResources.agents, handle: listAgents },
  { method: "POST", template: [...POOL, "agents"], auth: "user", resource: apiResources.agents, handle: addAgent },
  { method: "GET", template: [...POOL, "agents", ":agentId"], auth: "user", resource: apiResources.agents, handle: getAgent },
  { method: "PUT", template: [...POOL, "agents", ":agentId"], auth: "user", resource: apiResources.agents, handle: replaceAgent },
  { method: "PATCH", template: [...POOL, "agents", ":agentId"], auth: "user", resource: apiResources.agents, handle: updateAgent },
  { method: "DELETE", template: [...POOL, "agents", ":agentId"], auth: "user", resource: apiResources.agents, handle: deleteAgent },
  { method: "POST", template: [...POOL, "sessions"], auth: "agent", resource: apiResources.sessions, handle: createSession },
  { method: "DELETE", template: [...POOL, "sessions", ":sessionId"], auth: "agent", resource: apiResources.sessions, handle: deleteSession },
  { method: "GET", template: [...POOL, "messages"], auth: "agent", resource: apiResources.messages, handle: getMessage },
  { method: "DELETE", template: [...POOL, "messages", ":messageId"], auth: "agent", resource: apiResources.messages, handle: deleteMessage },
  { method: "GET", template: [...POOL, "jobrequests"], auth: "user", resource: apiResources.jobrequests, handle: listJobRequests },
  { method: "GET", template: [...POOL, "jobrequests", ":requestId"], auth: "agent", resource: apiResources.jobrequests, handle: getJobRequest },
  { method: "PATCH", template: [...POOL, "jobrequests", ":requestId"], auth: "agent", resource: apiResources.jobrequests, handle: updateJobRequest },
  { method: "POST", template: [...DT, "hubs", ":hub", "plans", ":planId", "logs"], auth: "agent", resource: apiResources.logs, handle: uploadLog },
];
