// In-memory state of the fake organization: pools, agents, sessions, message queues and job
// requests, plus the rules that move a job request through queued → assigned → received → finished
// (contract §3.8–§3.9). No HTTP here: routes translate requests into calls on this model.
import { EventEmitter } from "node:events";
import { randomUUID } from "node:crypto";
import { AdoError, adoErrors } from "./errors.ts";
import { jobCancelMessageBody, jobRequestMessageBody } from "./wire.ts";

export type PoolType = "automation" | "deployment";
export type AgentCredentialsMode = "oauth" | "pat";
export const TASK_RESULTS = ["succeeded", "succeededWithIssues", "failed", "canceled", "skipped", "abandoned"] as const;
export type TaskResult = (typeof TASK_RESULTS)[number];
export type JobState = "queued" | "assigned" | "received" | "finished";
/**
 * What enqueueing does when no agent of the pool, online or offline, satisfies a job's demands:
 * "fail" as Azure DevOps does (the request is created finished, result `failed`); "queue" keeps it
 * queued until a matching agent registers (the fake's behaviour before, and no service's).
 */
export type NoAgentMatchesMode = "fail" | "queue";
export const NO_AGENT_MATCHES_MODES = ["fail", "queue"] as const;

export interface PoolRecord {
  id: number;
  name: string;
  poolType: PoolType;
  createdOn: number;
  scope: string;
}

/** RSA public key as the agent sends it: base64 big-endian bytes (Newtonsoft `byte[]`, contract §1.4). */
export interface PublicKey {
  exponent: string;
  modulus: string;
}

export interface AgentRecord {
  id: number;
  poolId: number;
  name: string;
  version: string;
  osDescription: string;
  enabled: boolean;
  provisioningState: string;
  maxParallelism: number;
  createdOn: number;
  statusChangedOn: number;
  systemCapabilities: Record<string, string>;
  userCapabilities: Record<string, string>;
  publicKey: PublicKey | undefined;
  /** Set when the pool hands out OAuth credentials (§3.7 step 9); undefined in "pat" mode. */
  clientId: string | undefined;
}

/** Fields a client may set when adding/replacing/updating an agent. */
export interface AgentInput {
  name?: string;
  version?: string;
  osDescription?: string;
  enabled?: boolean;
  maxParallelism?: number;
  provisioningState?: string;
  systemCapabilities?: Record<string, string>;
  userCapabilities?: Record<string, string>;
  publicKey?: PublicKey;
}

export interface MessageRecord {
  messageId: number;
  messageType: "PipelineAgentJobRequest" | "JobCancellation";
  body: string;
  requestId: number;
}

interface Waiter {
  since: number;
  orgUrl: string;
  lastMessageId: number | undefined;
  deliver: (message: MessageRecord | undefined) => void;
}

export interface SessionRecord {
  sessionId: string;
  poolId: number;
  agentId: number;
  ownerName: string;
  createdOn: number;
  lastSeen: number;
  queue: MessageRecord[];
  waiters: Waiter[];
}

/** What a test enqueues: the script becomes the job's only pipeline step (a CmdLine task). */
export interface JobSpec {
  script: string;
  /** @default "Job" */
  displayName?: string;
  /** Demand strings as on the wire (§1.4), e.g. `"maven"`, `"Agent.OS -equals Linux"`. @default [] */
  demands?: string[];
  /** Extra pipeline variables; the agent exports them as upper-case env vars (`a.b` → `A_B`). @default {} */
  variables?: Record<string, string>;
  /** Overrides the fake's `whenNoAgentMatches` for this enqueue. @default the fake's setting */
  whenNoAgentMatches?: NoAgentMatchesMode;
}

