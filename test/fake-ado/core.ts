// Shared server internals handed to the route modules (REST and control plane).
import type { IncomingMessage, ServerResponse } from "node:http";
import type { AuthFailureMode, AuthRegistry, Principal } from "./auth.ts";
import type { FakeEntra } from "./entra.ts";
import type { Query } from "./http.ts";
import type { FakeAdoModel, PoolType } from "./model.ts";
import type { PackageCatalog } from "./packages.ts";
import type { LinkBase } from "./wire.ts";

/** One line of the request log (`GET /_fake/requests`). Secrets are never recorded. */
export interface RequestLogEntry {
  seq: number;
  /** ISO-8601 time the request arrived. */
  time: string;
  method: string;
  /** Path and query exactly as received, e.g. `/fakeorg/_apis/distributedtask/pools?poolName=x&poolType=Automation`. */
  path: string;
  /** HTTP status sent; 499 when the client disconnected before any answer. */
  status: number;
  durationMs: number;
  /** Scheme of the Authorization header (`Basic`, `Bearer`, ...) or null if absent. */
  authScheme: string | null;
  /** Basic username (the part before `:`), never the password. */
  basicUser: string | null;
  /** Who the fake took the caller for: `pat`, `sp:<service principal object id>` (Entra token), `agent:<name>`, `anonymous` or `rejected`. */
  principal: string;
  accept: string | null;
  contentType: string | null;
  userAgent: string | null;
  /** Value of `X-TFS-FedAuthRedirect` (the .NET client sends `Suppress`). */
  fedAuthRedirect: string | null;
}

export interface PoolSeed {
  name: string;
  id?: number;
  /** @default "automation" */
  poolType?: PoolType;
}

export interface CoreSettings {
  messageHoldMs: number;
  jobRequestsCap: number;
  publicUrl: string | undefined;
}

export interface Seeds {
  pools: PoolSeed[];
  pats: string[];
  expiredPats: string[];
  authFailureMode: AuthFailureMode;
}

export interface FakeAdoCore {
  org: string;
  model: FakeAdoModel;
  auth: AuthRegistry;
  /** The fake Entra ID under `/_entra` (entra.ts). */
  entra: FakeEntra;
  catalog: PackageCatalog;
  settings: CoreSettings;
  seeds: Seeds;
  requestLog: RequestLogEntry[];
  /** Origin used when no request is at hand (bound address). */
  boundOrigin: string;
  nextLogId: () => number;
  /** Re-creates the seeded state (pools, PATs, auth mode); used by reset and at startup. */
  applySeeds: () => void;
}

export interface RequestContext {
  core: FakeAdoCore;
  req: IncomingMessage;
  res: ServerResponse;
  method: string;
  /** Normalized path (no `//`, no trailing `/`). */
  path: string;
  params: Record<string, string>;
  query: Query;
  apiVersion: string;
  /** Scheme + host the client used (or `publicUrl`), e.g. `http://127.0.0.1:8080`. */
  origin: string;
  /** Origin of package downloads: the https listener when the fake has one, else `origin`. */
  downloadOrigin: string;
  base: LinkBase;
  principal: Principal | undefined;
}
