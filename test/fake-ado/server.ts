// A faithful fake of the Azure DevOps Services endpoints that self-hosted agents, Microsoft's
// docker start.sh, the KEDA azure-pipelines scaler and a helm smoke test call. Spec:
// /work/shared/ado-contract.md (section numbers in comments refer to it). Test-only code.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { ADO_ROUTES, ScopeError, type Route } from "./ado-routes.ts";
import { AuthRegistry, authFailureResponse, type AuthFailureMode, type AuthFailureReason, type AuthOutcome } from "./auth.ts";
import {
  applyAuthControl,
  enqueue,
  handleControl,
  jobView,
  stateView,
  type AuthControlRequest,
  type EnqueueJobsRequest,
  type EnqueueJobsResponse,
  type JobView,
  type PoolView,
  type StateView,
} from "./control.ts";
import type { FakeAdoCore, PoolSeed, RequestContext, RequestLogEntry } from "./core.ts";
import { FakeEntra, type EntraControlRequest, type EntraView, type FakeEntraOptions } from "./entra.ts";
import { AdoError, adoErrors } from "./errors.ts";
import { checkApiVersion, requestedVersionText } from "./api-version.ts";
import { Query, matchRoute, normalizePath, sendAdoError, sendText } from "./http.ts";
import { FakeAdoModel, type AgentCredentialsMode, type NoAgentMatchesMode, type PoolType, type TaskResult } from "./model.ts";
import { PackageCatalog, type FakeAdoPackage } from "./packages.ts";
import { PermanentError, poll } from "../support/poll.ts";

export type { AuthFailureMode } from "./auth.ts";
export type { EntraApplicationSeed, EntraControlRequest, EntraSecretSeed, EntraStats, EntraView, FakeEntraOptions, FederatedCredentialSeed, IssuerTrust } from "./entra.ts";
export type { AuthControlRequest, EnqueueJobsRequest, EnqueueJobsResponse, JobView, PoolView, StateView, AgentView, SessionView } from "./control.ts";
export type { PoolSeed, RequestLogEntry } from "./core.ts";
export type { AgentCredentialsMode, JobSpec, JobState, NoAgentMatchesMode, PoolType, TaskResult } from "./model.ts";
export type { FakeAdoPackage, PackageType } from "./packages.ts";

/**
 * "fail", as Azure DevOps does; a test whose point is a job waiting with no agent asks for "queue"
 * on that enqueue (README).
 */
export const DEFAULT_WHEN_NO_AGENT_MATCHES: NoAgentMatchesMode = "fail";

export interface FakeAdoOptions {
  /** Interface to bind. @default "127.0.0.1" */
  host?: string;
  /** TCP port; 0 picks a free one. @default 0 */
  port?: number;
  /** Organization name: the fake serves `/{org}/_apis/...` (§1.1). @default "fakeorg" */
  org?: string;
  /** PATs that authenticate (Basic with any username, or Bearer). @default [] */
  pats?: string[];
  /** PATs answered with the "expired" 401 + X-TFS-ServiceError (§2). @default [] */
  expiredPats?: string[];
  /** Pools created at start (and again on reset); names or seeds. Ids count up from 1. @default [] */
  pools?: (string | PoolSeed)[];
  /** Agent packages offered by `packages/agent` and served from `/_downloads/...`. @default [] */
  packages?: FakeAdoPackage[];
  /**
   * "oauth": add/replace answers carry `authorization.clientId` + `authorizationUrl`, so agents
   * switch to JWT client-assertion tokens (Azure DevOps Services, §3.7 step 9). "pat": both are
   * omitted and the agent keeps using the PAT (Azure DevOps Server). @default "oauth"
   */
  agentCredentials?: AgentCredentialsMode;
  /** "html203": bad credentials get the 203 HTML sign-in page unless `X-TFS-FedAuthRedirect: Suppress` (§2). @default "ok" */
  authFailureMode?: AuthFailureMode;
  /** How long `GET messages` holds before answering 202 (the service holds ~50 s, §3.8). @default 1000 */
  messageHoldMs?: number;
  /** Lifetime of agent access tokens from the token endpoint. @default 3600 */
  accessTokenTtlSeconds?: number;
  /** Job lock duration after each renewal (§3.8 step 4); an expired lock ⇒ result `abandoned`. @default 300000 */
  jobLockMs?: number;
  /** A session with no poll for this long expires; its agent goes offline. @default 60000 */
  sessionIdleTimeoutMs?: number;
  /** Maximum items `jobrequests` returns (kedacore/keda#6819 reports 200). @default 200 */
  jobRequestsCap?: number;
  /**
   * A job whose demands no agent of the pool satisfies (offline and disabled agents count; an
   * empty pool satisfies nothing): "fail" ⇒ created finished with result `failed` and a
   * "No agent found in pool ..." statusMessage, as Azure DevOps does; "queue" ⇒ stays queued until
   * a matching agent registers (lenient: no real service does that). Each enqueue may override it.
   * @default DEFAULT_WHEN_NO_AGENT_MATCHES
   */
  whenNoAgentMatches?: NoAgentMatchesMode;
  /**
   * Origin used in links, downloadUrl and authorizationUrl (e.g. `http://fake-ado.ns.svc:8080`).
   * @default the scheme + Host header of each request
   */
  publicUrl?: string;
  /**
   * A second, https listener serving the same requests. When set, `downloadUrl` points at it: the
   * real package host is https, and the image refuses anything else (§3.3). @default none
   */
  tls?: { key: string | Buffer; cert: string | Buffer; port?: number };
  /**
   * The fake Microsoft Entra ID under `/_entra` (README "Fake Entra ID"): tenants, applications
   * with secrets and federated credentials, trusted OIDC issuers, organization members. Its access
   * tokens are accepted wherever a PAT is. @default no tenants, no applications
   */
  entra?: FakeEntraOptions;
}

