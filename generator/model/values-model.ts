import { imageContract } from "../contract/image.ts";
import { devStamp, imageRepositoryIn, type ReleaseStamp } from "../contract/release.ts";
import { patterns } from "./schema-patterns.ts";
import { bool, fragment, group, int, list, str, stringMap, type GroupSpec, type JsonSchema } from "./value-spec.ts";

/**
 * The values contract of the chart: every key, its type, default, description and constraints.
 * Key names for the core settings are fixed by issue #2 so teams' values files stay predictable.
 */

const quantity: JsonSchema = { anyOf: [{ type: "string", pattern: patterns.quantity }, { type: "number", minimum: 0 }] };
const resourceSchema: JsonSchema = {
  additionalProperties: false,
  properties: {
    limits: { type: "object", description: "Resource limits.", additionalProperties: quantity },
    requests: { type: "object", description: "Resource requests.", additionalProperties: quantity },
  },
};
const namedObject: JsonSchema = {
  type: "object",
  required: ["name"],
  properties: { name: { type: "string", minLength: 1, description: "Name of the item (required)." } },
};
const annotationValues = { schema: {} };

const serviceAccount = (what: string, nameDefault: string): GroupSpec =>
  group(`ServiceAccount of ${what}.`, {
    create: bool(true, `Create the ServiceAccount. When false, \`name\` must name an existing one.`),
    name: str("", `Name of the ServiceAccount to create or use.`, {
      defaultNote: nameDefault,
      schema: { pattern: `^$|${patterns.dnsSubdomain}` },
    }),
    annotations: stringMap({}, "Annotations on the ServiceAccount (e.g. workload identity).", annotationValues),
  });

/** A NetworkPolicy destination of the chart's own rules: address ranges (never empty) and TCP ports. */
const destinations = (description: string, cidrs: string, ports: number[], portsDescription: string): GroupSpec =>
  group(description, {
    cidrs: list(["0.0.0.0/0"], `${cidrs} The metadata addresses are excepted from each range that holds them.`, {
      type: "string",
      pattern: patterns.cidr,
      not: { pattern: patterns.ipv4MappedIpv6 },
    }, { schema: { minItems: 1 } }),
    ports: list(ports, portsDescription, { type: "integer", minimum: 1, maximum: 65535 }, { schema: { minItems: 1 } }),
  });

const { uid, gid } = imageContract.user;

