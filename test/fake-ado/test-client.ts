// Small HTTP client for tests that talk to the fake the way KEDA / start.sh / an agent would.
import { generateKeyPairSync, randomUUID, sign, type KeyObject } from "node:crypto";
import type { JobView } from "./control.ts";
import type { EnqueueJobsRequest, FakeAdo, RequestLogEntry } from "./server.ts";

export interface CallOptions {
  method?: string;
  /** Full Authorization header value, e.g. from basic() / bearer(). */
  auth?: string;
  headers?: Record<string, string>;
  json?: unknown;
  form?: Record<string, string>;
  /** Sent in the Accept header like the .NET client (contract §1.3); non-GET calls need one. */
  apiVersion?: string;
}

/** api-versions the real agent's client sends per resource (contract §1.3), and 7.1 for GA resources. */
export const API = { agents: "6.0-preview.2", sessions: "5.1-preview.1", messages: "5.1-preview.1", jobrequests: "5.1-preview.1", ga: "7.1" } as const;

export interface CallResult {
  status: number;
  headers: Headers;
  text: string;
  /** Parsed JSON body (undefined when the body is empty or not JSON). */
  body: unknown;
}

export const basic = (user: string, secret: string): string => `Basic ${Buffer.from(`${user}:${secret}`).toString("base64")}`;
export const bearer = (token: string): string => `Bearer ${token}`;

/** `path` is relative to the org URL (`/_apis/...`) unless it starts with `http`. */
export async function call(fake: FakeAdo, path: string, options: CallOptions = {}): Promise<CallResult> {
  const url = path.startsWith("http") ? path : `${fake.url}${path}`;
  const headers: Record<string, string> = { ...(options.headers ?? {}) };
  if (options.auth !== undefined) headers["Authorization"] = options.auth;
  if (options.apiVersion !== undefined) headers["Accept"] = `application/json; api-version=${options.apiVersion}`;
  let body: string | undefined;
  const method = options.method ?? "GET";
  if (options.json !== undefined && method !== "GET" && method !== "HEAD") {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(options.json);
  } else if (options.form !== undefined) {
    headers["Content-Type"] = "application/x-www-form-urlencoded";
    body = new URLSearchParams(options.form).toString();
  }
  const response = await fetch(url, { method, headers, ...(body !== undefined ? { body } : {}) });
  const text = await response.text();
  let parsed: unknown;
  try {
    parsed = text === "" ? undefined : (JSON.parse(text) as unknown);
  } catch {
    parsed = undefined;
  }
  return { status: response.status, headers: response.headers, text, body: parsed };
}

/** Narrow an unknown JSON body for assertions. */
export function obj(value: unknown): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new Error(`expected a JSON object, got ${JSON.stringify(value)}`);
  return value as Record<string, unknown>;
}

export function list(value: unknown): Record<string, unknown>[] {
  const wrapper = obj(value);
  if (!Array.isArray(wrapper["value"]) || wrapper["count"] !== wrapper["value"].length) throw new Error(`expected {count, value[]}, got ${JSON.stringify(value)}`);
  return (wrapper["value"] as unknown[]).map(obj);
}

/** An RSA key pair in the shape the agent registers (base64 exponent/modulus, §1.4). */
export interface AgentKey {
  privateKey: KeyObject;
  publicKey: { exponent: string; modulus: string };
}

export function newAgentKey(): AgentKey {
  const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const jwk = publicKey.export({ format: "jwk" });
  const toBase64 = (value: string | undefined): string => Buffer.from(value ?? "", "base64url").toString("base64");
  return { privateKey, publicKey: { exponent: toBase64(jwk.e), modulus: toBase64(jwk.n) } };
}

/** RS256 client assertion as the agent's VssOAuthJwtBearerClientCredential builds it. */
export function clientAssertion(key: AgentKey, clientId: string, audience: string, overrides: Record<string, unknown> = {}): string {
  const now = Math.floor(Date.now() / 1000);
  const encode = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString("base64url");
  const header = encode({ typ: "JWT", alg: "RS256" });
  const payload = encode({ sub: clientId, iss: clientId, jti: randomUUID(), aud: audience, nbf: now - 30, iat: now, exp: now + 300, ...overrides });
  const signature = sign("sha256", Buffer.from(`${header}.${payload}`), key.privateKey).toString("base64url");
  return `${header}.${payload}.${signature}`;
}

let sharedKey: AgentKey | undefined;

/** One key reused by registrations that do not care whose key it is (RSA keygen is slow). */
export function sharedAgentKey(): AgentKey {
  sharedKey ??= newAgentKey();
  return sharedKey;
}

