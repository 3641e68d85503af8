/**
 * The contract between the chart and the agent image: user, paths, commands, container and
 * volume names, and every environment variable either side reads. The chart's templates and the
 * image's generated `contract.sh` are both emitted from this object, and a sync test checks that
 * the image's scripts read exactly these variables (style.md rule 1).
 *
 * Pod layout (credential isolation, issue #3 §4; hostile jobs, issue #7):
 *
 *   init  `register`    PAT: copies/downloads the agent into the `agent` volume and runs
 *                            config.sh there.
 *   init  `deregister`  PAT + Kubernetes token; a native sidecar (restartPolicy: Always), so it
 *         (sidecar)          starts before the job container and is stopped only after it. It
 *                            finds its agent in Azure DevOps by the pod's name in the pool it
 *                            resolves itself, disables the agent as soon as Azure DevOps shows a
 *                            job assigned to it (no second job, ever), removes it once that job
 *                            is over and deletes the pod. Azure DevOps and the Kubernetes API are
 *                            its sources of truth; files in the job-writable `state` volume only
 *                            wake it up early, and are never opened, followed or logged.
 *   main  `agent`       no PAT, no Kubernetes token: runs `run.sh --once` from the `agent` volume
 *                            with the agent's own per-registration credential, as hosted agents do.
 *
 * The sidecar never executes anything from a volume the job can write to, and keeps its own state
 * in its private /tmp (`registrarTmp`), which the job container never mounts.
 */