export interface JobRecord {
  requestId: number;
  poolId: number;
  planId: string;
  jobId: string;
  timelineId: string;
  hostId: string;
  scopeId: string;
  orchestrationId: string;
  displayName: string;
  script: string;
  demands: string[];
  variables: Record<string, string>;
  buildId: number;
  buildNumber: string;
  queueTime: number;
  assignTime: number | undefined;
  receiveTime: number | undefined;
  finishTime: number | undefined;
  lockedUntil: number | undefined;
  result: TaskResult | undefined;
  /** Why the service finished it by itself, e.g. "No agent found in pool ..." (TaskAgentJobRequest.statusMessage). */
  statusMessage: string | undefined;
  reservedAgentId: number | undefined;
  /** Name kept after the agent is deleted, so finished jobs still say who ran them. */
  reservedAgentName: string | undefined;
  cancelRequested: boolean;
  output: string | undefined;
  exitCode: number | undefined;
}

export interface ModelSettings {
  agentCredentials: AgentCredentialsMode;
  whenNoAgentMatches: NoAgentMatchesMode;
  jobLockMs: number;
  sessionIdleTimeoutMs: number;
}

const MAX_OUTPUT_CHARS = 1024 * 1024;

export function isTaskResult(value: unknown): value is TaskResult {
  return typeof value === "string" && (TASK_RESULTS as readonly string[]).includes(value);
}

/**
 * A .NET `System.Version` as the SDK's `DemandMinimumVersion.ParseVersion` reads it: anything from
 * the first `-` (at index > 0) is dropped, then 2–4 dot-separated non-negative Int32 parts; absent
 * Build/Revision are -1 (so "2.1" < "2.1.0"). Undefined when it does not parse. Stricter than
 * `Version.TryParse` in one way: no whitespace or sign inside a part [I].
 */
export function parseDemandVersion(text: string): number[] | undefined {
  const dash = text.indexOf("-");
  const core = dash > 0 ? text.slice(0, dash) : text;
  const parts = core.split(".");
  if (parts.length < 2 || parts.length > 4 || parts.some((part) => !/^\d+$/.test(part) || Number(part) > 2_147_483_647)) return undefined;
  const numbers = parts.map(Number);
  while (numbers.length < 4) numbers.push(-1);
  return numbers;
}

/** `DemandMinimumVersion.CompareVersion`: an unparsable version sorts below any parsable one. */
function compareDemandVersions(left: string, right: string): number {
  const a = parseDemandVersion(left);
  const b = parseDemandVersion(right);
  if (a === undefined || b === undefined) return a === b ? 0 : a === undefined ? -1 : 1;
  for (let index = 0; index < 4; index++) {
    const difference = (a[index] ?? -1) - (b[index] ?? -1);
    if (difference !== 0) return Math.sign(difference);
  }
  return 0;
}

export type ParsedDemand = { name: string; operator: "exists" } | { name: string; operator: "equals" | "gtVersion"; value: string };

/**
 * `Demand.TryParse` of the Azure DevOps SDK [V actions/runner `src/Sdk/DTWebApi/WebApi/Demand.cs`]:
 * `^(?<name>\S+)(\s+\-(?<opcode>\S+)\s+(?<value>.*))?$`; opcodes `equals` and `gtVersion` only,
 * case-sensitive; `equals`/`gtVersion` need a non-empty value. Anything else does not parse
 * (undefined): the fake then lets no agent satisfy it [I, stricter than unknown].
 */
export function parseDemand(demand: string): ParsedDemand | undefined {
  const match = /^(\S+)(?:\s+-(\S+)\s+(.*))?$/.exec(demand);
  if (!match) return undefined;
  const [, name = "", opcode, value = ""] = match;
  if (opcode === undefined) return { name, operator: "exists" };
  if ((opcode === "equals" || opcode === "gtVersion") && value !== "") return { name, operator: opcode, value };
  return undefined;
}

/**
 * Whether capabilities (system ∪ user) satisfy one demand, as the SDK's `IsSatisfied` does:
 * capability names compare case-insensitively (docs `pool-demands.md`: "The comparison is not case
 * sensitive"); `-equals` values compare OrdinalIgnoreCase [V `DemandEquals.cs`; D "The comparisons
 * are not case sensitive"], literally (quotes are part of the value, azure-pipelines-agent#2996);
 * `-gtVersion v` ⇒ capability version ≥ v [V `DemandMinimumVersion.cs`].
 */
