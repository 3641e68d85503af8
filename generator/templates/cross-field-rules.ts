import { caBundleEnvName, imageContract } from "../contract/image.ts";
import { v } from "../model/values.ts";
import { helper } from "./helper-names.ts";

/**
 * The chart's cross-field validation: rules over several values that values.schema.json cannot
 * express (style.md rule 6). `_helpers.tpl` renders them as the `validate` named template, which
 * deployment.yaml includes first, so `helm template` and `helm install` fail before anything is
 * created; the chart README lists their messages.
 */

/** One rule: a condition that must not hold, and the message naming the value and the fix. */
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

/** The body of the `validate` named template: each rule as `{{- if … }}{{- fail … }}`. */
export function crossFieldRulesTemplate(): string {
  return crossFieldRules().map(ruleTemplate).join("\n");
}