export const imageContract = {
  user: { name: "azp", uid: 10001, gid: 10001 },
  /** Signal the image documents as STOPSIGNAL and every command handles. */
  stopSignal: "SIGTERM",
  paths: {
    /** Agent package baked into the image (read-only at run time). */
    bakedAgent: "/opt/azp/agent",
    /** Where the agent runs from in a pod: an emptyDir the register container fills. */
    agentHome: "/azp/agent",
    /** Work folder of the agent (`--work`), a volume of its own. */
    work: "/azp/_work",
    /** emptyDir shared with the job container: lifecycle hints (job-writable, never trusted). */
    state: "/azp/state",
    /**
     * Directory where the credential Secret is mounted (register, deregister, and the CronJob,
     * hook and test pods): the PAT, or the client secret (`azp.auth: servicePrincipal`).
     */
    secrets: "/azp/secrets",
    /**
     * Directory of the projected service-account token Entra accepts as a client assertion
     * (`azp.auth: workloadIdentity`): file `federatedTokenFileName`, mounted where `secrets` would be.
     */
    federatedToken: "/azp/federated",
    /** Directory of the optional extra CA certificates (`caBundle`), file `caBundleFileName`. */
    caBundle: "/azp/ca",
    /** HOME of the agent user: an emptyDir, so the root filesystem can stay read-only. */
    home: "/home/azp",
    tmp: "/tmp",
    /** Generated shell contract inside the image. */
    contractScript: "/usr/local/lib/azp/contract.sh",
    /** Where the image's commands are installed. */
    bin: "/usr/local/bin",
    /** Standard location of the projected ServiceAccount token (deregister and refresh only). */
    serviceAccount: "/var/run/secrets/kubernetes.io/serviceaccount",
  },
  /**
   * Hints inside `paths.state`. The job can create, delete or replace any of them (with a symlink or
   * a FIFO, too): the commands only look at whether they exist, never open or follow them.
   */
  stateFiles: {
    /** Written by the agent container before `run.sh --once` starts. */
    started: "agent-started",
    /** Written by the agent container when `run.sh` has exited. */
    exited: "agent-exited",
    /** Present while the listener's console says a job runs (azp-run's watcher). */
    busy: "job-running",
    /** Written by the sidecar once Azure DevOps no longer has the agent: azp-run stops waiting. */
    removed: "agent-removed",
  },
  /** Files of the deregister sidecar in its private /tmp (`registrarTmp`, never in the job container). */
  sidecarFiles: {
    /**
     * Written once the sidecar has found its agent in Azure DevOps. Its startupProbe waits for it,
     * and the kubelet starts the job container only after the sidecar has started.
     */
    ready: "deregister-ready",
    /**
     * The job request Azure DevOps assigned to the agent, kept across sidecar restarts. In a Job's
     * pod (autoscaling) the sidecar's readinessProbe looks for it: the pod is Ready once Azure
     * DevOps has given its agent a job, which is how KEDA tells a pod still waiting for a job
     * (pending) from a busy one (`pendingPodConditions`). The job cannot touch this file.
     */
    request: "deregister-request",
  },
  /**
   * Image ENV the agent reports as capabilities (it turns environment variables into
   * capabilities), next to its own `Agent.Version`. Same names as in the generated contract.sh.
   */
  capabilityEnv: { imageVersion: "AZP_IMAGE_VERSION", bakedAgentVersion: "AZP_BAKED_AGENT_VERSION" },
  /**
   * Commands whose container environment the agent reports as its capabilities: config.sh in
   * `register`, and the listener in `run` (its session carries them too). A `capability`
   * variable and the user's `agent.capabilities` are set on both, so the two reports agree.
   */
  capabilityCommands: ["register", "run"],
  /**
   * The placeholder agent (autoscaling) carries these system capabilities besides AZP_RELEASE, the
   * user capabilities and `Agent.Version`, and the chart offers each to KEDA as a demand (`name`
   * and `name -equals value`): what the placeholder lets queue, KEDA scales for.
   */
  placeholderSystemCapabilities: { "Agent.OS": "Linux" },
  /** Key of the PAT (or client secret) inside the mounted Secret volume (the chart projects the user's key to it). */
  tokenFileName: "token",
  /** File of the projected federated token inside `paths.federatedToken`. */
  federatedTokenFileName: "token",
  /**
   * How the components authenticate to Azure DevOps (`azp.auth`). With `servicePrincipal` and
   * `workloadIdentity` they get a Microsoft Entra access token for Azure DevOps (client
   * credentials: with a secret, or with the pod's federated token as client assertion) and use it
   * as Bearer token for REST calls and in place of a PAT for the agent's config.sh; the agent
   * then runs with its own per-registration credential, as with a PAT.
   */
  authModes: ["pat", "servicePrincipal", "workloadIdentity"],
  entra: {
    /** Azure DevOps' application id: the resource of every token (scope `<id>/.default`). */
    azureDevOpsResource: "499b84ac-1321-427f-aa17-267ca6975798",
    authorityHost: "https://login.microsoftonline.com/",
    /** Audience Entra expects in a federated token (workload identity federation). */
    federatedTokenAudience: "api://AzureADTokenExchange",
    /** Lifetime of the projected federated token the kubelet refreshes (Kubernetes' minimum is 600). */
    federatedTokenExpirationSeconds: 3600,
  },
  /** File of the extra CA certificates inside `paths.caBundle` (the chart projects the user's key to it). */
  caBundleFileName: "ca.crt",
  /**
   * Exit codes shared by every command: distinct codes let the chart's users and the tests tell
   * failure classes apart without parsing messages. contract.sh defines `EXIT_<NAME>` for each.
   */
  exitCodes: {
    /** An unexpected failure (the line is logged). */
    failure: 1,
    /** A setting is missing or malformed (the variable is named): fix the values, do not retry. */
    settings: 2,
    /** Azure DevOps, Microsoft Entra or the Kubernetes API could not be reached (after the retries). */
    unreachable: 3,
    /** The credential was not accepted: invalid, expired, sign-in page, missing scope, RBAC, Entra's refusal, TF401444. */
    auth: 4,
    /** The service refused: pool or Deployment missing, unexpected answer, another release's agent. */
    rejected: 5,
    /** The agent package could not be found, fetched or verified. */
    package: 6,
    /** The agent's config.sh / run.sh failed or left the credential in the agent's files. */
    configure: 7,
    /** Smoke test: too few agents registered before the timeout. */
    agents: 8,
  },
  commands: {
    register: "azp-register",
    run: "azp-run",
    deregister: "azp-deregister",
    refresh: "azp-refresh",
    smoke: "azp-smoke",
    gc: "azp-gc",
    placeholder: "azp-placeholder",
  },
  containers: { register: "register", deregister: "deregister", agent: "agent", refresh: "refresh", smoke: "smoke", gc: "gc", placeholder: "placeholder" },
  /**
   * The image command each container runs (a key of `commands`): the chart's containers and the
   * image tests' simulated pod both take it from here. The job container runs `run`.
   */
  containerCommands: { register: "register", deregister: "deregister", agent: "run", refresh: "refresh", smoke: "smoke", gc: "gc", placeholder: "placeholder" },
  volumes: {
    agent: "agent",
    work: "work",
    state: "state",
    token: "azp-token",
    home: "home",
    /** /tmp of the job container. */
    tmp: "tmp",
    /** /tmp of the register and deregister containers: never shared with the job container. */
    registrarTmp: "registrar-tmp",
    /** HOME of the register container (the agent's configure step may write there). */
    registrarHome: "registrar-home",
    serviceAccount: "kube-api-access",
    /** The projected federated token (workload identity); not the webhook's `azure-identity-token`. */
    federatedToken: "azp-federated-token",
    caBundle: "ca-bundle",
  },
  /**
   * What each container of an agent pod mounts, in mount order: the chart's volumeMounts and the
   * image tests' simulated pod are both built from this table (`volume` is a key of `volumes`,
   * `path` a key of `paths`). The job container (`agent`) mounts neither `token` nor
   * `serviceAccount`, and never shares /tmp or HOME with the containers that hold the PAT.
   */
  podMounts: {
    register: [
      { volume: "agent", path: "agentHome" },
      { volume: "work", path: "work" },
      { volume: "token", path: "secrets", readOnly: true },
      { volume: "federatedToken", path: "federatedToken", readOnly: true },
      { volume: "registrarTmp", path: "tmp" },
      { volume: "registrarHome", path: "home" },
    ],
    deregister: [
      { volume: "state", path: "state" },
      { volume: "token", path: "secrets", readOnly: true },
      { volume: "federatedToken", path: "federatedToken", readOnly: true },
      { volume: "serviceAccount", path: "serviceAccount", readOnly: true },
      { volume: "registrarTmp", path: "tmp" },
    ],
    agent: [
      { volume: "agent", path: "agentHome" },
      { volume: "work", path: "work" },
      { volume: "state", path: "state" },
      { volume: "home", path: "home" },
      { volume: "tmp", path: "tmp" },
    ],
  },
  /**
   * Environment variables. `reads` lists the image commands that read each one; the chart sets
   * a variable only on containers running one of those commands.
   */
  env: {
    url: { name: "AZP_URL", reads: ["register", "deregister", "smoke", "gc", "placeholder"], doc: "Organization URL." },
    pool: { name: "AZP_POOL", reads: ["register", "deregister", "smoke", "gc", "placeholder"], doc: "Agent pool name." },
    tokenFile: {
      name: "AZP_TOKEN_FILE",
      reads: ["register", "deregister", "smoke", "gc", "placeholder"],
      doc: "File holding the PAT (`pat`) or the client secret (`servicePrincipal`).",
    },
    auth: {
      name: "AZP_AUTH",
      reads: ["register", "deregister", "smoke", "gc", "placeholder"],
      doc: "`pat`, `servicePrincipal` or `workloadIdentity`: how the command authenticates to Azure DevOps.",
    },
    tenantId: { name: "AZURE_TENANT_ID", reads: ["register", "deregister", "smoke", "gc", "placeholder"], doc: "Microsoft Entra tenant (directory) id of the identity." },
    clientId: { name: "AZURE_CLIENT_ID", reads: ["register", "deregister", "smoke", "gc", "placeholder"], doc: "Application (client) id of the service principal or managed identity." },
    authorityHost: {
      name: "AZURE_AUTHORITY_HOST",
      reads: ["register", "deregister", "smoke", "gc", "placeholder"],
      doc: "Microsoft Entra authority, `https://login.microsoftonline.com/` unless a sovereign cloud's.",
    },
    federatedTokenFile: {
      name: "AZURE_FEDERATED_TOKEN_FILE",
      reads: ["register", "deregister", "smoke", "gc", "placeholder"],
      doc: "File of the projected service-account token exchanged for an Entra token (`workloadIdentity`).",
    },
    agentName: { name: "AZP_AGENT_NAME", reads: ["register"], doc: "Agent name (the pod name)." },
    release: {
      name: "AZP_RELEASE",
      reads: ["register", "deregister", "smoke", "gc", "placeholder"],
      capability: true,
      doc: "`<namespace>/<fullname>` of the Helm release, reported by the agent as a capability: pipelines can demand it, azp-smoke counts only the agents that carry it, and azp-gc collects only those.",
    },
    work: { name: "AZP_WORK", reads: ["register", "run"], doc: "Agent work folder." },
    agentSource: { name: "AZP_AGENT_SOURCE", reads: ["register"], doc: "`baked` or `download`." },
    packageUrl: { name: "AZP_AGENT_PACKAGE_URL", reads: ["register"], doc: "Package URL override (an https mirror) for `download`." },
    packageSha256: { name: "AZP_AGENT_PACKAGE_SHA256", reads: ["register"], doc: "SHA-256 of the package at `AZP_AGENT_PACKAGE_URL`." },
    downloadTimeout: { name: "AZP_DOWNLOAD_TIMEOUT_SECONDS", reads: ["register"], doc: "Time limit of the package download." },
    connectAttempts: { name: "AZP_CONNECT_ATTEMPTS", reads: ["register", "smoke", "gc", "placeholder"], doc: "Attempts to reach Azure DevOps before giving up." },
    retrySeconds: { name: "AZP_REMOVE_RETRY_SECONDS", reads: ["deregister"], doc: "Pause between removal attempts while the agent is busy." },
    statusCheckSeconds: {
      name: "AZP_STATUS_CHECK_SECONDS",
      reads: ["deregister"],
      doc: "While a job runs, how often the sidecar asks Azure DevOps whether it is over (when the agent's console gives no sign).",
    },
    maxLifetimeSeconds: {
      name: "AZP_MAX_LIFETIME_SECONDS",
      reads: ["deregister"],
      doc: "An idle agent retires (is removed, its pod replaced) between 80 % and 100 % of this after it was registered; 0 = never.",
    },
    podLifecycle: {
      name: "AZP_POD_LIFECYCLE",
      reads: ["deregister", "run"],
      doc: "`replace` (a Deployment's pod: the sidecar deletes it once the agent is removed) or `complete` (a Job's pod: the containers exit and the pod completes; no Kubernetes token, no pod deletion).",
    },
    idleTimeoutSeconds: {
      name: "AZP_IDLE_TIMEOUT_SECONDS",
      reads: ["deregister"],
      doc: "An agent without a job this long after it registered retires (is disabled, looked at once more and removed) when more than AZP_MIN_IDLE_AGENTS idle agents of the release are online; 0 = never.",
    },
    minIdleAgents: {
      name: "AZP_MIN_IDLE_AGENTS",
      reads: ["deregister"],
      doc: "Idle agents of the release that stay registered past the idle timeout (autoscaling.minReplicas).",
    },
    placeholderAgent: {
      name: "AZP_PLACEHOLDER_AGENT",
      reads: ["placeholder", "gc", "smoke"],
      doc: "Name of the release's placeholder agent: registered offline so that jobs queue while no agent pod runs; the collector re-creates it and never removes it.",
    },
    placeholderCapabilities: {
      name: "AZP_PLACEHOLDER_CAPABILITIES",
      reads: ["placeholder", "gc"],
      doc: "The user capabilities (`agent.capabilities`) as a JSON object: the placeholder carries them next to AZP_RELEASE.",
    },
    stopGraceSeconds: {
      name: "AZP_STOP_GRACE_SECONDS",
      reads: ["run"],
      doc: "The pod's termination grace period: a job still running near its end is cancelled, so the agent can be removed.",
    },
    agentIgnore: {
      name: "VSO_AGENT_IGNORE",
      reads: ["register", "run"],
      doc: "Variables the agent must not report as capabilities (the agent's own setting); the image adds its list.",
    },
    podName: { name: "POD_NAME", reads: ["deregister"], doc: "The pod's name: the agent's name, and the pod deleted once the job is done (lifecycle `replace`)." },
    podNamespace: { name: "POD_NAMESPACE", reads: ["deregister", "refresh", "gc"], doc: "Namespace of the pod / Deployment / the release's agent pods." },
    deployment: { name: "AZP_DEPLOYMENT", reads: ["refresh"], doc: "Deployment the refresher restarts." },
    smokeMinAgents: { name: "AZP_SMOKE_MIN_AGENTS", reads: ["smoke"], doc: "Agents that must be registered." },
    smokeTimeout: { name: "AZP_SMOKE_TIMEOUT_SECONDS", reads: ["smoke"], doc: "How long the smoke test waits for agents." },
    gcOfflineGrace: {
      name: "AZP_GC_OFFLINE_GRACE_SECONDS",
      reads: ["gc"],
      doc: "An agent without a pod is collected only when its status last changed longer ago than this.",
    },
    gcDryRun: { name: "AZP_GC_DRY_RUN", reads: ["gc"], doc: "`true`: the collector logs what it would remove and removes nothing." },
  },
} as const;