export function demandSatisfied(capabilities: Record<string, string>, demand: string): boolean {
  const parsed = parseDemand(demand);
  if (!parsed) return false;
  const wanted = parsed.name.toLowerCase();
  const entry = Object.entries(capabilities).find(([key]) => key.toLowerCase() === wanted);
  if (entry === undefined) return false;
  const actual = entry[1];
  switch (parsed.operator) {
    case "exists":
      return true;
    case "equals":
      return actual.toLowerCase() === parsed.value.toLowerCase();
    case "gtVersion":
      return compareDemandVersions(parsed.value, actual) <= 0;
  }
}

/** Every demand satisfied (§3.9 matchedAgents semantics); no demands ⇒ any agent. */
export function demandsSatisfied(capabilities: Record<string, string>, demands: readonly string[]): boolean {
  return demands.every((demand) => demandSatisfied(capabilities, demand));
}

/**
 * `statusMessage` of a job request no agent can take, in the service's words [R]:
 * "No agent found in pool P which satisfies the following demand: NAME. All demands: D1, D2"
 * (azure-pipelines-agent#2996, #4831) names the first demand no agent of the pool satisfies on its
 * own; when each is satisfied by some agent but none satisfies all (or there are no demands), the
 * older form "No agent found in pool P which satisfies the specified demands: D1, D2"
 * (azure-pipelines-agent#4258) [which form when: I].
 */
export function noAgentFoundMessage(poolName: string, demands: readonly string[], agentCapabilities: readonly Record<string, string>[]): string {
  const all = demands.length === 0 ? "(none)" : demands.join(", ");
  const unmet = demands.find((demand) => !agentCapabilities.some((capabilities) => demandSatisfied(capabilities, demand)));
  if (unmet !== undefined) return `No agent found in pool ${poolName} which satisfies the following demand: ${parseDemand(unmet)?.name ?? unmet}. All demands: ${all}`;
  return `No agent found in pool ${poolName} which satisfies the specified demands: ${all}`;
}

/** System ∪ user capabilities; a user capability replaces a system one of the same name in any case [I]. */
export function capabilitiesOf(agent: Pick<AgentRecord, "systemCapabilities" | "userCapabilities">): Record<string, string> {
  const merged = new Map<string, [string, string]>();
  for (const [name, value] of [...Object.entries(agent.systemCapabilities), ...Object.entries(agent.userCapabilities)]) merged.set(name.toLowerCase(), [name, value]);
  return Object.fromEntries(merged.values());
}

export class FakeAdoModel {
  readonly pools = new Map<number, PoolRecord>();
  readonly agents = new Map<number, AgentRecord>();
  readonly sessions = new Map<string, SessionRecord>();
  readonly jobs = new Map<number, JobRecord>();
  readonly settings: ModelSettings;
  private readonly events = new EventEmitter();
  private nextIds = { pool: 1, agent: 1, request: 1, message: 1 };

  constructor(settings: ModelSettings) {
    this.settings = settings;
    this.events.setMaxListeners(0);
  }

  /** Drops everything; parked long polls are answered (202) so clients move on. */
  reset(): void {
    for (const session of this.sessions.values()) this.releaseWaiters(session);
    this.pools.clear();
    this.agents.clear();
    this.sessions.clear();
    this.jobs.clear();
    this.nextIds = { pool: 1, agent: 1, request: 1, message: 1 };
    this.changed();
  }

  onChange(listener: () => void): () => void {
    this.events.on("change", listener);
    return () => this.events.off("change", listener);
  }

  private changed(): void {
    this.events.emit("change");
  }

  // ---- pools ---------------------------------------------------------------------------------

