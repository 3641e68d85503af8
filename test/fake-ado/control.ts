// Fake-only control plane under `/_fake/...` (contract §3.11) — not Azure DevOps, unauthenticated,
// outside the org prefix. Tests use it to seed pools, enqueue jobs, cancel them, flip the auth
// failure mode, replace the fake Entra ID's tables and read back state and the request log.
import type { AuthFailureMode } from "./auth.ts";
import type { EntraControlRequest } from "./entra.ts";
import type { FakeAdoCore, RequestContext, RequestLogEntry } from "./core.ts";
import { AdoError, adoErrors } from "./errors.ts";
import { isRecord, parseIntParam, readJson, sendJson } from "./http.ts";
import { isTaskResult, NO_AGENT_MATCHES_MODES, type JobRecord, type JobSpec, type JobState, type NoAgentMatchesMode, type PoolType, type TaskResult } from "./model.ts";
import { poolJson } from "./wire.ts";

export interface PoolView {
  id: number;
  name: string;
  poolType: PoolType;
  size: number;
}

export interface AgentView {
  id: number;
  poolId: number;
  name: string;
  version: string;
  enabled: boolean;
  status: "online" | "offline";
  /** "oauth": the agent got clientId/authorizationUrl; "pat": it keeps using the PAT. */
  credentials: "oauth" | "pat";
  sessionId: string | null;
  assignedRequestId: number | null;
  systemCapabilities: Record<string, string>;
  userCapabilities: Record<string, string>;
  createdOn: string;
}

export interface SessionView {
  sessionId: string;
  poolId: number;
  agentId: number;
  agentName: string | null;
  ownerName: string;
  createdOn: string;
  lastSeen: string;
  /** A long poll is parked right now. */
  polling: boolean;
  pendingMessages: number;
}

export interface JobView {
  requestId: number;
  poolId: number;
  state: JobState;
  displayName: string;
  script: string;
  demands: string[];
  variables: Record<string, string>;
  agentId: number | null;
  agentName: string | null;
  result: TaskResult | null;
  /** Set when the service finished the request by itself, e.g. "No agent found in pool ...". */
  statusMessage: string | null;
  cancelRequested: boolean;
  /** Step output (stdout+stderr) as uploaded by the agent; null until it reports. */
  output: string | null;
  exitCode: number | null;
  planId: string;
  jobId: string;
  queueTime: string;
  assignTime: string | null;
  receiveTime: string | null;
  finishTime: string | null;
}

export interface StateView {
  org: string;
  authMode: AuthFailureMode;
  pools: PoolView[];
  agents: AgentView[];
  sessions: SessionView[];
  jobs: JobView[];
}

/** Body of `POST /_fake/pools/{poolId}/jobs`. */
export interface EnqueueJobsRequest extends JobSpec {
  /** @default 1 */
  count?: number;
}

/** Answer of `POST /_fake/pools/{poolId}/jobs` (201). */
export interface EnqueueJobsResponse {
  /** One per job, in order; rejected jobs get ids too (their requests exist, finished). */
  requestIds: number[];
  /** "queued", or "failed" when no agent of the pool satisfies the demands and the fake rejects such jobs. */
  outcome: "queued" | "failed";
  /** The failure's message ("No agent found in pool ..."); null when queued. */
  statusMessage: string | null;
  /** Names of the pool's agents that satisfied the demands at enqueue time, offline and disabled ones included. */
  matchedAgents: string[];
}

/** Body of `POST /_fake/auth`; every field optional. PATs are never echoed back. */
export interface AuthControlRequest {
  mode?: AuthFailureMode;
  /** Add valid PATs. */
  pats?: string[];
  /** Add PATs answered with the "expired" 401 (§2). */
  expiredPats?: string[];
  /** Forget PATs (valid or expired): they become unknown ⇒ 401 TF400813. */
  revokePats?: string[];
}

const isoOrNull = (ms: number | undefined): string | null => (ms === undefined ? null : new Date(ms).toISOString());

export function jobView(core: FakeAdoCore, job: JobRecord): JobView {
  return {
    requestId: job.requestId,
    poolId: job.poolId,
    state: core.model.jobState(job),
    displayName: job.displayName,
    script: job.script,
    demands: [...job.demands],
    variables: { ...job.variables },
    agentId: job.reservedAgentId ?? null,
    agentName: job.reservedAgentName ?? null,
    result: job.result ?? null,
    statusMessage: job.statusMessage ?? null,
    cancelRequested: job.cancelRequested,
    output: job.output ?? null,
    exitCode: job.exitCode ?? null,
    planId: job.planId,
    jobId: job.jobId,
    queueTime: new Date(job.queueTime).toISOString(),
    assignTime: isoOrNull(job.assignTime),
    receiveTime: isoOrNull(job.receiveTime),
    finishTime: isoOrNull(job.finishTime),
  };
}