/**
 * What the agent reads for its proxy (src/Agent.Sdk/Knob/AgentKnobs.cs): `VSTS_HTTP_PROXY` (else
 * lower-case `http_proxy`), credentials in separate variables, bypass list in `no_proxy`. It never
 * reads `HTTPS_PROXY`, so the image maps the chart's proxy settings onto these.
 */
export const agentProxyEnv = { url: "VSTS_HTTP_PROXY", username: "VSTS_HTTP_PROXY_USERNAME", password: "VSTS_HTTP_PROXY_PASSWORD" } as const;

/** OpenSSL's variable for an extra CA file (curl, and the .NET agent's certificate store, read it). */
export const caBundleEnvName = "SSL_CERT_FILE";

/** The standard proxy variables the chart sets, in both spellings (curl reads lower case, most tools either). */
export const proxyEnvNames = { httpProxy: ["HTTP_PROXY", "http_proxy"], httpsProxy: ["HTTPS_PROXY", "https_proxy"], noProxy: ["NO_PROXY", "no_proxy"] } as const;

/**
 * Variables the agent must never publish as capabilities (every pool reader sees those): the
 * image's settings that are not meant as capabilities, and every proxy variable (a proxy URL may
 * carry a password). `VSO_AGENT_IGNORE` is case-sensitive on Linux, so both spellings are listed.
 * The chart adds the names of `extraEnv`; the image appends this list to whatever it is given.
 */
