// The JSON shapes Azure DevOps puts on the wire, produced in one place from the model records.
// Field sets follow the swagger definitions (taskAgent-7.1.json) and the real payloads quoted in
// the contract; lifecycle fields are omitted while unset — never "" (contract §1.4, KEDA parses them).
import type { AgentRecord, JobRecord, PoolRecord, SessionRecord, MessageRecord } from "./model.ts";

/** Where links point: the org URL as the client reached it, e.g. `http://127.0.0.1:8080/fakeorg`. */
export interface LinkBase {
  orgUrl: string;
}

// Values seen in real payloads (contract §3.1, KEDA fixture _test.go:61).
export const SERVICE_OWNER = "00025394-6065-48ca-87d9-7f5672854ef7";
const FAKE_USER_ID = "6f2c1c3e-0000-4000-8000-000000000001";
const FAKE_PROJECT = "fakeproject";
const DEFINITION = { id: 1, name: "fake-pipeline" } as const;
// The CmdLine@2 task: a script step as the real service sends it inside a job message [I].
const CMDLINE_TASK = { id: "d9bafed4-0b18-4f58-968d-86655b4d2ce9", name: "CmdLine", version: "2.250.1" } as const;

const iso = (ms: number): string => new Date(ms).toISOString();

const identity = (): Record<string, string> => ({ displayName: "Fake User", id: FAKE_USER_ID, uniqueName: "fake@example.com" });

/** `authorization.authorizationUrl` handed to agents: the fake's token endpoint [I]. */
export function tokenEndpointUrl(base: LinkBase): string {
  return `${base.orgUrl}/_apis/oauth2/token`;
}

export function poolJson(pool: PoolRecord, size: number): Record<string, unknown> {
  return {
    createdOn: iso(pool.createdOn),
    autoProvision: false,
    autoUpdate: true,
    autoSize: true,
    // null, as in real responses (contract §3.5); the swagger types them as int32 — see spec.ts.
    targetSize: null,
    agentCloudId: null,
    createdBy: identity(),
    owner: identity(),
    properties: {},
    id: pool.id,
    scope: pool.scope,
    name: pool.name,
    isHosted: false,
    poolType: pool.poolType,
    size,
    isLegacy: false,
    options: "none",
  };
}

export function agentReferenceJson(agent: AgentRecord, online: boolean, base: LinkBase): Record<string, unknown> {
  return {
    _links: {
      self: { href: `${base.orgUrl}/_apis/distributedtask/pools/${agent.poolId}/agents/${agent.id}` },
      web: { href: `${base.orgUrl}/_settings/agentpools?view=jobs&poolId=${agent.poolId}&agentId=${agent.id}` },
    },
    id: agent.id,
    name: agent.name,
    version: agent.version,
    osDescription: agent.osDescription,
    enabled: agent.enabled,
    status: online ? "online" : "offline",
    provisioningState: agent.provisioningState,
    accessPoint: "CodexAccessMapping",
  };
}

export interface AgentJsonOptions {
  online: boolean;
  includeCapabilities: boolean;
  assignedRequest?: Record<string, unknown> | undefined;
  lastCompletedRequest?: Record<string, unknown> | undefined;
}

export function agentJson(agent: AgentRecord, options: AgentJsonOptions, base: LinkBase): Record<string, unknown> {
  const authorization: Record<string, unknown> = {};
  // §3.7 step 9: clientId + authorizationUrl make the agent switch to OAuth (JWT client assertion).
  if (agent.clientId !== undefined) {
    authorization["authorizationUrl"] = tokenEndpointUrl(base);
    authorization["clientId"] = agent.clientId;
  }
  if (agent.publicKey !== undefined) authorization["publicKey"] = { ...agent.publicKey };
  const { _links, ...reference } = agentReferenceJson(agent, options.online, base);
  return {
    _links,
    maxParallelism: agent.maxParallelism,
    createdOn: iso(agent.createdOn),
    statusChangedOn: iso(agent.statusChangedOn),
    ...(options.assignedRequest ? { assignedRequest: options.assignedRequest } : {}),
    ...(options.lastCompletedRequest ? { lastCompletedRequest: options.lastCompletedRequest } : {}),
    authorization,
    ...(options.includeCapabilities ? { systemCapabilities: { ...agent.systemCapabilities }, userCapabilities: { ...agent.userCapabilities } } : {}),
    properties: {},
    ...reference,
  };
}

