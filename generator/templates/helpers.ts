import { caBundleEnvName, imageContract, proxyEnvNames } from "../contract/image.ts";
import { release } from "../contract/release.ts";
import { v } from "../model/values.ts";

/**
 * Named templates of `_helpers.tpl`, namespaced by the chart name (Helm best practices,
 * bitnami `common`). Templates refer to them through `helper.X`, never by a typed string.
 */
const chart = release.chartName;
const releaseEnv = imageContract.env.release.name;
export const helper = {
  name: `${chart}.name`,
  fullname: `${chart}.fullname`,
  chart: `${chart}.chart`,
  namespace: `${chart}.namespace`,
  labels: `${chart}.labels`,
  selectorLabels: `${chart}.selectorLabels`,
  serviceAccountName: `${chart}.serviceAccountName`,
  refreshServiceAccountName: `${chart}.refreshServiceAccountName`,
  refreshName: `${chart}.refreshName`,
  gcServiceAccountName: `${chart}.gcServiceAccountName`,
  gcName: `${chart}.gcName`,
  secretName: `${chart}.secretName`,
  secretKey: `${chart}.secretKey`,
  image: `${chart}.image`,
  validate: `${chart}.validate`,
  proxyEnv: `${chart}.proxyEnv`,
  extraEnvNames: `${chart}.extraEnvNames`,
  release: `${chart}.release`,
  placeholderName: `${chart}.placeholderName`,
  kedaDemands: `${chart}.kedaDemands`,
  kedaCheck: `${chart}.kedaCheck`,
  cidrHolds: `${chart}.cidrHolds`,
  metadataExcept: `${chart}.metadataExcept`,
  networkPolicyCheck: `${chart}.networkPolicyCheck`,
  admissionPolicyName: `${chart}.admissionPolicyName`,
  admissionPolicyCheck: `${chart}.admissionPolicyCheck`,
} as const;

/** The API the own-pod deletion policy needs (GA in Kubernetes 1.30, with the pod-name claim of bound tokens). */
export const admissionPolicyApi = "admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy";

/** KEDA's oldest release the chart accepts: 2.20 stopped counting jobs an agent has received. */
export const kedaMinVersion = "2.20.0";
/** The API the chart's autoscaling resources need (`.Capabilities.APIVersions`). */
export const kedaApi = { scaledJob: "keda.sh/v1alpha1/ScaledJob", triggerAuthentication: "keda.sh/v1alpha1/TriggerAuthentication", crd: "scaledjobs.keda.sh" } as const;

/** `include "<name>" .` — the expression form templates embed. */
export const include = (name: string): string => `include "${name}" .`;

/**
 * Cross-field rules the schema cannot express. Each message names the value and the fix
 * (style.md rule 6); the schema tests and the render tests assert these texts.
 */
export interface CrossFieldRule {
  /** Go-template condition; inside `range` it may use the bound variables. */
  readonly when: string;
  /** The message; in a `range` rule, `%s` stands for the offending name (`subject`). */
  readonly message: string;
  /** For rules over a map or list: the `range` clause and the expression naming the item. */
  readonly range?: { readonly clause: string; readonly subject: string };
}

/** The message as the README shows it: `<name>` where a `range` rule inserts the name. */
export const ruleText = (rule: CrossFieldRule): string => rule.message.replace("%s", "<name>");

/**
 * Variables the chart or the image sets on the register and agent containers: a capability or
 * extra variable of the same name would silently replace one of them (Kubernetes keeps the
 * last duplicate), e.g. AZP_RELEASE, which helm test counts agents by.
 */
export function reservedEnvNames(): string[] {
  return [...Object.values(imageContract.env).map((e) => e.name), ...Object.values(imageContract.capabilityEnv), caBundleEnvName];
}