export function agentIgnoredEnv(): string[] {
  const settings = Object.values(imageContract.env)
    .filter((e) => !("capability" in e && e.capability))
    .map((e) => e.name);
  return [...settings, ...Object.values(proxyEnvNames).flat(), ...Object.values(agentProxyEnv)];
}

export type ImageContract = typeof imageContract;
export type ImageCommand = keyof ImageContract["commands"];
export type EnvKey = keyof ImageContract["env"];
/** A container of the chart (a key of `containers` and of `containerCommands`). */
export type ContainerKey = keyof ImageContract["containers"];

/** The image command a container runs. */
export const commandOf = (container: ContainerKey): ImageCommand => imageContract.containerCommands[container] satisfies ImageCommand;
/** The containers of an agent pod (keys of `podMounts`, equal to their names in `containers`). */
export type PodContainerKey = keyof ImageContract["podMounts"];

/** One entry of `podMounts`, with the keys resolved to a volume name and a mount path. */
export interface PodMount {
  readonly volume: keyof ImageContract["volumes"];
  readonly name: string;
  readonly mountPath: string;
  readonly readOnly: boolean;
}

/** The mounts of a pod container, in order. */
export function podMounts(container: PodContainerKey): PodMount[] {
  return imageContract.podMounts[container].map((m) => ({
    volume: m.volume,
    name: imageContract.volumes[m.volume],
    mountPath: imageContract.paths[m.path],
    readOnly: "readOnly" in m && m.readOnly,
  }));
}