function definitionJson(job: JobRecord, base: LinkBase): Record<string, unknown> {
  return {
    _links: {
      web: { href: `${base.orgUrl}/${FAKE_PROJECT}/_build/definition?definitionId=${DEFINITION.id}` },
      self: { href: `${base.orgUrl}/${job.scopeId}/_apis/build/Definitions/${DEFINITION.id}` },
    },
    id: DEFINITION.id,
    name: DEFINITION.name,
  };
}

function ownerJson(job: JobRecord, base: LinkBase): Record<string, unknown> {
  return {
    _links: {
      web: { href: `${base.orgUrl}/${FAKE_PROJECT}/_build/results?buildId=${job.buildId}` },
      self: { href: `${base.orgUrl}/${job.scopeId}/_apis/build/Builds/${job.buildId}` },
    },
    id: job.buildId,
    name: job.buildNumber,
  };
}

export interface JobRequestJsonOptions {
  /** §3.9: omitted when the caller used `$top`. */
  matchedAgents?: Record<string, unknown>[] | undefined;
  reservedAgent?: Record<string, unknown> | undefined;
}

/** TaskAgentJobRequest with the lifecycle fields of §3.9 (queued → assigned → received → finished). */
export function jobRequestJson(job: JobRecord, options: JobRequestJsonOptions, base: LinkBase): Record<string, unknown> {
  return {
    requestId: job.requestId,
    queueTime: iso(job.queueTime),
    ...(job.assignTime !== undefined ? { assignTime: iso(job.assignTime) } : {}),
    ...(job.receiveTime !== undefined ? { receiveTime: iso(job.receiveTime) } : {}),
    ...(job.finishTime !== undefined ? { finishTime: iso(job.finishTime) } : {}),
    ...(job.result !== undefined ? { result: job.result } : {}),
    ...(job.statusMessage !== undefined ? { statusMessage: job.statusMessage } : {}),
    serviceOwner: SERVICE_OWNER,
    hostId: job.hostId,
    scopeId: job.scopeId,
    planType: "Build",
    planId: job.planId,
    jobId: job.jobId,
    // §1.4: strings on the wire, although the swagger says Demand objects.
    demands: [...job.demands],
    ...(options.reservedAgent ? { reservedAgent: options.reservedAgent } : {}),
    ...(options.matchedAgents ? { matchedAgents: options.matchedAgents } : {}),
    ...(job.lockedUntil !== undefined && job.result === undefined ? { lockedUntil: iso(job.lockedUntil) } : {}),
    definition: definitionJson(job, base),
    owner: ownerJson(job, base),
    data: { ParallelismTag: "Private", IsScheduledKey: "False" },
    poolId: job.poolId,
    orchestrationId: job.orchestrationId,
    priority: 0,
  };
}

/**
 * Body of a `PipelineAgentJobRequest` message: a trimmed AgentJobRequestMessage (§3.8 "simplified
 * fake protocol") with one CmdLine step carrying the test's script.
 */
export function jobRequestMessageBody(job: JobRecord, orgUrl: string): Record<string, unknown> {
  const base: LinkBase = { orgUrl };
  const variables: Record<string, { value: string }> = {};
  const set = (name: string, value: string | number): void => {
    variables[name] = { value: String(value) };
  };
  set("system.collectionUri", `${orgUrl}/`);
  set("system.teamFoundationCollectionUri", `${orgUrl}/`);
  set("system.teamProject", FAKE_PROJECT);
  set("system.teamProjectId", job.scopeId);
  set("system.definitionId", DEFINITION.id);
  set("system.planId", job.planId);
  set("system.timelineId", job.timelineId);
  set("system.jobId", job.jobId);
  set("system.jobName", "__default");
  set("system.jobDisplayName", job.displayName);
  set("system.hostType", "build");
  set("system.isScheduled", "False");
  set("build.buildId", job.buildId);
  set("build.buildNumber", job.buildNumber);
  set("build.definitionName", DEFINITION.name);
  set("build.reason", "Manual");
  for (const [name, value] of Object.entries(job.variables)) set(name, value);
  return {
    messageType: "PipelineAgentJobRequest",
    plan: {
      scopeIdentifier: job.scopeId,
      planType: "Build",
      version: 13,
      planId: job.planId,
      planGroup: `Build:${job.scopeId}:${job.buildId}`,
      artifactUri: `vstfs:///Build/Build/${job.buildId}`,
      definition: definitionJson(job, base),
      owner: ownerJson(job, base),
    },
    timeline: { id: job.timelineId, changeId: 1, location: null },
    jobId: job.jobId,
    jobDisplayName: job.displayName,
    jobName: "__default",
    requestId: job.requestId,
    lockedUntil: "0001-01-01T00:00:00",
    resources: { endpoints: [], repositories: [] },
    variables,
    steps: [
      {
        type: "task",
        reference: { ...CMDLINE_TASK },
        id: job.timelineId,
        name: "CmdLine",
        displayName: "Script",
        enabled: true,
        condition: "succeeded()",
        continueOnError: false,
        timeoutInMinutes: 0,
        inputs: { script: job.script, workingDirectory: "", failOnStderr: "false" },
      },
    ],
  };
}