export function crossFieldRules(): CrossFieldRule[] {
  const url = v("azp.url");
  const token = v("azp.token");
  const secret = v("azp.existingSecret");
  const secretKey = v("azp.existingSecretKey");
  const saCreate = v("serviceAccount.create");
  const saName = v("serviceAccount.name");
  const refreshEnabled = v("refresh.enabled");
  const refreshSaCreate = v("refresh.serviceAccount.create");
  const refreshSaName = v("refresh.serviceAccount.name");
  const gcEnabled = v("gc.enabled");
  const gcSaCreate = v("gc.serviceAccount.create");
  const gcSaName = v("gc.serviceAccount.name");
  const lifetime = v("agent.maxLifetimeSeconds");
  const source = v("agent.source");
  const packageUrl = v("agent.packageUrl");
  const packageSha256 = v("agent.packageSha256");
  const nsCreate = v("namespace.create");
  const nsName = v("namespace.name");
  const capabilities = v("agent.capabilities");
  const extraEnv = v("extraEnv");
  const autoscaling = v("autoscaling.enabled");
  const minReplicas = v("autoscaling.minReplicas");
  const maxReplicas = v("autoscaling.maxReplicas");
  const reserved = `(list ${reservedEnvNames().map((n) => `"${n}"`).join(" ")})`;
  const authMode = v("azp.auth");
  const pat = `(eq ${authMode.path} "pat")`;
  const sp = `(eq ${authMode.path} "servicePrincipal")`;
  const entraMode = `(ne ${authMode.path} "pat")`;
  const tenant = v("azp.entra.tenantId");
  const client = v("azp.entra.clientId");
  const clientSecret = v("azp.entra.clientSecret");
  const spSecret = v("azp.entra.existingSecret");
  const spSecretKey = v("azp.entra.existingSecretKey");
  return [
    {
      when: `not ${url.path}`,
      message: `${url.key} is required: set it to your organization URL, e.g. --set ${url.key}=https://dev.azure.com/<organization>`,
    },
    {
      when: `and ${pat} (not ${token.path}) (not ${secret.path})`,
      message: `${token.key} or ${secret.key} is required: pass the PAT with --set ${token.key}=<PAT>, or name an existing Secret with --set ${secret.key}=<name> (key: ${secretKey.key})`,
    },
    {
      when: `and ${pat} ${token.path} ${secret.path}`,
      message: `${token.key} and ${secret.key} are both set: keep only one: remove ${token.key} to use the existing Secret, or remove ${secret.key} to let the chart manage the Secret`,
    },
    {
      when: `and ${entraMode} (or ${token.path} ${secret.path})`,
      message: `${token.key} and ${secret.key} hold a PAT, which ${authMode.key}=servicePrincipal or workloadIdentity does not use: remove them (the identity is ${tenant.key} and ${client.key})`,
    },
    {
      when: `and ${entraMode} (not ${tenant.path})`,
      message: `${tenant.key} is required with ${authMode.key}=servicePrincipal or workloadIdentity: set it to the identity's directory (tenant) id, --set ${tenant.key}=<GUID>`,
    },
    {
      when: `and ${entraMode} (not ${client.path})`,
      message: `${client.key} is required with ${authMode.key}=servicePrincipal or workloadIdentity: set it to the application (client) id of the service principal or managed identity, --set ${client.key}=<GUID>`,
    },
    {
      when: `and ${sp} (not ${clientSecret.path}) (not ${spSecret.path})`,
      message: `${clientSecret.key} or ${spSecret.key} is required with ${authMode.key}=servicePrincipal: pass the client secret with --set ${clientSecret.key}=<secret>, or name an existing Secret with --set ${spSecret.key}=<name> (key: ${spSecretKey.key})`,
    },
    {
      when: `and ${sp} ${clientSecret.path} ${spSecret.path}`,
      message: `${clientSecret.key} and ${spSecret.key} are both set: keep only one: remove ${clientSecret.key} to use the existing Secret, or remove ${spSecret.key} to let the chart manage the Secret`,
    },
    {
      when: `and (not ${sp}) (or ${clientSecret.path} ${spSecret.path})`,
      message: `${clientSecret.key} and ${spSecret.key} apply only with ${authMode.key}=servicePrincipal: remove them, or set ${authMode.key}=servicePrincipal`,
    },
    {
      when: `and ${autoscaling.path} ${sp}`,
      message: `${autoscaling.key} does not work with ${authMode.key}=servicePrincipal: KEDA's azure-pipelines scaler authenticates with a PAT or with KEDA's own workload identity, never with a client secret; use ${authMode.key}=workloadIdentity (and give KEDA's operator the identity) or ${authMode.key}=pat`,
    },
    {
      when: `and (not ${saCreate.path}) (not ${saName.path})`,
      message: `${saName.key} is required when ${saCreate.key}=false: name an existing ServiceAccount, or set ${saCreate.key}=true`,
    },
    {
      // Not with autoscaling: no refresh CronJob is rendered then.
      when: `and ${refreshEnabled.path} (not ${autoscaling.path}) (not ${refreshSaCreate.path}) (not ${refreshSaName.path})`,
      message: `${refreshSaName.key} is required when ${refreshSaCreate.key}=false: name an existing ServiceAccount, set ${refreshSaCreate.key}=true, or disable the refresher with ${refreshEnabled.key}=false`,
    },
    {
      when: `and ${gcEnabled.path} (not ${gcSaCreate.path}) (not ${gcSaName.path})`,
      message: `${gcSaName.key} is required when ${gcSaCreate.key}=false: name an existing ServiceAccount, set ${gcSaCreate.key}=true, or disable garbage collection with ${gcEnabled.key}=false`,
    },
    {
      when: `and (gt (int ${lifetime.path}) 0) (lt (int ${lifetime.path}) 60)`,
      message: `${lifetime.key} must be 0 (off) or at least 60: an agent needs about a minute to start, a shorter lifetime would replace agents before they take a job; set --set ${lifetime.key}=<seconds, e.g. 86400>`,
    },
    {
      when: `and ${packageUrl.path} (ne ${source.path} "download")`,
      message: `${packageUrl.key} only applies with ${source.key}=download: set ${source.key}=download or remove ${packageUrl.key}`,
    },
    {
      when: `and ${packageUrl.path} (not ${packageSha256.path})`,
      message: `${packageSha256.key} is required with ${packageUrl.key}: the mirror's package is verified against it; pass --set ${packageSha256.key}=<SHA-256 of the package>`,
    },
    {
      when: `and ${packageSha256.path} (not ${packageUrl.path})`,
      message: `${packageSha256.key} only applies with ${packageUrl.key}: set ${packageUrl.key} to the mirror's https URL, or remove ${packageSha256.key} (Azure DevOps publishes the hash of the package it offers)`,
    },
    {
      range: { clause: `$name, $_ := ${capabilities.path}`, subject: "$name" },
      when: `has $name ${reserved}`,
      message: `${capabilities.key} has the reserved name %s: the chart or the image sets that variable itself; rename the capability (reserved: ${reservedEnvNames().join(", ")})`,
    },
    {
      range: { clause: `$env := ${extraEnv.path}`, subject: "$env.name" },
      when: `has $env.name ${reserved}`,
      message: `${extraEnv.key} has the reserved name %s: the chart or the image sets that variable itself; rename the variable (reserved: ${reservedEnvNames().join(", ")})`,
    },
    {
      when: `and ${autoscaling.path} (gt (int ${minReplicas.path}) (int ${maxReplicas.path}))`,
      message: `${minReplicas.key} is greater than ${maxReplicas.key}: KEDA never runs more than ${maxReplicas.key} agent Jobs; set ${minReplicas.key} to at most ${maxReplicas.key}, or raise ${maxReplicas.key}`,
    },
    {
      range: { clause: `$name, $value := ${capabilities.path}`, subject: "$name" },
      when: `and $${autoscaling.path} (contains "," (toString $value))`,
      message: `${capabilities.key} has a comma in the value of %s: with ${autoscaling.key}=true the capabilities become KEDA's comma-separated demands list; remove the comma from that value`,
    },
    {
      range: { clause: `$name, $_ := ${capabilities.path}`, subject: "$name" },
      when: `and $${autoscaling.path} (lt (len (without (keys $${capabilities.path} | join "\\n" | lower | splitList "\\n") (lower $name))) (sub (len $${capabilities.path}) 1))`,
      message: `${capabilities.key} has %s and another name that differs only in case: Azure DevOps compares capability names without case, so with ${autoscaling.key}=true KEDA could never match such a demand; rename one of them`,
    },
    {
      when: `and ${v("admissionPolicy.enabled").path} ${gcEnabled.path} (eq (include "${helper.serviceAccountName}" .) (include "${helper.gcServiceAccountName}" .))`,
      message: `${saName.key} and ${gcSaName.key} name the same ServiceAccount while ${v("admissionPolicy.enabled").key}=true: the policy would let the collector delete only its own pod, not an agent's; give the collector a ServiceAccount of its own (${gcSaCreate.key}=true)`,
    },
    {
      when: `and ${nsCreate.path} (not ${nsName.path})`,
      message: `${nsName.key} is required when ${nsCreate.key}=true: Helm stores the release in the release namespace, which must exist already; create another namespace by name, or use helm install --create-namespace instead`,
    },
  ];
}