export function stateView(core: FakeAdoCore): StateView {
  const { model } = core;
  return {
    org: core.org,
    authMode: core.auth.mode,
    pools: [...model.pools.values()].map((pool) => ({ id: pool.id, name: pool.name, poolType: pool.poolType, size: model.agentsInPool(pool.id).length })),
    agents: [...model.agents.values()].map((agent) => ({
      id: agent.id,
      poolId: agent.poolId,
      name: agent.name,
      version: agent.version,
      enabled: agent.enabled,
      status: model.isOnline(agent.id) ? "online" : "offline",
      credentials: agent.clientId !== undefined ? "oauth" : "pat",
      sessionId: model.liveSession(agent.id)?.sessionId ?? null,
      assignedRequestId: model.currentJob(agent.id)?.requestId ?? null,
      systemCapabilities: { ...agent.systemCapabilities },
      userCapabilities: { ...agent.userCapabilities },
      createdOn: new Date(agent.createdOn).toISOString(),
    })),
    sessions: [...model.sessions.values()].map((session) => ({
      sessionId: session.sessionId,
      poolId: session.poolId,
      agentId: session.agentId,
      agentName: model.agents.get(session.agentId)?.name ?? null,
      ownerName: session.ownerName,
      createdOn: new Date(session.createdOn).toISOString(),
      lastSeen: new Date(session.lastSeen).toISOString(),
      polling: session.waiters.length > 0,
      pendingMessages: session.queue.length,
    })),
    jobs: [...model.jobs.values()].map((job) => jobView(core, job)),
  };
}

function stringList(value: unknown, what: string): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || value.some((item) => typeof item !== "string")) throw adoErrors.badRequest(`'${what}' must be an array of strings.`);
  return value as string[];
}

export function applyAuthControl(core: FakeAdoCore, request: AuthControlRequest): { mode: AuthFailureMode; validPats: number; expiredPats: number } {
  const { auth } = core;
  if (request.mode !== undefined) {
    if (request.mode !== "ok" && request.mode !== "html203") throw adoErrors.badRequest("mode must be 'ok' or 'html203'.");
    auth.mode = request.mode;
  }
  for (const pat of stringList(request.revokePats, "revokePats")) {
    auth.validPats.delete(pat);
    auth.expiredPats.delete(pat);
  }
  for (const pat of stringList(request.pats, "pats")) {
    auth.expiredPats.delete(pat);
    auth.validPats.add(pat);
  }
  for (const pat of stringList(request.expiredPats, "expiredPats")) {
    auth.validPats.delete(pat);
    auth.expiredPats.add(pat);
  }
  return { mode: auth.mode, validPats: auth.validPats.size, expiredPats: auth.expiredPats.size };
}

export function parseEnqueueRequest(body: unknown): { spec: JobSpec; count: number } {
  if (!isRecord(body)) throw adoErrors.badRequest("Body must be a JSON object with a 'script'.");
  const script = body["script"];
  if (typeof script !== "string") throw adoErrors.badRequest("'script' must be a string.");
  const count = body["count"] ?? 1;
  if (typeof count !== "number" || !Number.isInteger(count) || count < 1 || count > 1000) throw adoErrors.badRequest("'count' must be an integer between 1 and 1000.");
  const spec: JobSpec = { script, demands: stringList(body["demands"], "demands") };
  if (body["displayName"] !== undefined) {
    if (typeof body["displayName"] !== "string") throw adoErrors.badRequest("'displayName' must be a string.");
    spec.displayName = body["displayName"];
  }
  if (body["variables"] !== undefined) {
    if (!isRecord(body["variables"])) throw adoErrors.badRequest("'variables' must be an object of strings.");
    spec.variables = Object.fromEntries(Object.entries(body["variables"]).map(([key, value]) => [key, String(value)]));
  }
  const mode = body["whenNoAgentMatches"];
  if (mode !== undefined) {
    if (!(NO_AGENT_MATCHES_MODES as readonly unknown[]).includes(mode)) throw adoErrors.badRequest("'whenNoAgentMatches' must be 'fail' or 'queue'.");
    spec.whenNoAgentMatches = mode as NoAgentMatchesMode;
  }
  return { spec, count };
}

/** Enqueues as `POST /_fake/pools/{poolId}/jobs` does and says whether the jobs were rejected. */
export function enqueue(core: FakeAdoCore, poolId: number, body: unknown): EnqueueJobsResponse {
  const { spec, count } = parseEnqueueRequest(body);
  core.model.pool(poolId);
  const matchedAgents = core.model.agentsMatching(poolId, spec.demands ?? []).map((agent) => agent.name);
  const jobs = core.model.enqueueJobs(poolId, spec, count);
  const rejected = jobs.find((job) => job.statusMessage !== undefined);
  return {
    requestIds: jobs.map((job) => job.requestId),
    outcome: rejected ? "failed" : "queued",
    statusMessage: rejected?.statusMessage ?? null,
    matchedAgents,
  };
}

