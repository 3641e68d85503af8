// Azure DevOps error bodies. The .NET client maps failures by `typeKey`, not by HTTP status
// (contract §1.5), so every error the fake returns carries the real exception name.

/** The "WrappedException" JSON body the service returns on failures (contract §1.5). */
export interface WrappedException {
  $id: "1";
  customProperties?: Record<string, unknown>;
  innerException: null;
  message: string;
  typeName: string;
  typeKey: string;
  errorCode: number;
  eventId: number;
}

const distributedTaskType = (typeKey: string): string =>
  `Microsoft.TeamFoundation.DistributedTask.WebApi.${typeKey}, Microsoft.TeamFoundation.DistributedTask.WebApi`;

/** An error that the HTTP layer turns into a status code plus a WrappedException body. */
export class AdoError extends Error {
  readonly status: number;
  readonly typeKey: string;
  readonly typeName: string;

  constructor(status: number, typeKey: string, message: string, typeName?: string) {
    super(message);
    this.status = status;
    this.typeKey = typeKey;
    this.typeName = typeName ?? distributedTaskType(typeKey);
  }

  body(): WrappedException {
    return {
      $id: "1",
      innerException: null,
      message: this.message,
      typeName: this.typeName,
      typeKey: this.typeKey,
      errorCode: 0,
      eventId: 3000,
    };
  }
}

// Statuses are [I] (contract §1.5 "Recommended statuses"): NotFound → 404, Exists/Conflict → 409,
// validation → 400. Messages reuse the agent's own strings where the contract quotes them.
export const adoErrors = {
  poolNotFound: (pool: string | number): AdoError =>
    new AdoError(404, "TaskAgentPoolNotFoundException", typeof pool === "number" ? `Agent pool ${pool} not found.` : `Agent pool not found: '${pool}'`),
  agentNotFound: (poolId: number, agentId: number): AdoError =>
    new AdoError(404, "TaskAgentNotFoundException", `Agent ${agentId} was not found in pool ${poolId}.`),
  // §3.7 step 6: same text as the agent's AgentWithSameNameAlreadyExistInPool string.
  agentExists: (poolId: number, name: string): AdoError =>
    new AdoError(409, "TaskAgentExistsException", `Pool ${poolId} already contains an agent with name ${name}.`),
  // §3.7.6 busy agent: message as reported by the CLI; status/typeKey are [I].
  agentBusy: (agentName: string, poolName: string): AdoError =>
    new AdoError(400, "TaskAgentBusyException", `Agent "${agentName}" is running a job for pool "${poolName}"`),
  sessionConflict: (agentName: string): AdoError =>
    new AdoError(409, "TaskAgentSessionConflictException", `A session for agent ${agentName} already exists.`),
  sessionExpired: (sessionId: string): AdoError =>
    new AdoError(404, "TaskAgentSessionExpiredException", `The session ${sessionId} has expired or does not exist.`),
  jobNotFound: (requestId: number): AdoError =>
    new AdoError(404, "TaskAgentJobNotFoundException", `No job request with id ${requestId} was found.`),
  packageNotFound: (what: string): AdoError => new AdoError(404, "PackageNotFoundException", `Package not found: ${what}`),
  badRequest: (message: string): AdoError =>
    new AdoError(400, "ArgumentException", message, "System.ArgumentException, mscorlib"),
  resourceNotFound: (path: string): AdoError =>
    new AdoError(
      404,
      "VssResourceNotFoundException",
      `The requested resource ${path} was not found.`,
      "Microsoft.VisualStudio.Services.WebApi.VssResourceNotFoundException, Microsoft.VisualStudio.Services.WebApi",
    ),
  methodNotAllowed: (method: string, path: string): AdoError =>
    new AdoError(
      405,
      "VssResourceNotFoundException",
      `The requested resource does not support http method '${method}': ${path}`,
      "Microsoft.VisualStudio.Services.WebApi.VssResourceNotFoundException, Microsoft.VisualStudio.Services.WebApi",
    ),
  payloadTooLarge: (limit: number): AdoError => new AdoError(413, "ArgumentException", `Request body exceeds ${limit} bytes.`, "System.ArgumentException, mscorlib"),
} as const;