  createPool(name: string, poolType: PoolType = "automation", id?: number): PoolRecord {
    if (name.trim() === "") throw adoErrors.badRequest("Pool name must not be empty.");
    if (this.findPools({ name }).length > 0) {
      throw new AdoError(409, "TaskAgentPoolExistsException", `Agent pool ${name} already exists.`);
    }
    const poolId = id ?? this.nextIds.pool;
    if (this.pools.has(poolId)) throw new AdoError(409, "TaskAgentPoolExistsException", `Agent pool ${poolId} already exists.`);
    this.nextIds.pool = Math.max(this.nextIds.pool, poolId + 1);
    const pool: PoolRecord = { id: poolId, name, poolType, createdOn: Date.now(), scope: randomUUID() };
    this.pools.set(poolId, pool);
    this.changed();
    return pool;
  }

  pool(poolId: number): PoolRecord {
    const pool = this.pools.get(poolId);
    if (!pool) throw adoErrors.poolNotFound(poolId);
    return pool;
  }

  findPools(filter: { name?: string; poolType?: PoolType; ids?: number[] }): PoolRecord[] {
    return [...this.pools.values()].filter(
      (pool) =>
        // §3.5: poolName matches exactly but case-insensitively [I].
        (filter.name === undefined || pool.name.toLowerCase() === filter.name.toLowerCase()) &&
        (filter.poolType === undefined || pool.poolType === filter.poolType) &&
        (filter.ids === undefined || filter.ids.includes(pool.id)),
    );
  }

  agentsInPool(poolId: number): AgentRecord[] {
    return [...this.agents.values()].filter((agent) => agent.poolId === poolId);
  }

  // ---- agents --------------------------------------------------------------------------------

  agent(poolId: number, agentId: number): AgentRecord {
    this.pool(poolId);
    const agent = this.agents.get(agentId);
    if (!agent || agent.poolId !== poolId) throw adoErrors.agentNotFound(poolId, agentId);
    return agent;
  }

  findAgentByName(poolId: number, name: string): AgentRecord | undefined {
    return this.agentsInPool(poolId).find((agent) => agent.name.toLowerCase() === name.toLowerCase());
  }

  agentByClientId(clientId: string): AgentRecord | undefined {
    return [...this.agents.values()].find((agent) => agent.clientId !== undefined && agent.clientId === clientId);
  }

  addAgent(poolId: number, input: AgentInput): AgentRecord {
    this.pool(poolId);
    const name = input.name?.trim() ?? "";
    if (name === "") throw adoErrors.badRequest("Value cannot be null.\r\nParameter name: agent.Name");
    // §3.7.2: duplicate name ⇒ 409 TaskAgentExistsException.
    if (this.findAgentByName(poolId, name)) throw adoErrors.agentExists(poolId, name);
    const now = Date.now();
    const agent: AgentRecord = {
      id: this.nextIds.agent++,
      poolId,
      name,
      version: input.version ?? "",
      osDescription: input.osDescription ?? "",
      enabled: input.enabled ?? true,
      provisioningState: input.provisioningState ?? "Provisioned",
      maxParallelism: input.maxParallelism ?? 1,
      createdOn: now,
      statusChangedOn: now,
      systemCapabilities: input.systemCapabilities ?? {},
      userCapabilities: input.userCapabilities ?? {},
      publicKey: input.publicKey,
      clientId: this.settings.agentCredentials === "oauth" ? randomUUID() : undefined,
    };
    this.agents.set(agent.id, agent);
    this.changed();
    this.tryAssign();
    return agent;
  }