function requestsSince(log: readonly RequestLogEntry[], since: number | undefined): RequestLogEntry[] {
  return since === undefined ? [...log] : log.filter((entry) => entry.seq > since);
}

const ENTRA_CONTROL_FIELDS = new Set([
  "tenants",
  "organizationTenantId",
  "applications",
  "issuers",
  "organizationMembers",
  "accessTokenTtlSeconds",
  "jwksCacheTtlSeconds",
  "resetStats",
]);

/** `POST /_fake/entra`: unknown fields are refused, so a typo cannot silently keep the old table. */
function entraControl(core: FakeAdoCore, body: unknown, authorityHost: string): ReturnType<FakeAdoCore["entra"]["view"]> {
  if (body !== undefined && !isRecord(body)) throw adoErrors.badRequest("Body must be a JSON object.");
  const request = (body ?? {}) as Record<string, unknown>;
  const unknown = Object.keys(request).filter((key) => !ENTRA_CONTROL_FIELDS.has(key));
  if (unknown.length > 0) throw adoErrors.badRequest(`Unknown field(s) ${unknown.join(", ")}; allowed: ${[...ENTRA_CONTROL_FIELDS].join(", ")}.`);
  try {
    return core.entra.configure(request as EntraControlRequest, authorityHost);
  } catch (error) {
    throw adoErrors.badRequest(`Invalid entra configuration: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/** Dispatches `/_fake/...`; `segments` excludes the leading `_fake`. */
export async function handleControl(ctx: RequestContext, segments: readonly string[]): Promise<void> {
  const { core, method, res } = ctx;
  const [first = "", second, third, fourth] = segments;
  const route = `${method} ${first.toLowerCase()}`;
  if (route === "GET healthz" && segments.length === 1) return sendJson(res, 200, { status: "ok" });
  if (route === "GET state" && segments.length === 1) return sendJson(res, 200, stateView(core));
  if (route === "GET requests" && segments.length === 1) {
    const entries = requestsSince(core.requestLog, ctx.query.int("since"));
    return sendJson(res, 200, { count: entries.length, value: entries });
  }
  if (route === "DELETE requests" && segments.length === 1) {
    core.requestLog.length = 0;
    return sendJson(res, 200, { count: 0, value: [] });
  }
  if (route === "POST reset" && segments.length === 1) {
    core.applySeeds();
    core.requestLog.length = 0;
    return sendJson(res, 200, stateView(core));
  }
  if (route === "POST auth" && segments.length === 1) {
    const body = await readJson(ctx.req);
    if (body !== undefined && !isRecord(body)) throw adoErrors.badRequest("Body must be a JSON object.");
    return sendJson(res, 200, applyAuthControl(core, (body ?? {}) as AuthControlRequest));
  }
  if (route === "GET entra" && segments.length === 1) return sendJson(res, 200, core.entra.view(`${ctx.origin}/_entra/`));
  if (route === "POST entra" && segments.length === 1) return sendJson(res, 200, entraControl(core, await readJson(ctx.req), `${ctx.origin}/_entra/`));
  if (route === "POST pools" && segments.length === 1) {
    const body = await readJson(ctx.req);
    if (!isRecord(body) || typeof body["name"] !== "string") throw adoErrors.badRequest("Body must be {\"name\": \"...\"}.");
    const poolType = body["poolType"] ?? "automation";
    if (poolType !== "automation" && poolType !== "deployment") throw adoErrors.badRequest("poolType must be 'automation' or 'deployment'.");
    const id = typeof body["id"] === "number" ? body["id"] : undefined;
    const pool = core.model.createPool(body["name"], poolType, id);
    return sendJson(res, 201, poolJson(pool, 0));
  }
  if (method === "POST" && first.toLowerCase() === "pools" && third?.toLowerCase() === "jobs" && segments.length === 3) {
    return sendJson(res, 201, enqueue(core, parseIntParam(second, "poolId"), await readJson(ctx.req)));
  }
  if (first.toLowerCase() === "jobs" && second !== undefined) {
    const job = core.model.job(parseIntParam(second, "requestId"));
    if (method === "GET" && segments.length === 2) return sendJson(res, 200, jobView(core, job));
    if (method === "POST" && third?.toLowerCase() === "cancel" && fourth === undefined) {
      core.model.cancelJob(job);
      return sendJson(res, 200, jobView(core, job));
    }
    if (method === "POST" && third?.toLowerCase() === "complete" && fourth === undefined) {
      const body = await readJson(ctx.req);
      const result = isRecord(body) ? (body["result"] ?? "succeeded") : "succeeded";
      if (!isTaskResult(result)) throw adoErrors.badRequest(`Unknown task result '${String(result)}'.`);
      if (!core.model.finishJob(job, result)) throw new AdoError(409, "TaskAgentJobNotFoundException", `Job request ${job.requestId} has already finished.`);
      return sendJson(res, 200, jobView(core, job));
    }
  }
  throw adoErrors.resourceNotFound(ctx.path);
}