export async function registerAgent(
  fake: FakeAdo,
  poolId: number,
  name: string,
  auth: string,
  key: AgentKey = sharedAgentKey(),
  capabilities: Record<string, string> = {},
): Promise<{ agent: Record<string, unknown>; key: AgentKey }> {
  const result = await call(fake, `/_apis/distributedtask/pools/${poolId}/agents`, {
    method: "POST",
    auth,
    apiVersion: API.agents,
    json: {
      id: 0,
      name,
      version: "4.264.2",
      osDescription: "Linux test",
      provisioningState: "Provisioned",
      maxParallelism: 1,
      authorization: { publicKey: key.publicKey },
      systemCapabilities: { "Agent.Name": name, "Agent.Version": "4.264.2", "Agent.OS": "Linux", ...capabilities },
    },
  });
  if (result.status !== 200) throw new Error(`registering ${name} failed: ${result.status} ${result.text}`);
  return { agent: obj(result.body), key };
}

export async function exchangeToken(fake: FakeAdo, agent: Record<string, unknown>, key: AgentKey): Promise<CallResult> {
  const authorization = obj(agent["authorization"]);
  const tokenUrl = String(authorization["authorizationUrl"]);
  return call(fake, tokenUrl, {
    method: "POST",
    form: {
      grant_type: "client_credentials",
      client_assertion_type: "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
      client_assertion: clientAssertion(key, String(authorization["clientId"]), tokenUrl),
    },
  });
}

export async function openSession(fake: FakeAdo, poolId: number, agentId: number, auth: string): Promise<CallResult> {
  return call(fake, `/_apis/distributedtask/pools/${poolId}/sessions`, {
    method: "POST",
    auth,
    apiVersion: API.sessions,
    json: { sessionId: "00000000-0000-0000-0000-000000000000", ownerName: "test", agent: { id: agentId, name: "x", version: "4.264.2" } },
  });
}

export function poll(fake: FakeAdo, poolId: number, sessionId: string, auth: string, lastMessageId?: number): Promise<CallResult> {
  const last = lastMessageId === undefined ? "" : `&lastMessageId=${lastMessageId}`;
  return call(fake, `/_apis/distributedtask/pools/${poolId}/messages?sessionId=${sessionId}${last}`, { auth });
}

export function patchJob(fake: FakeAdo, poolId: number, requestId: number, auth: string, body: Record<string, unknown>): Promise<CallResult> {
  return call(fake, `/_apis/distributedtask/pools/${poolId}/jobrequests/${requestId}?lockToken=00000000-0000-0000-0000-000000000000`, {
    method: "PATCH",
    auth,
    apiVersion: API.jobrequests,
    json: { requestId, ...body },
  });
}

/**
 * Acts as a minimal agent over REST with a PAT: registers, opens a session and polls until the
 * next job message arrives. Returns what a test needs to move the job on. `enqueue`: a job to
 * queue once the agent is registered — so that, as in Azure DevOps, an agent matches it when it
 * is queued (a fake with `whenNoAgentMatches: "fail"` refuses a job queued into an empty pool);
 * its request ids come back as `enqueued`.
 */
export async function takeNextJob(
  fake: FakeAdo,
  poolId: number,
  name: string,
  auth: string,
  options: { enqueue?: EnqueueJobsRequest } = {},
): Promise<{ agentId: number; sessionId: string; requestId: number; jobMessage: Record<string, unknown>; messageId: number; enqueued: number[] }> {
  const { agent } = await registerAgent(fake, poolId, name, auth);
  const agentId = Number(agent["id"]);
  const enqueued = options.enqueue ? fake.enqueueJobs(poolId, options.enqueue) : [];
  const session = obj((await openSession(fake, poolId, agentId, auth)).body);
  const sessionId = String(session["sessionId"]);
  for (let attempt = 0; attempt < 20; attempt++) {
    const result = await poll(fake, poolId, sessionId, auth);
    if (result.status === 200) {
      const message = obj(result.body);
      const jobMessage = obj(JSON.parse(String(message["body"])) as unknown);
      return { agentId, sessionId, requestId: Number(jobMessage["requestId"]), jobMessage, messageId: Number(message["messageId"]), enqueued };
    }
  }
  throw new Error(`agent ${name} got no job`);
}