/** Where the PAT file is, in every container that mounts the Secret. */
export const tokenFilePath = `${imageContract.paths.secrets}/${imageContract.tokenFileName}`;

/** Where the federated token is, in every container that mounts it (workload identity). */
export const federatedTokenFilePath = `${imageContract.paths.federatedToken}/${imageContract.federatedTokenFileName}`;

export type AuthMode = ImageContract["authModes"][number];

type EnvSpec = { readonly reads: readonly string[]; readonly capability?: boolean };
const envKeys = (): EnvKey[] => Object.keys(imageContract.env) as EnvKey[];

/** Variables a command's script reads, in contract order. */
export function envReadBy(command: ImageCommand): EnvKey[] {
  return envKeys().filter((key) => (imageContract.env[key] as EnvSpec).reads.includes(command));
}

/**
 * Variables the chart sets for a command, in contract order: those it reads, and the
 * capability variables on the containers whose environment the agent reports.
 */
export function envFor(command: ImageCommand): EnvKey[] {
  const reportsCapabilities = (imageContract.capabilityCommands as readonly string[]).includes(command);
  return envKeys().filter((key) => {
    const spec = imageContract.env[key] as EnvSpec;
    return spec.reads.includes(command) || (spec.capability === true && reportsCapabilities);
  });
}

/** Every variable name the image's scripts may read from the contract. */
export function contractEnvNames(): string[] {
  return Object.values(imageContract.env).map((e) => e.name);
}