  /** §3.7.3: keeps the id; a new key means the previous holder of this registration is locked out. */
  replaceAgent(poolId: number, agentId: number, input: AgentInput): AgentRecord {
    const agent = this.agent(poolId, agentId);
    if (input.name !== undefined && input.name.trim() !== "" && input.name.toLowerCase() !== agent.name.toLowerCase()) {
      const clash = this.findAgentByName(poolId, input.name);
      if (clash && clash.id !== agent.id) throw adoErrors.agentExists(poolId, input.name);
      agent.name = input.name.trim();
    }
    if (input.version !== undefined) agent.version = input.version;
    if (input.osDescription !== undefined) agent.osDescription = input.osDescription;
    if (input.enabled !== undefined) agent.enabled = input.enabled;
    if (input.maxParallelism !== undefined) agent.maxParallelism = input.maxParallelism;
    if (input.provisioningState !== undefined) agent.provisioningState = input.provisioningState;
    if (input.systemCapabilities !== undefined) agent.systemCapabilities = input.systemCapabilities;
    if (input.userCapabilities !== undefined) agent.userCapabilities = input.userCapabilities;
    if (input.publicKey !== undefined) agent.publicKey = input.publicKey;
    // §3.7.3 [I]: the old listener's session is invalidated; its received job can no longer be
    // finished by anyone, so it is abandoned now instead of blocking the new registration.
    for (const session of this.sessionsOfAgent(agent.id)) this.endSession(session, { abandonReceived: true });
    this.changed();
    return agent;
  }

  updateAgent(poolId: number, agentId: number, input: AgentInput): AgentRecord {
    const agent = this.agent(poolId, agentId);
    if (input.enabled !== undefined) agent.enabled = input.enabled;
    if (input.maxParallelism !== undefined) agent.maxParallelism = input.maxParallelism;
    if (input.userCapabilities !== undefined) agent.userCapabilities = input.userCapabilities;
    this.changed();
    this.tryAssign();
    return agent;
  }

  /** §3.8 step 1: the capabilities a listener reports when it opens a session replace the system ones. */
  reportCapabilities(agentId: number, systemCapabilities: Record<string, string>): void {
    const agent = this.agents.get(agentId);
    if (!agent) return;
    agent.systemCapabilities = systemCapabilities;
    this.changed();
    this.tryAssign();
  }

  /** §3.7.6: an agent holding an unfinished request refuses deletion. */
  deleteAgent(poolId: number, agentId: number): void {
    const agent = this.agent(poolId, agentId);
    if (this.currentJob(agent.id)) throw adoErrors.agentBusy(agent.name, this.pool(poolId).name);
    for (const session of this.sessionsOfAgent(agent.id)) this.endSession(session, { abandonReceived: false });
    this.agents.delete(agent.id);
    this.changed();
  }

  currentJob(agentId: number): JobRecord | undefined {
    return [...this.jobs.values()].find((job) => job.reservedAgentId === agentId && job.result === undefined);
  }

  lastCompletedJob(agentId: number): JobRecord | undefined {
    return [...this.jobs.values()]
      .filter((job) => job.reservedAgentId === agentId && job.result !== undefined)
      .sort((a, b) => (b.finishTime ?? 0) - (a.finishTime ?? 0))[0];
  }

  liveSession(agentId: number): SessionRecord | undefined {
    return this.sessionsOfAgent(agentId).find((session) => this.isLive(session));
  }

  isOnline(agentId: number): boolean {
    return this.liveSession(agentId) !== undefined;
  }

  /** Any authenticated call by an agent proves it is alive (keeps its session from idling out). */
  touchAgent(agentId: number): void {
    for (const session of this.sessionsOfAgent(agentId)) session.lastSeen = Date.now();
  }

  // ---- sessions and messages (§3.8) ----------------------------------------------------------

  private sessionsOfAgent(agentId: number): SessionRecord[] {
    return [...this.sessions.values()].filter((session) => session.agentId === agentId);
  }

  private isLive(session: SessionRecord): boolean {
    return session.waiters.length > 0 || Date.now() - session.lastSeen <= this.settings.sessionIdleTimeoutMs;
  }

  createSession(poolId: number, agentId: number, ownerName: string): SessionRecord {
    const agent = this.agent(poolId, agentId);
    const existing = this.sessionsOfAgent(agentId);
    if (existing.some((session) => this.isLive(session))) throw adoErrors.sessionConflict(agent.name);
    for (const stale of existing) this.endSession(stale, { abandonReceived: false });
    const now = Date.now();
    const session: SessionRecord = { sessionId: randomUUID(), poolId, agentId, ownerName, createdOn: now, lastSeen: now, queue: [], waiters: [] };
    this.sessions.set(session.sessionId, session);
    agent.statusChangedOn = now;
    this.changed();
    return session;
  }