export interface WaitForOptions {
  /** @default 10000 */
  timeoutMs?: number;
  /** Named in the timeout error. */
  what?: string;
}

export interface FakeAdo {
  /** Organization URL as clients configure it, e.g. `http://127.0.0.1:41234/fakeorg` (no trailing `/`). */
  readonly url: string;
  /** Server origin, e.g. `http://127.0.0.1:41234`; the control plane lives at `${baseUrl}/_fake`. */
  readonly baseUrl: string;
  readonly port: number;
  /** Port of the https listener (`tls`), if any. */
  readonly httpsPort: number | undefined;
  readonly org: string;
  /** Live model; read it in assertions, change state through the methods below. */
  readonly model: FakeAdoModel;
  /** Same as `GET /_fake/state`. */
  state(): StateView;
  /** Same as `GET /_fake/requests` (control-plane calls are not logged). */
  requests(): RequestLogEntry[];
  clearRequests(): void;
  /** Same as `POST /_fake/pools`. */
  createPool(name: string, poolType?: PoolType): PoolView;
  /** Same as `POST /_fake/pools/{poolId}/jobs`; returns the new request ids (rejected jobs have ids too: see enqueue()). */
  enqueueJobs(poolId: number, request: EnqueueJobsRequest): number[];
  /** Same as `POST /_fake/pools/{poolId}/jobs`, with its whole answer (queued or failed, and why). */
  enqueue(poolId: number, request: EnqueueJobsRequest): EnqueueJobsResponse;
  /** Same as `GET /_fake/jobs/{requestId}`. */
  job(requestId: number): JobView;
  /** Same as `POST /_fake/jobs/{requestId}/cancel`. */
  cancelJob(requestId: number): JobView;
  /** Same as `POST /_fake/jobs/{requestId}/complete`: finishes it server-side (no agent involved). */
  completeJob(requestId: number, result?: TaskResult): JobView;
  /** Same as `POST /_fake/auth`. */
  auth(request: AuthControlRequest): { mode: AuthFailureMode; validPats: number; expiredPats: number };
  /** AZURE_AUTHORITY_HOST for clients of the fake Entra ID: `${baseUrl}/_entra/` (the https listener serves it too). */
  readonly entraAuthorityHost: string;
  /** Same as `POST /_fake/entra` (each given table replaced; throws on invalid input) or, without a request, `GET /_fake/entra`. */
  entra(request?: EntraControlRequest): EntraView;
  /**
   * Resolves with the probe's first answer other than undefined, null or false (test/support/poll.ts),
   * re-checked on every state change and every 50 ms; a probe that throws ends the wait at once.
   */
  waitFor<T>(probe: () => T | undefined | null | false, options?: WaitForOptions): Promise<T>;
  /**
   * Fault injection: the next `times` authenticated requests whose method is `method` and whose
   * path contains `pathContains` are answered with `status` (a WrappedException body) instead of
   * being handled, as a degraded service would. Cleared by reset().
   */
  fault(method: string, pathContains: string, status: number, times?: number): void;
  /** Same as `POST /_fake/reset`: back to the seeded pools/PATs/mode; agents, jobs and the log are dropped. */
  reset(): void;
  close(): Promise<void>;
}