/** Go-template string literal: the messages contain no backquote. */
const goString = (text: string): string => `\`${text}\``;

function ruleTemplate(rule: CrossFieldRule): string {
  if (rule.range === undefined) return `{{- if ${rule.when} }}\n{{- fail ${goString(rule.message)} }}\n{{- end }}`;
  return [
    `{{- range ${rule.range.clause} }}`,
    `{{- if ${rule.when} }}`,
    `{{- fail (printf ${goString(rule.message)} ${rule.range.subject}) }}`,
    `{{- end }}`,
    `{{- end }}`,
  ].join("\n");
}

const HEADER = "{{- /* Generated by generator/templates/helpers.ts — edit the generator, not this file. */ -}}";

export function helpersTpl(): string {
  const { containers } = imageContract;
  const defines: [string, string, string][] = [
    [helper.name, "Chart name, overridable.", `{{- default .Chart.Name .Values.nameOverride | trunc 40 | trimSuffix "-" }}`],
    [
      helper.fullname,
      "Release-scoped name prefix of every resource; 40 characters leave room for suffixes (CronJob names are limited to 52).",
      [
        `{{- if .Values.fullnameOverride }}`,
        `{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" }}`,
        `{{- else }}`,
        `{{- $name := default .Chart.Name .Values.nameOverride }}`,
        `{{- if contains $name .Release.Name }}`,
        `{{- .Release.Name | trunc 40 | trimSuffix "-" }}`,
        `{{- else }}`,
        `{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" }}`,
        `{{- end }}`,
        `{{- end }}`,
      ].join("\n"),
    ],
    [helper.chart, "Chart label value.", `{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}`],
    [helper.namespace, "Namespace of every resource.", `{{- default .Release.Namespace .Values.namespace.name }}`],
    [
      helper.selectorLabels,
      "Immutable selector labels (a subset of the standard labels).",
      [`app.kubernetes.io/name: {{ include "${helper.name}" . | quote }}`, `app.kubernetes.io/instance: {{ .Release.Name | quote }}`].join("\n"),
    ],
    [
      helper.labels,
      "Standard labels of every resource.",
      [
        `helm.sh/chart: {{ include "${helper.chart}" . }}`,
        `{{ include "${helper.selectorLabels}" . }}`,
        `app.kubernetes.io/version: {{ default .Chart.AppVersion .Values.image.tag | quote }}`,
        `app.kubernetes.io/managed-by: {{ .Release.Service }}`,
        `app.kubernetes.io/part-of: {{ include "${helper.name}" . | quote }}`,
      ].join("\n"),
    ],
    [
      helper.serviceAccountName,
      `Identity of the agent pods (used only by their ${containers.deregister} sidecar).`,
      `{{- if .Values.serviceAccount.create }}{{ default (include "${helper.fullname}" .) .Values.serviceAccount.name }}{{- else }}{{ .Values.serviceAccount.name }}{{- end }}`,
    ],
    [helper.refreshName, "Name of the refresh CronJob and its Role.", `{{- printf "%s-refresh" (include "${helper.fullname}" .) }}`],
    [
      helper.refreshServiceAccountName,
      "Identity of the refresh job.",
      `{{- if .Values.refresh.serviceAccount.create }}{{ default (include "${helper.refreshName}" .) .Values.refresh.serviceAccount.name }}{{- else }}{{ .Values.refresh.serviceAccount.name }}{{- end }}`,
    ],
    [helper.gcName, "Name of the garbage-collection CronJob and its Role.", `{{- printf "%s-gc" (include "${helper.fullname}" .) }}`],
    [
      helper.gcServiceAccountName,
      "Identity of the garbage-collection job.",
      `{{- if .Values.gc.serviceAccount.create }}{{ default (include "${helper.gcName}" .) .Values.gc.serviceAccount.name }}{{- else }}{{ .Values.gc.serviceAccount.name }}{{- end }}`,
    ],
    [
      helper.secretName,
      "Secret holding the credential: the PAT (auth: pat) or the client secret (auth: servicePrincipal).",
      `{{- if eq ${v("azp.auth").path} "servicePrincipal" }}{{ default (include "${helper.fullname}" .) ${v("azp.entra.existingSecret").path} }}{{- else }}{{ default (include "${helper.fullname}" .) ${v("azp.existingSecret").path} }}{{- end }}`,
    ],
    [
      helper.secretKey,
      "Key of the credential in that Secret.",
      [
        `{{- if eq ${v("azp.auth").path} "servicePrincipal" }}`,
        `{{- if ${v("azp.entra.existingSecret").path} }}{{ ${v("azp.entra.existingSecretKey").path} }}{{- else }}${imageContract.tokenFileName}{{- end }}`,
        `{{- else }}`,
        `{{- if ${v("azp.existingSecret").path} }}{{ ${v("azp.existingSecretKey").path} }}{{- else }}${imageContract.tokenFileName}{{- end }}`,
        `{{- end }}`,
      ].join("\n"),
    ],
    [
      helper.image,
      "Image reference: repository:tag, pinned to @digest when a digest is set.",
      [
        `{{- $reference := printf "%s:%s" ${v("image.repository").path} (default .Chart.AppVersion ${v("image.tag").path}) }}`,
        `{{- with ${v("image.digest").path} }}{{ $reference = printf "%s@%s" $reference . }}{{ end }}`,
        `{{- $reference }}`,
      ].join("\n"),
    ],
    [
      helper.proxyEnv,
      "The proxy settings as environment variables, in both spellings (curl reads the lower-case ones).",
      (Object.keys(proxyEnvNames) as (keyof typeof proxyEnvNames)[])
        .map((key) =>
          [
            `{{- with ${v(`proxy.${key}`).path} }}`,
            ...proxyEnvNames[key].map((name) => `- name: ${name}\n  value: {{ . | quote }}`),
            `{{- end }}`,
          ].join("\n"),
        )
        .join("\n"),
    ],
    [
      helper.extraEnvNames,
      "Names of `extraEnv`, comma-separated: the agent must not report them as capabilities (VSO_AGENT_IGNORE).",
      `{{- $names := list }}{{- range ${v("extraEnv").path} }}{{- $names = append $names .name }}{{- end }}{{- join "," $names }}`,
    ],
    [
      helper.release,
      "`<namespace>/<fullname>`: the AZP_RELEASE capability of this release's agents.",
      `{{- printf "%s/%s" .Release.Namespace (include "${helper.fullname}" .) }}`,
    ],
    [
      helper.placeholderName,
      "Name of the release's placeholder agent (autoscaling): unique in a pool shared by namespaces (a hash of `<namespace>/<fullname>` when the readable part is cut).",
      [
        `{{- $readable := printf "%s-%s" .Release.Namespace (include "${helper.fullname}" .) | trunc 44 | trimSuffix "-" }}`,
        `{{- printf "%s-placeholder-%s" $readable (include "${helper.release}" . | sha256sum | trunc 8) }}`,
      ].join("\n"),
    ],
    [
      helper.kedaDemands,
      "KEDA's demands: what the release's agents and its placeholder both offer (AZP_RELEASE, the contract's placeholder system capabilities, agent.capabilities), in both forms (`name` and `name -equals value`), comma-separated (KEDA does not trim). A job counts only when each of its demands is in this list.",
      [
        `{{- $release := include "${helper.release}" . }}`,
        `{{- $demands := list "${releaseEnv}" (printf "${releaseEnv} -equals %s" $release) }}`,
        ...Object.entries(imageContract.placeholderSystemCapabilities).flatMap(([name, value]) => [`{{- $demands = append $demands "${name}" }}`, `{{- $demands = append $demands "${name} -equals ${value}" }}`]),
        `{{- range $name, $value := ${v("agent.capabilities").path} }}`,
        `{{- $demands = append $demands $name }}`,
        `{{- $demands = append $demands (printf "%s -equals %s" $name (toString $value)) }}`,
        `{{- end }}`,
        `{{- join "," $demands }}`,
      ].join("\n"),
    ],
    [
      helper.kedaCheck,
      "Autoscaling needs KEDA >= " + kedaMinVersion + ": its CRDs must be served, and (unless autoscaling.kedaVersionCheck=false) the version label of its ScaledJob CRD must not be older.",
      [
        `{{- if not (.Capabilities.APIVersions.Has "${kedaApi.scaledJob}") }}`,
        `{{- fail "autoscaling.enabled=true needs KEDA >= ${kedaMinVersion}, but the cluster does not serve ${kedaApi.scaledJob} (KEDA's CRDs are missing): install KEDA first (helm install keda kedacore/keda -n keda --create-namespace), or set autoscaling.enabled=false; with helm template, pass --api-versions ${kedaApi.scaledJob}" }}`,
        `{{- end }}`,
        `{{- if not (.Capabilities.APIVersions.Has "${kedaApi.triggerAuthentication}") }}`,
        `{{- fail "autoscaling.enabled=true needs KEDA's TriggerAuthentication (${kedaApi.triggerAuthentication}), which the cluster does not serve: install or repair KEDA >= ${kedaMinVersion}, or set autoscaling.enabled=false" }}`,
        `{{- end }}`,
        `{{- if ${v("autoscaling.kedaVersionCheck").path} }}`,
        `{{- $crd := lookup "apiextensions.k8s.io/v1" "CustomResourceDefinition" "" "${kedaApi.crd}" }}`,
        `{{- $version := "" }}`,
        `{{- if $crd }}{{- $version = dig "metadata" "labels" "app.kubernetes.io/version" "" $crd }}{{- end }}`,
        `{{- if and $version (regexMatch "^v?[0-9]+[.][0-9]+[.][0-9]+" $version) }}`,
        `{{- if semverCompare "<${kedaMinVersion}-0" (regexFind "^v?[0-9]+[.][0-9]+[.][0-9]+" $version) }}`,
        `{{- fail (printf "autoscaling.enabled=true needs KEDA >= ${kedaMinVersion}, but the cluster runs KEDA %s (label app.kubernetes.io/version of CRD ${kedaApi.crd}): older KEDA counts jobs that agents have already received and starts a duplicate agent for each; upgrade KEDA, or set autoscaling.kedaVersionCheck=false if the label is wrong" $version) }}`,
        `{{- end }}`,
        `{{- end }}`,
        `{{- end }}`,
      ].join("\n"),
    ],
    [
      helper.cidrHolds,
      'Whether the IPv4 CIDR `.cidr` holds the address `.ip` ("true" or nothing; an IPv6 CIDR holds none).',
      [
        `{{- $ip := .ip }}`,
        `{{- $parts := splitList "/" .cidr }}`,
        `{{- if and (eq (len $parts) 2) (regexMatch "^[0-9.]+$" (first $parts)) }}`,
        `{{- $net := 0 }}{{- range splitList "." (first $parts) }}{{- $net = add (mul $net 256) (atoi .) }}{{- end }}`,
        `{{- $addr := 0 }}{{- range splitList "." $ip }}{{- $addr = add (mul $addr 256) (atoi .) }}{{- end }}`,
        `{{- $block := 1 }}{{- range until (sub 32 (atoi (last $parts)) | int) }}{{- $block = mul $block 2 }}{{- end }}`,
        `{{- if eq (div $net $block) (div $addr $block) }}true{{- end }}`,
        `{{- end }}`,
      ].join("\n"),
    ],
    [
      helper.metadataExcept,
      "The `except` list of an ipBlock over `.cidr`: each of networkPolicy.metadataAddresses it holds, as `<address>/32` (none with networkPolicy.allowMetadata).",
      [
        `{{- $cidr := .cidr }}`,
        `{{- $except := list }}`,
        `{{- if not .root.Values.networkPolicy.allowMetadata }}`,
        `{{- range .root.Values.networkPolicy.metadataAddresses }}`,
        `{{- if include "${helper.cidrHolds}" (dict "cidr" $cidr "ip" .) }}{{- $except = append $except (printf "%s/32" .) }}{{- end }}`,
        `{{- end }}`,
        `{{- end }}`,
        `{{- toJson $except }}`,
      ].join("\n"),
    ],
    [
      helper.networkPolicyCheck,
      "No rule may open a metadata address unless networkPolicy.allowMetadata: no chart range is one (a range holding one gets it in `except`), each ipBlock of extraEgress that holds one lists it in `except`, no extraEgress rule goes everywhere.",
      [
        `{{- if not ${v("networkPolicy.allowMetadata").path} }}`,
        `{{- range $key := list "azureDevOps" "apiServer" "entra" }}`,
        `{{- range $cidr := (index $.Values.networkPolicy $key).cidrs }}`,
        `{{- range $ip := $.Values.networkPolicy.metadataAddresses }}`,
        `{{- if and (hasSuffix "/32" $cidr) (include "${helper.cidrHolds}" (dict "cidr" $cidr "ip" $ip)) }}`,
        `{{- fail (printf "networkPolicy.%s.cidrs has %s, the metadata address %s itself: remove it, or set networkPolicy.allowMetadata=true if the pods must reach it" $key $cidr $ip) }}`,
        `{{- end }}`,
        `{{- end }}`,
        `{{- end }}`,
        `{{- end }}`,
        `{{- range $i, $rule := ${v("networkPolicy.extraEgress").path} }}`,
        `{{- if not $rule.to }}`,
        `{{- fail (printf "networkPolicy.extraEgress[%d] has no destinations (\\"to\\"), so it lets the agent pods reach every address, the metadata addresses included: list its destinations (an ipBlock that excepts the metadata addresses, or selectors), or set networkPolicy.allowMetadata=true" $i) }}`,
        `{{- end }}`,
        `{{- range $peer := $rule.to }}`,
        `{{- with $peer.ipBlock }}`,
        `{{- $block := . }}`,
        `{{- if regexMatch "^::[fF]{4}:" (toString $block.cidr) }}`,
        `{{- fail (printf "networkPolicy.extraEgress[%d] has the IPv4-mapped IPv6 range %s: write it as an IPv4 range, so that the metadata addresses can be checked and excepted" $i (toString $block.cidr)) }}`,
        `{{- end }}`,
        `{{- range $ip := ${v("networkPolicy.metadataAddresses").path.replace(".Values", "$.Values")} }}`,
        `{{- if and (include "${helper.cidrHolds}" (dict "cidr" (toString $block.cidr) "ip" $ip)) (not (has (printf "%s/32" $ip) (default (list) $block.except))) }}`,
        `{{- fail (printf "networkPolicy.extraEgress[%d] lets the agent pods reach the metadata address %s (ipBlock %s): add \\"%s/32\\" to that ipBlock's except, or set networkPolicy.allowMetadata=true if jobs must reach it" $i $ip (toString $block.cidr) $ip) }}`,
        `{{- end }}`,
        `{{- end }}`,
        `{{- end }}`,
        `{{- end }}`,
        `{{- end }}`,
        `{{- end }}`,
      ].join("\n"),
    ],
    [
      helper.admissionPolicyName,
      "Name of the release's ValidatingAdmissionPolicy and binding (cluster-scoped, so the namespace is part of it).",
      `{{- printf "%s-%s-own-pod-deletion" (include "${helper.namespace}" .) (include "${helper.fullname}" .) }}`,
    ],
    [
      helper.admissionPolicyCheck,
      "admissionPolicy.enabled needs ValidatingAdmissionPolicy (Kubernetes >= 1.30).",
      [
        `{{- if not (.Capabilities.APIVersions.Has "${admissionPolicyApi}") }}`,
        `{{- fail "admissionPolicy.enabled=true needs ${admissionPolicyApi} (Kubernetes >= 1.30, whose bound service-account tokens name their pod), which the cluster does not serve: upgrade the cluster, or set admissionPolicy.enabled=false; with helm template, pass --api-versions ${admissionPolicyApi}" }}`,
        `{{- end }}`,
      ].join("\n"),
    ],
    [
      helper.validate,
      "Cross-field rules the schema cannot express; included by the Deployment so `helm template` and `helm install` fail early.",
      crossFieldRules().map(ruleTemplate).join("\n"),
    ],
  ];
  const body = defines.map(([name, doc, text]) => `{{/* ${doc} */}}\n{{- define "${name}" -}}\n${text}\n{{- end }}`).join("\n\n");
  return `${HEADER}\n${body}\n`;
}