  session(poolId: number, sessionId: string): SessionRecord {
    const session = this.sessions.get(sessionId.toLowerCase());
    if (!session || session.poolId !== poolId || !this.isLive(session)) throw adoErrors.sessionExpired(sessionId);
    return session;
  }

  deleteSession(poolId: number, sessionId: string): void {
    const session = this.sessions.get(sessionId.toLowerCase());
    if (!session || session.poolId !== poolId) return;
    this.endSession(session, { abandonReceived: false });
  }

  /**
   * Ends a session. Jobs assigned but not yet received go back to the queue (the agent never
   * started them); received jobs either wait for their lock to expire (sweep ⇒ abandoned) or,
   * after a replace, are abandoned at once.
   */
  private endSession(session: SessionRecord, options: { abandonReceived: boolean }): void {
    this.sessions.delete(session.sessionId);
    this.releaseWaiters(session);
    const agent = this.agents.get(session.agentId);
    if (agent) agent.statusChangedOn = Date.now();
    for (const job of this.jobs.values()) {
      if (job.reservedAgentId !== session.agentId || job.result !== undefined) continue;
      if (job.receiveTime === undefined) this.requeue(job);
      else if (options.abandonReceived) this.finishJob(job, "abandoned");
    }
    this.changed();
    this.tryAssign();
  }

  private releaseWaiters(session: SessionRecord): void {
    for (const waiter of [...session.waiters]) waiter.deliver(undefined);
    session.waiters.length = 0;
  }

  private firstMessage(session: SessionRecord, lastMessageId: number | undefined): MessageRecord | undefined {
    return session.queue.find((message) => lastMessageId === undefined || message.messageId > lastMessageId);
  }