/** Resolves once every job has finished (any result), with their final views in the order of `ids`. */
export function jobsFinished(fake: FakeAdo, ids: readonly number[], timeoutMs: number): Promise<JobView[]> {
  const what = ids.length === 1 ? `job ${String(ids[0])} to finish` : `${ids.length} jobs to finish`;
  return fake.waitFor(
    () => {
      const jobs = ids.map((id) => fake.job(id));
      return jobs.every((job) => job.state === "finished") ? jobs : undefined;
    },
    { timeoutMs, what },
  );
}

/** One job's final view, once it has finished. */
export async function jobFinished(fake: FakeAdo, id: number, timeoutMs: number): Promise<JobView> {
  const [job] = await jobsFinished(fake, [id], timeoutMs);
  if (job === undefined) throw new Error(`no view of job ${id}`);
  return job;
}

/**
 * The three forms in which the KEDA scaler asks for a pool's job requests (contract §3.9, §5):
 * `$top` (default `jobsToFetch`), `completedRequestCount=0` (`fetchUnfinishedJobsOnly`) and
 * `none` (no query: `parent`). `other`: any other query (agentId, planId, another count, ...).
 * `api-version` is ignored when classifying.
 */
export type JobRequestPollForm = "$top" | "completedRequestCount=0" | "none" | "other";

export interface JobRequestPoll {
  seq: number;
  time: string;
  poolId: number;
  form: JobRequestPollForm;
  /** The `$top` value as sent (KEDA: jobsToFetch, default 250); undefined without `$top`. */
  top: number | undefined;
  status: number;
  /** User-Agent as logged; "(none)" when the caller sent none. */
  caller: string;
  principal: string;
  path: string;
}

export type JobRequestPollCounts = Record<JobRequestPollForm, number>;

export interface JobRequestPolls {
  /** Every `GET .../pools/{id}/jobrequests` (not `jobrequests/{requestId}`), in log order. */
  polls: JobRequestPoll[];
  byForm: Record<JobRequestPollForm, JobRequestPoll[]>;
  /** Per User-Agent (KEDA's Go client, the image's curl, ...), how many calls of each form. */
  byCaller: Record<string, JobRequestPollCounts>;
}

const JOB_REQUESTS_PATH = /^\/[^/]+\/_apis\/distributedtask\/pools\/(\d+)\/jobrequests\/?$/i;

function pollForm(query: URLSearchParams): JobRequestPollForm {
  // The service lets $top override completedRequestCount (§3.9), so a URL with both is "$top".
  if (query.has("$top")) return "$top";
  const keys = [...query.keys()].filter((key) => key.toLowerCase() !== "api-version");
  if (keys.length === 0) return "none";
  if (keys.length === 1 && keys[0] === "completedRequestCount" && query.get("completedRequestCount") === "0") return "completedRequestCount=0";
  return "other";
}

const emptyCounts = (): JobRequestPollCounts => ({ "$top": 0, "completedRequestCount=0": 0, none: 0, other: 0 });

/**
 * The scaler's job-request polls from the fake's request log (path and query as received, and the
 * User-Agent), grouped by form and by caller. `since`: only log entries with `seq` greater than it
 * (as `GET /_fake/requests?since=`); `poolId`: only that pool's.
 */
export function jobRequestPolls(source: FakeAdo | readonly RequestLogEntry[], since?: number, poolId?: number): JobRequestPolls {
  const entries = Array.isArray(source) ? (source as readonly RequestLogEntry[]) : (source as FakeAdo).requests();
  const polls: JobRequestPoll[] = [];
  for (const entry of entries) {
    if (entry.method !== "GET" || (since !== undefined && entry.seq <= since)) continue;
    const url = new URL(entry.path, "http://fake.invalid");
    const match = JOB_REQUESTS_PATH.exec(url.pathname);
    if (!match) continue;
    const pool = Number(match[1]);
    if (poolId !== undefined && pool !== poolId) continue;
    const form = pollForm(url.searchParams);
    const top = url.searchParams.get("$top");
    polls.push({
      seq: entry.seq,
      time: entry.time,
      poolId: pool,
      form,
      top: top === null ? undefined : Number(top),
      status: entry.status,
      caller: entry.userAgent ?? "(none)",
      principal: entry.principal,
      path: entry.path,
    });
  }
  const byForm = { "$top": [], "completedRequestCount=0": [], none: [], other: [] } as Record<JobRequestPollForm, JobRequestPoll[]>;
  const byCaller = new Map<string, JobRequestPollCounts>();
  for (const poll of polls) {
    byForm[poll.form].push(poll);
    const counts = byCaller.get(poll.caller) ?? emptyCounts();
    counts[poll.form] += 1;
    byCaller.set(poll.caller, counts);
  }
  return { polls, byForm, byCaller: Object.fromEntries(byCaller) };
}