/** The model of a chart stamped by a release (the image's registry and digest), or of the committed chart. */
export function buildValuesModel(stamp: ReleaseStamp = devStamp): GroupSpec {
  return group("Values of the azp-agent chart.", {
    nameOverride: str("", "Replaces the chart name in resource names.", { schema: { pattern: `^$|${patterns.dnsLabel}`, maxLength: 40 } }),
    fullnameOverride: str("", "Replaces the generated `<release>-<chart>` resource name prefix.", {
      schema: { pattern: `^$|${patterns.dnsLabel}`, maxLength: 52 },
    }),
    namespace: group("Namespace of the release's resources.", {
      create: bool(false, "Create the namespace as part of the release. Off by default: Helm's convention is `helm install --create-namespace`."),
      name: str("", "Namespace to deploy into.", { defaultNote: "the release namespace", schema: { pattern: `^$|${patterns.dnsLabel}`, maxLength: 63 } }),
      labels: stringMap(
        { "pod-security.kubernetes.io/enforce": "restricted" },
        "Labels of the created namespace. The agent pods meet the `restricted` Pod Security Standard.",
      ),
      annotations: stringMap({}, "Annotations of the created namespace."),
    }),
    azp: group("Azure DevOps connection.", {
      url: str("", "URL of the Azure DevOps organization, e.g. `https://dev.azure.com/contoso` (a trailing slash is dropped). Required.", {
        schema: { pattern: `^$|${patterns.url}` },
      }),
      pool: str("Default", "Name of the existing agent pool the agents register in.", { schema: { minLength: 1 } }),
      auth: str(
        "pat",
        "How every component authenticates to Azure DevOps: `pat` (a personal access token), `servicePrincipal` (a Microsoft Entra application and its client secret) or `workloadIdentity` (a Microsoft Entra application or managed identity trusting the pods' service-account tokens: no secret at all). The identity needs the Administrator role in the pool (Agent Pools: read & manage for a PAT) and, for the Entra modes, to be added to the organization. Jobs never see it: the agent runs with its own per-registration credential.",
        { schema: { enum: [...imageContract.authModes] } },
      ),
      token: str("", "With `auth: pat`: the personal access token (scope: Agent Pools, read & manage). The chart stores it in a Secret. Set this or `existingSecret`.", {
        schema: { pattern: "^\\S*$" },
      }),
      existingSecret: str("", "With `auth: pat`: name of an existing Secret holding the PAT (e.g. from an external secret manager). Set this or `token`.", {
        schema: { pattern: `^$|${patterns.dnsSubdomain}` },
      }),
      existingSecretKey: str("token", "Key of the PAT inside `existingSecret`.", { schema: { pattern: patterns.secretKey } }),
      entra: group("The Microsoft Entra identity of `auth: servicePrincipal` and `auth: workloadIdentity`.", {
        tenantId: str("", "Directory (tenant) id of the identity. Required with the Entra modes.", { schema: { pattern: `^$|${patterns.entraTenant}` } }),
        clientId: str("", "Application (client) id of the service principal or managed identity. Required with the Entra modes.", { schema: { pattern: `^$|${patterns.guid}` } }),
        clientSecret: str("", "With `auth: servicePrincipal`: the client secret; the chart stores it in a Secret. Set this or `existingSecret`.", {
          schema: { pattern: "^\\S*$" },
        }),
        existingSecret: str("", "With `auth: servicePrincipal`: name of an existing Secret holding the client secret. Set this or `clientSecret`.", {
          schema: { pattern: `^$|${patterns.dnsSubdomain}` },
        }),
        existingSecretKey: str("clientSecret", "Key of the client secret inside `existingSecret`.", { schema: { pattern: patterns.secretKey } }),
        authorityHost: str(imageContract.entra.authorityHost, "Microsoft Entra authority (another for a sovereign cloud).", { schema: { pattern: patterns.authorityUrl } }),
        audience: str(
          imageContract.entra.federatedTokenAudience,
          "With `auth: workloadIdentity`: audience of the projected service-account token, as the identity's federated credentials expect it. Their subjects: `system:serviceaccount:<namespace>:<serviceAccount.name>` (agents, helm test, placeholder) and `…:<gc.serviceAccount.name>` (the collector); their issuer: the cluster's service-account issuer.",
          { schema: { minLength: 1 } },
        ),
      }),
    }),
    image: group("Agent image; every component of the chart runs it.", {
      repository: str(imageRepositoryIn(stamp.registry), "Image repository.", { schema: { pattern: patterns.imageRepository } }),
      tag: str("", "Image tag.", { defaultNote: "the chart's appVersion", schema: { pattern: patterns.imageTag } }),
      digest: str(
        stamp.imageDigest,
        "Image digest (`sha256:…`): the image is pulled as `repository:tag@digest`, so a moved tag cannot change what runs. A released chart sets the digest of the multi-arch image it was published with; set it to \"\" when you override `repository` or `tag` with an image of your own.",
        { schema: { pattern: patterns.imageDigest } },
      ),
      pullPolicy: str("IfNotPresent", "Image pull policy.", { schema: { enum: ["Always", "IfNotPresent", "Never"] } }),
    }),
    imagePullSecrets: list([], "Secrets for pulling the image from a private registry.", namedObject),
    replicaCount: int(3, "Number of idle agents kept ready. Each runs one job, then its pod is replaced.", {
      schema: { minimum: 0, maximum: 1000 },
    }),
    autoscaling: group(
      "Queue-driven scaling with KEDA (>= 2.20): instead of the Deployment, a KEDA ScaledJob starts one Job per queued pipeline job of this release (its demands: see the README), from zero or from `minReplicas` idle agents up to `maxReplicas`. Needs KEDA's CRDs in the cluster; the chart registers an offline placeholder agent so that jobs queue while no agent pod runs.",
      {
        enabled: bool(false, "Render a KEDA ScaledJob and TriggerAuthentication instead of the Deployment (and no refresh CronJob: every pod is new)."),
        minReplicas: int(0, "Agent Jobs KEDA keeps at least (idle agents ready when no job runs); 0 = scale to zero.", { schema: { minimum: 0, maximum: 1000 } }),
        maxReplicas: int(10, "Agent Jobs KEDA runs at most at once (running and starting).", { schema: { minimum: 1, maximum: 1000 } }),
        pollingInterval: int(15, "Seconds between two looks of KEDA at the pool's job queue (one Azure DevOps call each): the upper bound of queued → agent pod created.", {
          schema: { minimum: 5, maximum: 3600 },
        }),
        idleTimeoutSeconds: int(
          120,
          "An agent that has had no job this long after it registered is removed and its pod completes, unless no more than `minReplicas` idle agents of the release are online: a pod started for a job another agent took costs this long.",
          { schema: { minimum: 30, maximum: 86400 } },
        ),
        successfulJobsHistoryLimit: int(5, "Completed agent Jobs KEDA keeps (for `kubectl logs`).", { schema: { minimum: 0, maximum: 100 } }),
        failedJobsHistoryLimit: int(5, "Failed agent Jobs KEDA keeps.", { schema: { minimum: 0, maximum: 100 } }),
        kedaVersionCheck: bool(
          true,
          "At install, read the `app.kubernetes.io/version` label of KEDA's ScaledJob CRD and refuse KEDA older than 2.20 (which counts jobs agents have already received and starts duplicate agents). Turn off when the installing identity may not read CustomResourceDefinitions.",
        ),
      },
    ),
    agent: group("The Azure Pipelines agent.", {
      source: str("baked", "`baked` runs the agent version built into the image; `download` fetches the latest matching agent from Azure DevOps at every pod start (the article's behaviour).", {
        schema: { enum: ["baked", "download"] },
      }),
      packageUrl: str("", "With `source: download`, an https URL of the agent package (an internal mirror) instead of the one Azure DevOps offers. Requires `packageSha256`.", {
        schema: { pattern: `^$|${patterns.httpsUrl}` },
      }),
      packageSha256: str("", "SHA-256 of the package at `packageUrl`: the download is refused unless it matches.", {
        schema: { pattern: `^$|${patterns.sha256}` },
      }),
      downloadTimeoutSeconds: int(600, "With `source: download`, the time limit of the package download.", { schema: { minimum: 10, maximum: 3600 } }),
      capabilities: stringMap({}, "User capabilities: environment variables of the agent, which it reports as capabilities that pipeline `demands` can match.", {
        // patternProperties, not propertyNames: Helm's validator reports propertyNames errors at a
        // wrong path (santhosh-tekuri/jsonschema#258, #269).
        schema: { additionalProperties: false, patternProperties: { [patterns.envName]: { type: "string" } } },
      }),
      workVolume: fragment({ emptyDir: {} }, "Volume source of the agent's work folder (emptyDir by default; an ephemeral volume for large builds)."),
      connectAttempts: int(5, "Attempts to reach Azure DevOps at pod start (exponential backoff) before failing with a clear error.", {
        schema: { minimum: 1, maximum: 20 },
      }),
      removeRetrySeconds: int(10, "Pause between de-registration attempts while Azure DevOps reports the agent busy.", {
        schema: { minimum: 1, maximum: 300 },
      }),
      maxLifetimeSeconds: int(
        0,
        "Maximum lifetime of an idle agent: it is removed and its pod replaced between 80 % and 100 % of this (random, so the pool does not turn over at once) after it registered; a busy agent finishes its job first. Bounds how stale an idle agent's image and agent can get, and spreads the refresh over time. 0 = off (with autoscaling: 86400, as nothing else refreshes the `minReplicas` idle agents); at least 60 when set.",
        { schema: { minimum: 0, maximum: 31536000 } },
      ),
      statusCheckSeconds: int(
        30,
        "While a job runs, how often the deregister sidecar asks Azure DevOps whether it is over, when the agent's console gives no sign of it (a job can silence that): the upper bound of job end → agent removed.",
        { schema: { minimum: 5, maximum: 600 } },
      ),
    }),
    terminationGracePeriodSeconds: int(
      3600,
      "Time a running job may take to finish when its pod is stopped (refresh, upgrade, scale-in). A job still running near the end (45 s before it, at most two thirds of it) is cancelled, so that its agent can be removed before the pod is killed.",
      { schema: { minimum: 30 } },
    ),
    updateStrategy: fragment(
      { type: "RollingUpdate", rollingUpdate: { maxSurge: "25%", maxUnavailable: 0 } },
      "Deployment strategy. New agents come up before old ones stop, so a refresh keeps the pool's capacity.",
    ),
    resources: fragment({}, "Resources of the agent container (the one running jobs).", { schema: resourceSchema }),
    registrationResources: fragment(
      { requests: { cpu: "10m", memory: "32Mi" }, limits: { memory: "128Mi" } },
      "Resources of the containers that register and remove agents: register and deregister in every agent pod, the placeholder hooks (autoscaling) and the `helm test` pod.",
      { schema: resourceSchema },
    ),
    // The old name of registrationResources (a coined word), still read for one release: a
    // values file written for 0.1.0 keeps working, and NOTES.txt warns (templates/notes.ts).
    registrarResources: fragment(
      {},
      "Deprecated: use `registrationResources` (the same setting, renamed). When set, it is still used instead, for one more release; helm install and upgrade print a warning.",
      { schema: resourceSchema },
    ),
    podSecurityContext: fragment(
      { runAsNonRoot: true, runAsUser: uid, runAsGroup: gid, fsGroup: gid, seccompProfile: { type: "RuntimeDefault" } },
      "Pod security context of the agent pods, the refresh job and the test pod.",
    ),
    securityContext: fragment(
      { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsNonRoot: true, capabilities: { drop: ["ALL"] } },
      "Security context of every container. Jobs can write to the work folder, HOME and /tmp; set `readOnlyRootFilesystem: false` if yours write elsewhere.",
    ),
    podAnnotations: stringMap({}, "Annotations of the agent pods."),
    podLabels: stringMap({}, "Extra labels of the agent pods."),
    nodeSelector: stringMap({}, "Node selector of the agent pods."),
    tolerations: list([], "Tolerations of the agent pods.", { type: "object" }),
    affinity: fragment({}, "Affinity of the agent pods."),
    topologySpreadConstraints: list([], "Topology spread constraints of the agent pods.", { type: "object" }),
    priorityClassName: str("", "PriorityClass of the agent pods.", { schema: { pattern: `^$|${patterns.dnsSubdomain}` } }),
    extraEnv: list([], "Extra environment variables of the agent container (visible to jobs, never reported as capabilities).", namedObject),
    extraVolumes: list([], "Extra volumes of the agent pods.", namedObject),
    extraVolumeMounts: list([], "Extra volume mounts of the agent container.", {
      type: "object",
      required: ["name", "mountPath"],
    }),
    proxy: group(
      "Outbound HTTP proxy for every component. The agent reads only `VSTS_HTTP_PROXY` (never `HTTPS_PROXY`): the image sets it from `httpsProxy` (else `httpProxy`), with credentials in the URL moved to the agent's own variables. None of these is reported as a capability.",
      {
        httpProxy: str("", "HTTP_PROXY / http_proxy.", { schema: { pattern: `^$|${patterns.proxyUrl}` } }),
        httpsProxy: str("", "HTTPS_PROXY / https_proxy, and the agent's proxy.", { schema: { pattern: `^$|${patterns.proxyUrl}` } }),
        noProxy: str("", "NO_PROXY / no_proxy: comma-separated hosts that bypass the proxy (add your cluster's API server)."),
      },
    ),
    caBundle: group(
      "Extra CA certificates every component trusts besides the image's (an internal package mirror, a TLS-inspecting proxy): a ConfigMap with a PEM bundle. curl and the agent (OpenSSL) read it through SSL_CERT_FILE.",
      {
        configMap: str("", "Name of the ConfigMap holding the certificates.", { schema: { pattern: `^$|${patterns.dnsSubdomain}` } }),
        key: str("ca.crt", "Key of the PEM bundle in that ConfigMap.", { schema: { pattern: patterns.secretKey } }),
      },
    ),
    admissionPolicy: group(
      "A ValidatingAdmissionPolicy and its binding (cluster-scoped; Kubernetes >= 1.30) that let the agent pods' ServiceAccount delete only the pod named in its own token (`authentication.kubernetes.io/pod-name`): the Role must allow deleting any pod of the namespace, as pod names are generated. Off by default: installing it needs the right to create cluster-scoped admission policies, which a team installing into its own namespace usually lacks; the ServiceAccount's token is mounted only into the sidecar, never into the job container.",
      {
        enabled: bool(false, "Render the policy and its binding."),
        validationActions: list(["Deny"], "What a violation does: `Deny`, or `Warn` and/or `Audit` to try the policy out first.", {
          type: "string",
          enum: ["Deny", "Warn", "Audit"],
        }, { schema: { minItems: 1, uniqueItems: true } }),
      },
    ),
    networkPolicy: group(
      "NetworkPolicies for every pod of the release (they take effect only where the cluster's network plugin enforces NetworkPolicy): no ingress at all; egress only to DNS, Azure DevOps, the API server where a component needs it (the agents' deregister sidecar without autoscaling, the refresher, the collector) and `extraEgress`, never to the cloud metadata addresses unless `allowMetadata`.",
      {
        enabled: bool(false, "Render the NetworkPolicies."),
        dns: list(
          [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "kube-system" } }, podSelector: { matchLabels: { "k8s-app": "kube-dns" } } }],
          "Peers that answer DNS (port 53, UDP and TCP); the default is the cluster DNS of kube-system (add NodeLocal DNSCache's address if you run it).",
          { type: "object", minProperties: 1 },
          { schema: { minItems: 1 } },
        ),
        azureDevOps: destinations(
          "Where Azure DevOps (and the agent package download) is reached.",
          "Address ranges; narrow them to Azure DevOps' published ranges (service tag `AzureDevOps`) or your proxy.",
          [443],
          "TCP ports (add your proxy's port).",
        ),
        apiServer: destinations(
          "Where the Kubernetes API server is reached (its endpoints' addresses: `kubectl get endpointslices -n default -l kubernetes.io/service-name=kubernetes`).",
          "Address ranges of the API server's endpoints.",
          [443, 6443],
          "TCP ports of the API server's endpoints.",
        ),
        entra: destinations(
          "With `azp.auth` servicePrincipal or workloadIdentity: where Microsoft Entra (`azp.entra.authorityHost`) is reached.",
          "Address ranges; narrow them to Entra's published ranges (service tag `AzureActiveDirectory`) or your proxy.",
          [443],
          "TCP ports.",
        ),
        metadataAddresses: list(
          ["169.254.169.254", "168.63.129.16"],
          "Cloud metadata and host-agent addresses no pod of the release may reach (Azure's instance metadata service and WireServer; the same link-local address on AWS and GCP).",
          { type: "string", pattern: patterns.ipv4 },
        ),
        allowMetadata: bool(false, "Let the pods reach `metadataAddresses` (e.g. a job that must use the node's managed identity)."),
        extraEgress: list([], "More egress rules for the agent pods (NetworkPolicyEgressRule), e.g. your package feeds: jobs reach nothing else. A rule whose ipBlock holds a metadata address must list it in `except` (as `<address>/32`) unless `allowMetadata`.", {
          type: "object",
        }),
      },
    ),
    serviceAccount: serviceAccount("the agent pods (used only by their deregister sidecar, to delete the pod)", "`<fullname>`"),
    rbac: group("RBAC.", {
      create: bool(true, "Create the Roles and RoleBindings: agents may get and delete pods (their deregister sidecar reads and deletes its own pod; not with autoscaling, where agent pods have no Kubernetes token); the refresher may get and patch its own Deployment; the collector may get and delete pods."),
    }),
    refresh: group("Scheduled refresh: a CronJob restarts the Deployment so idle agents pick up a new image and agent. Not rendered with autoscaling (every agent pod is new; `agent.maxLifetimeSeconds` bounds the age of the `minReplicas` idle agents).", {
      enabled: bool(true, "Create the refresh CronJob."),
      schedule: str("0 0 * * 0", "Cron schedule (default: Sundays at midnight).", { schema: { pattern: patterns.cron } }),
      timeZone: str("", "Time zone of the schedule, e.g. `Europe/Berlin`.", {
        defaultNote: "the controller manager's",
        schema: { pattern: patterns.timeZone },
      }),
      suspend: bool(false, "Suspend the schedule."),
      concurrencyPolicy: str("Forbid", "Concurrency policy of the CronJob.", { schema: { enum: ["Allow", "Forbid", "Replace"] } }),
      successfulJobsHistoryLimit: int(1, "Successful refresh jobs kept.", { schema: { minimum: 0 } }),
      failedJobsHistoryLimit: int(3, "Failed refresh jobs kept.", { schema: { minimum: 0 } }),
      startingDeadlineSeconds: int(600, "Deadline for starting a missed run.", { schema: { minimum: 10 } }),
      resources: fragment(
        { requests: { cpu: "10m", memory: "32Mi" }, limits: { memory: "64Mi" } },
        "Resources of the refresh job.",
        { schema: resourceSchema },
      ),
      serviceAccount: serviceAccount("the refresh job", "`<fullname>-refresh`"),
    }),
    gc: group(
      "Garbage collection: a CronJob removes this release's agents that their pod did not remove: the pod died first (a lost node, a force-deleted or OOM-killed pod), or its sidecar was cut off after the job (then the pod is deleted too). It never touches a busy agent, an unused agent whose pod exists, or another release's agents.",
      {
        enabled: bool(true, "Create the garbage-collection CronJob."),
        schedule: str("*/10 * * * *", "Cron schedule (default: every 10 minutes).", { schema: { pattern: patterns.cron } }),
        offlineGraceSeconds: int(
          600,
          "An agent is collected only when its status last changed (and, when its pod still exists, its job finished) longer ago than this. The pod's own sidecar normally removes an agent within seconds.",
          { schema: { minimum: 0, maximum: 604800 } },
        ),
        dryRun: bool(false, "Log what would be removed, remove nothing."),
        suspend: bool(false, "Suspend the schedule."),
        successfulJobsHistoryLimit: int(1, "Successful collection jobs kept.", { schema: { minimum: 0 } }),
        failedJobsHistoryLimit: int(3, "Failed collection jobs kept.", { schema: { minimum: 0 } }),
        resources: fragment(
          { requests: { cpu: "10m", memory: "32Mi" }, limits: { memory: "128Mi" } },
          "Resources of the collection job (it reads the release's agents with their capabilities in one answer).",
          { schema: resourceSchema },
        ),
        serviceAccount: serviceAccount("the collection job (it may get and delete pods)", "`<fullname>-gc`"),
      },
    ),
    tests: group("The `helm test` smoke test.", {
      enabled: bool(true, "Create the test pod hook."),
      timeoutSeconds: int(180, "How long the test waits for this release's agents to be registered.", { schema: { minimum: 0 } }),
    }),
  });
}

/** The committed chart's model. */
export const valuesModel: GroupSpec = buildValuesModel();