  /**
   * Long poll (§3.8 step 2): answers at once with the first undeleted message, otherwise parks
   * the poll — an agent that is polling is what makes it eligible for a queued job.
   */
  poll(session: SessionRecord, lastMessageId: number | undefined, holdMs: number, orgUrl: string, signal: AbortSignal): Promise<MessageRecord | undefined> {
    session.lastSeen = Date.now();
    const pending = this.firstMessage(session, lastMessageId);
    if (pending) return Promise.resolve(pending);
    return new Promise((resolve) => {
      let done = false;
      const finish = (message: MessageRecord | undefined): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        signal.removeEventListener("abort", onAbort);
        const index = session.waiters.indexOf(waiter);
        if (index >= 0) session.waiters.splice(index, 1);
        session.lastSeen = Date.now();
        resolve(message);
      };
      const onAbort = (): void => finish(undefined);
      const waiter: Waiter = { since: Date.now(), orgUrl, lastMessageId, deliver: finish };
      const timer = setTimeout(() => finish(undefined), holdMs);
      signal.addEventListener("abort", onAbort, { once: true });
      session.waiters.push(waiter);
      this.tryAssign();
    });
  }

  deleteMessage(session: SessionRecord, messageId: number): void {
    const index = session.queue.findIndex((message) => message.messageId === messageId);
    if (index >= 0) session.queue.splice(index, 1);
    session.lastSeen = Date.now();
    this.changed();
  }

  private pushMessage(session: SessionRecord, messageType: MessageRecord["messageType"], body: string, requestId: number): void {
    const message: MessageRecord = { messageId: this.nextIds.message++, messageType, body, requestId };
    session.queue.push(message);
    session.waiters[0]?.deliver(message);
  }

  // ---- job requests (§3.9) -------------------------------------------------------------------

  /**
   * Creates `count` job requests. When no agent of the pool — online or offline, enabled or
   * disabled — satisfies the demands (an empty pool included), Azure DevOps refuses the job at once
   * ("No agent found in pool ..." [R azure-pipelines-agent#2996, #4258]): with `whenNoAgentMatches`
   * "fail" the requests are created finished (`failed`, finishTime = queueTime, never assigned,
   * `statusMessage` saying why). The check is made here only: a queued job whose matching agents
   * are deleted later stays queued, as the service keeps it until an agent comes or it times out [I].
   */
  enqueueJobs(poolId: number, spec: JobSpec, count = 1): JobRecord[] {
    const pool = this.pool(poolId);
    if (typeof spec.script !== "string") throw adoErrors.badRequest("A job needs a 'script' string.");
    const demands = [...(spec.demands ?? [])];
    const agents = this.agentsInPool(poolId);
    const mode = spec.whenNoAgentMatches ?? this.settings.whenNoAgentMatches;
    const rejection =
      mode === "fail" && this.agentsMatching(poolId, demands).length === 0
        ? noAgentFoundMessage(pool.name, demands, agents.map(capabilitiesOf))
        : undefined;
    const created: JobRecord[] = [];
    for (let index = 0; index < count; index++) {
      const requestId = this.nextIds.request++;
      const planId = randomUUID();
      const queueTime = Date.now();
      const day = new Date(queueTime).toISOString().slice(0, 10).replace(/-/g, "");
      const job: JobRecord = {
        requestId,
        poolId,
        planId,
        jobId: randomUUID(),
        timelineId: randomUUID(),
        hostId: randomUUID(),
        scopeId: randomUUID(),
        orchestrationId: `${planId}.job.__default`,
        displayName: spec.displayName ?? "Job",
        script: spec.script,
        demands: [...demands],
        variables: { ...(spec.variables ?? {}) },
        buildId: requestId,
        buildNumber: `${day}.${requestId}`,
        queueTime,
        assignTime: undefined,
        receiveTime: undefined,
        finishTime: rejection === undefined ? undefined : queueTime,
        lockedUntil: undefined,
        result: rejection === undefined ? undefined : "failed",
        statusMessage: rejection,
        reservedAgentId: undefined,
        reservedAgentName: undefined,
        cancelRequested: false,
        output: undefined,
        exitCode: undefined,
      };
      this.jobs.set(requestId, job);
      created.push(job);
    }
    this.changed();
    this.tryAssign();
    return created;
  }

  job(requestId: number): JobRecord {
    const job = this.jobs.get(requestId);
    if (!job) throw adoErrors.jobNotFound(requestId);
    return job;
  }

  jobsInPool(poolId: number): JobRecord[] {
    return [...this.jobs.values()].filter((job) => job.poolId === poolId);
  }

  jobByPlan(planId: string): JobRecord | undefined {
    return [...this.jobs.values()].find((job) => job.planId.toLowerCase() === planId.toLowerCase());
  }

  jobState(job: JobRecord): JobState {
    if (job.result !== undefined) return "finished";
    if (job.receiveTime !== undefined) return "received";
    if (job.reservedAgentId !== undefined) return "assigned";
    return "queued";
  }

  /**
   * Agents of the pool whose capabilities satisfy the demands (§3.9): offline ones included (the
   * KEDA parent template is offline [D]) and disabled ones too — a disabled agent gets no new job
   * [R azure-pipelines-agent#2085] but still counts as a match, so the job waits [I].
   */
  agentsMatching(poolId: number, demands: readonly string[]): AgentRecord[] {
    return this.agentsInPool(poolId).filter((agent) => demandsSatisfied(capabilitiesOf(agent), demands));
  }

  matchedAgents(job: JobRecord): AgentRecord[] {
    return this.agentsMatching(job.poolId, job.demands);
  }

  /**
   * A queued job goes to an enabled, idle agent of its pool that is polling right now and offers
   * the demands; the agent that has waited longest wins. One job per agent.
   */
  private tryAssign(): void {
    const queued = [...this.jobs.values()].filter((job) => this.jobState(job) === "queued").sort((a, b) => a.requestId - b.requestId);
    for (const job of queued) {
      const candidates = [...this.sessions.values()]
        .filter((session) => {
          const agent = this.agents.get(session.agentId);
          return (
            session.poolId === job.poolId &&
            session.waiters.length > 0 &&
            agent !== undefined &&
            agent.enabled &&
            this.currentJob(agent.id) === undefined &&
            demandsSatisfied(capabilitiesOf(agent), job.demands)
          );
        })
        .sort((a, b) => (a.waiters[0]?.since ?? 0) - (b.waiters[0]?.since ?? 0));
      const session = candidates[0];
      const agent = session ? this.agents.get(session.agentId) : undefined;
      const waiter = session?.waiters[0];
      if (!session || !agent || !waiter) continue;
      job.assignTime = Date.now();
      job.reservedAgentId = agent.id;
      job.reservedAgentName = agent.name;
      this.pushMessage(session, "PipelineAgentJobRequest", JSON.stringify(jobRequestMessageBody(job, waiter.orgUrl)), job.requestId);
      this.changed();
    }
  }

  private requeue(job: JobRecord): void {
    job.assignTime = undefined;
    job.reservedAgentId = undefined;
    job.reservedAgentName = undefined;
    job.lockedUntil = undefined;
  }

  /** §3.8 step 4: the first renewal marks the request received (KEDA ≥ 2.20 stops counting it). */
  renewJobLock(job: JobRecord): void {
    if (job.result !== undefined) return;
    if (job.reservedAgentId === undefined) throw adoErrors.badRequest(`Job request ${job.requestId} is not assigned to an agent.`);
    const now = Date.now();
    job.receiveTime ??= now;
    job.lockedUntil = now + this.settings.jobLockMs;
    this.changed();
  }

  /** Returns false when the request had already finished (first result wins). */
  finishJob(job: JobRecord, result: TaskResult): boolean {
    if (job.result !== undefined) return false;
    job.result = result;
    job.finishTime = Date.now();
    // A job message the agent never fetched must not start a finished job.
    for (const session of this.sessions.values()) {
      session.queue = session.queue.filter((message) => message.requestId !== job.requestId);
    }
    this.changed();
    this.tryAssign();
    return true;
  }

  /**
   * Test-driven cancellation: a queued job (or one whose job message is still undelivered) is
   * finished as canceled here; a job the agent has taken gets a JobCancellation message (§3.8).
   */
  cancelJob(job: JobRecord): void {
    if (job.result !== undefined) throw new AdoError(409, "TaskAgentJobNotFoundException", `Job request ${job.requestId} has already finished.`);
    const session = job.reservedAgentId === undefined ? undefined : this.liveSession(job.reservedAgentId);
    const jobMessagePending = session?.queue.some((message) => message.requestId === job.requestId && message.messageType === "PipelineAgentJobRequest");
    if (!session || jobMessagePending) {
      this.finishJob(job, "canceled");
      return;
    }
    job.cancelRequested = true;
    this.pushMessage(session, "JobCancellation", JSON.stringify(jobCancelMessageBody(job)), job.requestId);
    this.changed();
  }

  recordLog(job: JobRecord, output: string, exitCode: number | undefined): void {
    const combined = (job.output ?? "") + output;
    job.output = combined.length > MAX_OUTPUT_CHARS ? combined.slice(combined.length - MAX_OUTPUT_CHARS) : combined;
    if (exitCode !== undefined) job.exitCode = exitCode;
    this.changed();
  }

  /** Housekeeping: idle sessions expire (agent goes offline), expired job locks ⇒ abandoned. */
  sweep(): void {
    const now = Date.now();
    for (const session of [...this.sessions.values()]) {
      if (!this.isLive(session)) this.endSession(session, { abandonReceived: false });
    }
    for (const job of this.jobs.values()) {
      if (job.result === undefined && job.lockedUntil !== undefined && job.lockedUntil < now) this.finishJob(job, "abandoned");
    }
  }
}