/** Body of a `JobCancellation` message (JobCancelMessage: jobId + timeout). */
export function jobCancelMessageBody(job: JobRecord): Record<string, unknown> {
  return { jobId: job.jobId, timeout: "00:05:00" };
}

export function messageJson(message: MessageRecord): Record<string, unknown> {
  // iv null ⇒ body is not encrypted (we never hand out a session encryption key, §3.8 step 1).
  return { messageId: message.messageId, messageType: message.messageType, iv: null, body: message.body };
}

export function sessionJson(session: SessionRecord, agent: AgentRecord, online: boolean, base: LinkBase): Record<string, unknown> {
  return { sessionId: session.sessionId, ownerName: session.ownerName, agent: agentReferenceJson(agent, online, base) };
}

export interface PackageJsonInput {
  type: string;
  platform: string;
  version: string;
  createdOn: number;
  downloadUrl: string;
  /** Omitted from the answer when undefined (EmitDefaultValue=false, §3.3). */
  hashValue: string | undefined;
  filename: string;
}

export function packageJson(input: PackageJsonInput): Record<string, unknown> {
  const [major = 0, minor = 0, patch = 0] = input.version.split(".").map((part) => Number.parseInt(part, 10) || 0);
  return {
    type: input.type,
    platform: input.platform,
    createdOn: iso(input.createdOn),
    version: { major, minor, patch },
    downloadUrl: input.downloadUrl,
    // §3.3: lowercase hex SHA-256 (the swagger text says "MD5 as base64"; see spec.ts).
    ...(input.hashValue === undefined ? {} : { hashValue: input.hashValue }),
    infoUrl: "https://go.microsoft.com/fwlink/?LinkId=798199",
    filename: input.filename,
  };
}

export function connectionDataJson(displayName: string): Record<string, unknown> {
  return {
    authenticatedUser: {
      id: FAKE_USER_ID,
      descriptor: "Microsoft.IdentityModel.Claims.ClaimsIdentity;fake\\user",
      subjectDescriptor: "aad.ZmFrZQ",
      providerDisplayName: displayName,
      isActive: true,
      properties: {},
      resourceVersion: 2,
      metaTypeId: 0,
    },
    authorizedUser: { id: FAKE_USER_ID, providerDisplayName: displayName, isActive: true, properties: {}, resourceVersion: 2, metaTypeId: 0 },
    instanceId: "5e000000-0000-4000-8000-000000000001",
    deploymentId: "5e000000-0000-4000-8000-000000000002",
    deploymentType: "hosted",
    locationServiceData: {
      serviceOwner: SERVICE_OWNER,
      defaultAccessMappingMoniker: "PublicAccessMapping",
      lastChangeId: 1,
      lastChangeId64: 1,
    },
  };
}

/** TaskLog-like answer of the fake log endpoint [I]. */
export function taskLogJson(id: number, lineCount: number, planId: string, base: LinkBase): Record<string, unknown> {
  const now = new Date().toISOString();
  return {
    id,
    path: `logs\\${id}`,
    lineCount,
    createdOn: now,
    lastChangedOn: now,
    location: `${base.orgUrl}/_apis/distributedtask/hubs/build/plans/${planId}/logs/${id}`,
  };
}
