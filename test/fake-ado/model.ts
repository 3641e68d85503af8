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
  reservedAgentId: number | undefined;
  /** Name kept after the agent is deleted, so finished jobs still say who ran them. */
  reservedAgentName: string | undefined;
  cancelRequested: boolean;
  output: string | undefined;
  exitCode: number | undefined;
}

export interface ModelSettings {
  agentCredentials: AgentCredentialsMode;
  jobLockMs: number;
  sessionIdleTimeoutMs: number;
}

const MAX_OUTPUT_CHARS = 1024 * 1024;

export function isTaskResult(value: unknown): value is TaskResult {
  return typeof value === "string" && (TASK_RESULTS as readonly string[]).includes(value);
}

function compareVersions(left: string, right: string): number {
  const a = left.split(".").map((part) => Number.parseInt(part, 10) || 0);
  const b = right.split(".").map((part) => Number.parseInt(part, 10) || 0);
  for (let index = 0; index < Math.max(a.length, b.length); index++) {
    const difference = (a[index] ?? 0) - (b[index] ?? 0);
    if (difference !== 0) return difference;
  }
  return 0;
}

/**
 * §3.9 matchedAgents semantics [I]: `name` ⇒ capability exists; `name -equals v` ⇒ equal value;
 * `name -gtVersion v` ⇒ version ≥ v. Capability names compare case-insensitively, like the service.
 */
export function demandsSatisfied(capabilities: Record<string, string>, demands: readonly string[]): boolean {
  const lookup = new Map(Object.entries(capabilities).map(([key, value]) => [key.toLowerCase(), value]));
  return demands.every((demand) => {
    const match = /^\s*(\S+)\s+-(equals|gtVersion)\s+(.*?)\s*$/i.exec(demand);
    if (!match) return lookup.has(demand.trim().toLowerCase());
    const [, name = "", operator = "", expected = ""] = match;
    const actual = lookup.get(name.toLowerCase());
    if (actual === undefined) return false;
    return operator.toLowerCase() === "equals" ? actual.toLowerCase() === expected.toLowerCase() : compareVersions(actual, expected) >= 0;
  });
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

  enqueueJobs(poolId: number, spec: JobSpec, count = 1): JobRecord[] {
    this.pool(poolId);
    if (typeof spec.script !== "string") throw adoErrors.badRequest("A job needs a 'script' string.");
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
        demands: [...(spec.demands ?? [])],
        variables: { ...(spec.variables ?? {}) },
        buildId: requestId,
        buildNumber: `${day}.${requestId}`,
        queueTime,
        assignTime: undefined,
        receiveTime: undefined,
        finishTime: undefined,
        lockedUntil: undefined,
        result: undefined,
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

  /** Agents of the pool whose capabilities satisfy the demands, offline ones included (§3.9). */
  matchedAgents(job: JobRecord): AgentRecord[] {
    return this.agentsInPool(job.poolId).filter((agent) =>
      demandsSatisfied({ ...agent.systemCapabilities, ...agent.userCapabilities }, job.demands),
    );
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
            demandsSatisfied({ ...agent.systemCapabilities, ...agent.userCapabilities }, job.demands)
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
