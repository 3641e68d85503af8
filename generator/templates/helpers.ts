import { imageContract, proxyEnvNames } from "../contract/image.ts";
import { generatedHeader } from "../generated-header.ts";
import { v } from "../model/values.ts";
import { crossFieldRulesTemplate } from "./cross-field-rules.ts";
import { helper } from "./helper-names.ts";

/** The API the own-pod deletion policy needs (GA in Kubernetes 1.30, with the pod-name claim of bound tokens). */
export const admissionPolicyApi = "admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy";

/** KEDA's oldest release the chart accepts: 2.20 stopped counting jobs an agent has received. */
export const kedaMinVersion = "2.20.0";
/** The API the chart's autoscaling resources need (`.Capabilities.APIVersions`). */
export const kedaApi = { scaledJob: "keda.sh/v1alpha1/ScaledJob", triggerAuthentication: "keda.sh/v1alpha1/TriggerAuthentication", crd: "scaledjobs.keda.sh" } as const;

const releaseEnv = imageContract.env.release.name;

/** The chart's own NetworkPolicy destinations (`networkPolicy.<name>.cidrs`): none may be a metadata address. */
const chartDestinations = ["azureDevOps", "apiServer", "entra"] as const;
const metadataAddresses = v("networkPolicy.metadataAddresses");
const allowMetadata = v("networkPolicy.allowMetadata");
const extraEgress = v("networkPolicy.extraEgress");

/** A ServiceAccount name helper: the group's `name`, else `defaultName` when the chart creates it. */
function serviceAccountName(group: string, defaultName: string): string {
  const create = v(`${group}.create`).path;
  const name = v(`${group}.name`).path;
  return `{{- if ${create} }}{{ default (include "${defaultName}" .) ${name} }}{{- else }}{{ ${name} }}{{- end }}`;
}

/** `_helpers.tpl`: the named templates `helper` names (helper-names.ts), defined once for every template. */
export function helpersTpl(): string {
  const { containers } = imageContract;
  const defines: [string, string, string][] = [
    [helper.name, "Chart name, overridable.", `{{- default .Chart.Name ${v("nameOverride").path} | trunc 40 | trimSuffix "-" }}`],
    [
      helper.fullname,
      "Release-scoped name prefix of every resource; 40 characters leave room for suffixes (CronJob names are limited to 52).",
      [
        `{{- if ${v("fullnameOverride").path} }}`,
        `{{- ${v("fullnameOverride").path} | trunc 40 | trimSuffix "-" }}`,
        `{{- else }}`,
        `{{- $name := default .Chart.Name ${v("nameOverride").path} }}`,
        `{{- if contains $name .Release.Name }}`,
        `{{- .Release.Name | trunc 40 | trimSuffix "-" }}`,
        `{{- else }}`,
        `{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" }}`,
        `{{- end }}`,
        `{{- end }}`,
      ].join("\n"),
    ],
    [helper.chart, "Chart label value.", `{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}`],
    [helper.namespace, "Namespace of every resource.", `{{- default .Release.Namespace ${v("namespace.name").path} }}`],
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
        `app.kubernetes.io/version: {{ default .Chart.AppVersion ${v("image.tag").path} | quote }}`,
        `app.kubernetes.io/managed-by: {{ .Release.Service }}`,
        `app.kubernetes.io/part-of: {{ include "${helper.name}" . | quote }}`,
      ].join("\n"),
    ],
    [
      helper.serviceAccountName,
      `Identity of the agent pods (used only by their ${containers.deregister} sidecar).`,
      serviceAccountName("serviceAccount", helper.fullname),
    ],
    [helper.refreshName, "Name of the refresh CronJob and its Role.", `{{- printf "%s-refresh" (include "${helper.fullname}" .) }}`],
    [
      helper.refreshServiceAccountName,
      "Identity of the refresh job.",
      serviceAccountName("refresh.serviceAccount", helper.refreshName),
    ],
    [helper.gcName, "Name of the garbage-collection CronJob and its Role.", `{{- printf "%s-gc" (include "${helper.fullname}" .) }}`],
    [
      helper.gcServiceAccountName,
      "Identity of the garbage-collection job.",
      serviceAccountName("gc.serviceAccount", helper.gcName),
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
        `{{- if not ${allowMetadata.pathFrom(".root")} }}`,
        `{{- range ${metadataAddresses.pathFrom(".root")} }}`,
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
        `{{- if not ${allowMetadata.path} }}`,
        ...chartDestinations.flatMap((destination) => {
          const cidrs = v(`networkPolicy.${destination}.cidrs`);
          return [
            `{{- range $cidr := ${cidrs.path} }}`,
            `{{- range $ip := ${metadataAddresses.pathFrom("$")} }}`,
            `{{- if and (hasSuffix "/32" $cidr) (include "${helper.cidrHolds}" (dict "cidr" $cidr "ip" $ip)) }}`,
            `{{- fail (printf "${cidrs.key} has %s, the metadata address %s itself: remove it, or set ${allowMetadata.key}=true if the pods must reach it" $cidr $ip) }}`,
            `{{- end }}`,
            `{{- end }}`,
            `{{- end }}`,
          ];
        }),
        `{{- range $i, $rule := ${extraEgress.path} }}`,
        `{{- if not $rule.to }}`,
        `{{- fail (printf "${extraEgress.key}[%d] has no destinations (\\"to\\"), so it lets the agent pods reach every address, the metadata addresses included: list its destinations (an ipBlock that excepts the metadata addresses, or selectors), or set ${allowMetadata.key}=true" $i) }}`,
        `{{- end }}`,
        `{{- range $peer := $rule.to }}`,
        `{{- with $peer.ipBlock }}`,
        `{{- $block := . }}`,
        `{{- if regexMatch "^::[fF]{4}:" (toString $block.cidr) }}`,
        `{{- fail (printf "${extraEgress.key}[%d] has the IPv4-mapped IPv6 range %s: write it as an IPv4 range, so that the metadata addresses can be checked and excepted" $i (toString $block.cidr)) }}`,
        `{{- end }}`,
        `{{- range $ip := ${metadataAddresses.pathFrom("$")} }}`,
        `{{- if and (include "${helper.cidrHolds}" (dict "cidr" (toString $block.cidr) "ip" $ip)) (not (has (printf "%s/32" $ip) (default (list) $block.except))) }}`,
        `{{- fail (printf "${extraEgress.key}[%d] lets the agent pods reach the metadata address %s (ipBlock %s): add \\"%s/32\\" to that ipBlock's except, or set ${allowMetadata.key}=true if jobs must reach it" $i $ip (toString $block.cidr) $ip) }}`,
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
      crossFieldRulesTemplate(),
    ],
  ];
  const body = defines.map(([name, doc, text]) => `{{/* ${doc} */}}\n{{- define "${name}" -}}\n${text}\n{{- end }}`).join("\n\n");
  return `${generatedHeader.goTemplate("generator/templates/helpers.ts")}\n${body}\n`;
}