const HOST_HEADER = /^[A-Za-z0-9.\-:[\]]+$/;

function displayHost(host: string): string {
  if (host === "0.0.0.0" || host === "::" || host === "") return "127.0.0.1";
  return host.includes(":") ? `[${host}]` : host;
}

function describeError(error: unknown): string {
  return error instanceof Error ? (error.stack ?? error.message) : String(error);
}

export async function startFakeAdo(options: FakeAdoOptions = {}): Promise<FakeAdo> {
  const org = options.org ?? "fakeorg";
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(org) || ["_fake", "_downloads", "_entra"].includes(org.toLowerCase())) {
    throw new Error(`fake-ado: invalid org name '${org}'`);
  }
  const catalog = await PackageCatalog.load(options.packages ?? []);
  const model = new FakeAdoModel({
    agentCredentials: options.agentCredentials ?? "oauth",
    whenNoAgentMatches: options.whenNoAgentMatches ?? DEFAULT_WHEN_NO_AGENT_MATCHES,
    jobLockMs: options.jobLockMs ?? 300_000,
    sessionIdleTimeoutMs: options.sessionIdleTimeoutMs ?? 60_000,
  });
  let entra: FakeEntra;
  try {
    entra = new FakeEntra(options.entra ?? {});
  } catch (error) {
    throw new Error(`fake-ado: invalid entra options: ${error instanceof Error ? error.message : String(error)}`);
  }
  const auth = new AuthRegistry(options.authFailureMode ?? "ok", options.accessTokenTtlSeconds ?? 3600, (token) => entra.verifyAccessToken(token));
  const poolSeeds: PoolSeed[] = (options.pools ?? []).map((pool) => (typeof pool === "string" ? { name: pool } : pool));
  let logId = 0;
  let requestSeq = 0;

  const core: FakeAdoCore = {
    org,
    model,
    auth,
    entra,
    catalog,
    settings: {
      messageHoldMs: options.messageHoldMs ?? 1000,
      jobRequestsCap: options.jobRequestsCap ?? 200,
      publicUrl: options.publicUrl?.replace(/\/+$/, ""),
    },
    seeds: { pools: poolSeeds, pats: options.pats ?? [], expiredPats: options.expiredPats ?? [], authFailureMode: options.authFailureMode ?? "ok" },
    requestLog: [],
    boundOrigin: "",
    nextLogId: () => ++logId,
    applySeeds: () => {
      model.reset();
      auth.reset(core.seeds.authFailureMode, core.seeds.pats, core.seeds.expiredPats);
      entra.reset();
      for (const seed of core.seeds.pools) model.createPool(seed.name, seed.poolType ?? "automation", seed.id);
    },
  };
  core.applySeeds();

  let httpsPort: number | undefined;
  const originOf = (req: IncomingMessage): string => {
    if (core.settings.publicUrl) return core.settings.publicUrl;
    const host = req.headers.host;
    const scheme = "encrypted" in req.socket && req.socket.encrypted ? "https" : "http";
    return host && HOST_HEADER.test(host) ? `${scheme}://${host}` : core.boundOrigin;
  };
  /** Where package downloads are served: the https listener when there is one, on the host the client used. */
  const downloadOriginOf = (req: IncomingMessage): string => {
    const origin = originOf(req);
    if (httpsPort === undefined) return origin;
    const url = new URL(origin);
    return `https://${url.hostname.includes(":") ? `[${url.hostname}]` : url.hostname}:${httpsPort}`;
  };

  const findRoute = (method: string, segments: readonly string[]): { route: Route; params: Record<string, string> } | "method" | undefined => {
    let pathMatched = false;
    for (const route of ADO_ROUTES) {
      const params = matchRoute(route.template, segments);
      if (!params) continue;
      pathMatched = true;
      if (route.method === method || (method === "HEAD" && route.method === "GET")) return { route, params };
    }
    return pathMatched ? "method" : undefined;
  };

  const rejectAuth = (ctx: RequestContext, reason: AuthFailureReason, user: string, unprovisioned?: AuthOutcome["unprovisioned"]): void => {
    const suppressRedirect = String(ctx.req.headers["x-tfs-fedauthredirect"] ?? "").toLowerCase() === "suppress";
    const response = authFailureResponse(reason, { method: ctx.method, suppressRedirect, mode: core.auth.mode, origin: ctx.origin, user, unprovisioned });
    sendText(ctx.res, response.status, response.contentType, response.body, response.headers);
  };

  const faults: { method: string; pathContains: string; status: number; remaining: number }[] = [];

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const started = Date.now();
    const method = (req.method ?? "GET").toUpperCase();
    const url = new URL(req.url ?? "/", "http://fake.invalid");
    const path = normalizePath(url.pathname);
    const segments = path.split("/").filter((segment) => segment !== "");
    const query = new Query(url.searchParams);
    const origin = originOf(req);
    const ctx: RequestContext = {
      core,
      req,
      res,
      method,
      path,
      params: {},
      query,
      apiVersion: "7.1",
      origin,
      downloadOrigin: downloadOriginOf(req),
      base: { orgUrl: `${origin}/${org}` },
      principal: undefined,
    };

    if (segments[0]?.toLowerCase() === "_fake") {
      try {
        await handleControl(ctx, segments.slice(1));
      } catch (error) {
        if (error instanceof AdoError) sendAdoError(res, error);
        else throw error;
      }
      return;
    }

    const outcome = core.auth.authenticate(req.headers.authorization);
    const entry: RequestLogEntry = {
      seq: ++requestSeq,
      time: new Date(started).toISOString(),
      method,
      path: req.url ?? "/",
      status: 0,
      durationMs: 0,
      authScheme: outcome.scheme ?? null,
      basicUser: outcome.basicUser ?? null,
      principal: "anonymous",
      accept: req.headers.accept ?? null,
      contentType: req.headers["content-type"] ?? null,
      userAgent: req.headers["user-agent"] ?? null,
      fedAuthRedirect: typeof req.headers["x-tfs-fedauthredirect"] === "string" ? req.headers["x-tfs-fedauthredirect"] : null,
    };
    res.on("close", () => {
      // 499 (nginx's "client closed request"): the client went away before an answer, e.g. an
      // agent killing its long poll on shutdown.
      entry.status = res.headersSent ? res.statusCode : 499;
      entry.durationMs = Date.now() - started;
      core.requestLog.push(entry);
    });

    try {
      // The fake Entra ID: anonymous like login.microsoftonline.com; clients authenticate in the form body.
      if (segments[0]?.toLowerCase() === "_entra") {
        await entra.handle(req, res, method, segments.slice(1), `${origin}/_entra`);
        return;
      }
      // §3.4: package bytes are anonymous, like the real CDN.
      if (segments[0]?.toLowerCase() === "_downloads") {
        const download = core.catalog.byDownloadPath(path);
        if (!download || (method !== "GET" && method !== "HEAD")) throw adoErrors.resourceNotFound(path);
        await core.catalog.serve(download, method, res);
        return;
      }
      if (segments[0]?.toLowerCase() !== org.toLowerCase()) throw adoErrors.resourceNotFound(path);
      const rest = segments.slice(1);
      const found = findRoute(method, rest);
      const routeAuth = typeof found === "object" ? found.route.auth : "user";
      if (routeAuth !== "anonymous") {
        if (outcome.failure !== undefined || outcome.principal === undefined) {
          entry.principal = "rejected";
          rejectAuth(ctx, outcome.failure ?? "invalid", "", outcome.unprovisioned);
          return;
        }
        ctx.principal = outcome.principal;
        const agentName = outcome.principal.kind === "agent" ? (model.agents.get(outcome.principal.agentId)?.name ?? String(outcome.principal.agentId)) : "";
        entry.principal =
          outcome.principal.kind === "agent" ? `agent:${agentName}` : outcome.principal.servicePrincipal !== undefined ? `sp:${outcome.principal.servicePrincipal.objectId}` : "pat";
        // An agent's token is not a user's PAT: management routes refuse it (401).
        if (routeAuth === "user" && outcome.principal.kind === "agent") {
          rejectAuth(ctx, "invalid", agentName);
          return;
        }
      }
      if (found === undefined) throw adoErrors.resourceNotFound(path);
      if (found === "method") throw adoErrors.methodNotAllowed(method, path);
      ctx.params = found.params;
      const fault = faults.find((f) => f.remaining > 0 && f.method === method && (req.url ?? "").includes(f.pathContains));
      if (fault !== undefined) {
        fault.remaining -= 1;
        throw new AdoError(fault.status, "FakeInjectedFaultException", `fake Azure DevOps: injected HTTP ${fault.status} for ${method} ${path}`);
      }
      // §1.3: versioning is checked once the caller is authenticated and the route is known.
      if (found.route.resource !== undefined) {
        ctx.apiVersion = checkApiVersion(method, found.route.resource, requestedVersionText(query.get("api-version"), req.headers.accept));
      }
      await found.route.handle(ctx);
    } catch (error) {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (error instanceof ScopeError) {
        const principal = ctx.principal;
        rejectAuth(ctx, "invalid", principal?.kind === "agent" ? (model.agents.get(principal.agentId)?.name ?? "") : "");
        return;
      }
      if (error instanceof AdoError) {
        sendAdoError(res, error);
        return;
      }
      process.stderr.write(`fake-ado: ${method} ${req.url ?? ""} failed: ${describeError(error)}\n`);
      sendAdoError(res, new AdoError(500, "VssServiceException", "Internal error in fake-ado.", "Microsoft.VisualStudio.Services.Common.VssServiceException, Microsoft.VisualStudio.Services.Common"));
    }
  };

  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    handle(req, res).catch((error: unknown) => {
      process.stderr.write(`fake-ado: unhandled: ${describeError(error)}\n`);
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  };
  const server: Server = createServer(onRequest);
  // Long polls stay open for messageHoldMs; the default request timeout must not cut them.
  server.requestTimeout = 0;
  server.keepAliveTimeout = 5_000;
  const tlsServer = options.tls === undefined ? undefined : createHttpsServer({ key: options.tls.key, cert: options.tls.cert }, onRequest);

  const host = options.host ?? "127.0.0.1";
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  if (tlsServer !== undefined) {
    await new Promise<void>((resolve, reject) => {
      tlsServer.once("error", reject);
      tlsServer.listen(options.tls?.port ?? 0, host, () => resolve());
    });
    httpsPort = (tlsServer.address() as AddressInfo).port;
  }
  core.boundOrigin = core.settings.publicUrl ?? `http://${displayHost(host)}:${port}`;
  const baseUrl = core.boundOrigin;

  const sweeper = setInterval(() => {
    model.sweep();
    auth.sweep();
  }, 250);
  sweeper.unref();

  const fake: FakeAdo = {
    url: `${baseUrl}/${org}`,
    baseUrl,
    port,
    httpsPort,
    org,
    model,
    state: () => stateView(core),
    requests: () => [...core.requestLog],
    clearRequests: () => {
      core.requestLog.length = 0;
    },
    createPool: (name, poolType = "automation") => {
      const pool = model.createPool(name, poolType);
      return { id: pool.id, name: pool.name, poolType: pool.poolType, size: 0 };
    },
    enqueueJobs: (poolId, request) => enqueue(core, poolId, request).requestIds,
    enqueue: (poolId, request) => enqueue(core, poolId, request),
    job: (requestId) => jobView(core, model.job(requestId)),
    cancelJob: (requestId) => {
      const job = model.job(requestId);
      model.cancelJob(job);
      return jobView(core, job);
    },
    completeJob: (requestId, result = "succeeded") => {
      const job = model.job(requestId);
      model.finishJob(job, result);
      return jobView(core, job);
    },
    auth: (request) => applyAuthControl(core, request),
    entraAuthorityHost: `${baseUrl}/_entra/`,
    entra: (request) => (request === undefined ? entra.view(`${baseUrl}/_entra/`) : entra.configure(request, `${baseUrl}/_entra/`)),
    waitFor: <T>(probe: () => T | undefined | null | false, waitOptions: WaitForOptions = {}): Promise<T> =>
      poll(
        () => {
          // The probe reads the fake's own state: an error there does not go away by waiting.
          try {
            return probe();
          } catch (error) {
            throw new PermanentError(error instanceof Error ? error.message : String(error), { cause: error });
          }
        },
        { what: waitOptions.what ?? "condition", timeoutMs: waitOptions.timeoutMs ?? 10_000, intervalMs: 50, wake: (recheck) => model.onChange(recheck) },
      ),
    fault: (method, pathContains, status, times = 1) => {
      faults.push({ method: method.toUpperCase(), pathContains, status, remaining: times });
    },
    reset: () => {
      faults.length = 0;
      core.applySeeds();
      core.requestLog.length = 0;
    },
    close: async () => {
      clearInterval(sweeper);
      model.reset();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      if (tlsServer !== undefined) {
        await new Promise<void>((resolve) => {
          tlsServer.close(() => resolve());
          tlsServer.closeAllConnections();
        });
      }
    },
  };
  return fake;
}
