import { federatedTokenFilePath, imageContract, tokenFilePath, type AuthMode, type EnvKey } from "../contract/image.ts";
import type { JsonValue } from "./value-spec.ts";
import { v } from "./values.ts";

/**
 * The value each contract variable gets from the chart's values, typed once (`contractEnvSource`)
 * and read by two interpreters: the chart's emitter (templates/pod-parts.ts) turns a source into
 * a Go-template expression, and `contractEnvValue` computes, for given values, the text Helm
 * renders — which the image tests' simulated pod sets (test/image/support/pod.ts). A render test
 * checks that the two agree on every variable of the agent pod (test/render/contract-env.test.ts).
 */

/** A source whose value is text. */
export type TextSource =
  /** A fixed text (a path of the contract). */
  | { readonly kind: "constant"; readonly text: string }
  /**
   * A key of the values model, as text (Helm's `toString`); `trimTrailingSlash` drops one
   * trailing `/`, `json` is the value as JSON, `zeroMeans` replaces 0 (Helm's `default`).
   */
  | { readonly kind: "value"; readonly key: string; readonly format?: "trimTrailingSlash" | "json"; readonly zeroMeans?: number }
  /** A name the chart's named templates derive from the release or the values (`_helpers.tpl`). */
  | { readonly kind: "derived"; readonly name: DerivedName }
  /** One source with `autoscaling.enabled` (KEDA's Jobs), another without (the Deployment). */
  | { readonly kind: "byMode"; readonly autoscaling: TextSource; readonly deployment: TextSource };

/** Where a contract variable's value comes from: text, or the pod's own name or namespace (downward API). */
export type EnvSource = TextSource | { readonly kind: "pod"; readonly field: "metadata.name" | "metadata.namespace" };

/** Named templates of `_helpers.tpl` a variable takes its value from. */
export type DerivedName = "release" | "fullname" | "placeholderName" | "extraEnvNames";

/** The `azp.auth` modes in which the pods use the credential Secret, the federated token, and Microsoft Entra. */
export const authModesWith = {
  secret: ["pat", "servicePrincipal"],
  federatedToken: ["workloadIdentity"],
  entra: ["servicePrincipal", "workloadIdentity"],
} as const satisfies Record<string, readonly AuthMode[]>;

export interface ContractEnvSpec {
  readonly source: EnvSource;
  /** The `azp.auth` modes in which the chart sets the variable (default: all). */
  readonly authModes?: readonly AuthMode[];
}

const constant = (text: string): TextSource => ({ kind: "constant", text });
const value = (key: string, options: { format?: "trimTrailingSlash" | "json"; zeroMeans?: number } = {}): TextSource => ({ kind: "value", key, ...options });
const derived = (name: DerivedName): TextSource => ({ kind: "derived", name });
const byMode = (autoscaling: TextSource, deployment: TextSource): TextSource => ({ kind: "byMode", autoscaling, deployment });

/** `agent.maxLifetimeSeconds` when it is 0 and autoscaling is on (one day). */
const autoscalingLifetimeDefault = 86400;

/** The value the chart gives each contract variable. */
const sources: { readonly [key in EnvKey]: ContractEnvSpec } = {
  url: { source: value("azp.url", { format: "trimTrailingSlash" }) },
  pool: { source: value("azp.pool") },
  tokenFile: { source: constant(tokenFilePath), authModes: authModesWith.secret },
  auth: { source: value("azp.auth") },
  tenantId: { source: value("azp.entra.tenantId"), authModes: authModesWith.entra },
  clientId: { source: value("azp.entra.clientId"), authModes: authModesWith.entra },
  authorityHost: { source: value("azp.entra.authorityHost"), authModes: authModesWith.entra },
  federatedTokenFile: { source: constant(federatedTokenFilePath), authModes: authModesWith.federatedToken },
  agentName: { source: { kind: "pod", field: "metadata.name" } },
  podName: { source: { kind: "pod", field: "metadata.name" } },
  podNamespace: { source: { kind: "pod", field: "metadata.namespace" } },
  release: { source: derived("release") },
  work: { source: constant(imageContract.paths.work) },
  agentSource: { source: value("agent.source") },
  packageUrl: { source: value("agent.packageUrl") },
  packageSha256: { source: value("agent.packageSha256") },
  downloadTimeout: { source: value("agent.downloadTimeoutSeconds") },
  connectAttempts: { source: value("agent.connectAttempts") },
  retrySeconds: { source: value("agent.removeRetrySeconds") },
  statusCheckSeconds: { source: value("agent.statusCheckSeconds") },
  // With autoscaling, the minReplicas idle agents are refreshed by this alone: one day unless set.
  maxLifetimeSeconds: { source: byMode(value("agent.maxLifetimeSeconds", { zeroMeans: autoscalingLifetimeDefault }), value("agent.maxLifetimeSeconds")) },
  podLifecycle: { source: byMode(constant("complete"), constant("replace")) },
  idleTimeoutSeconds: { source: byMode(value("autoscaling.idleTimeoutSeconds"), constant("0")) },
  minIdleAgents: { source: value("autoscaling.minReplicas") },
  placeholderAgent: { source: byMode(derived("placeholderName"), constant("")) },
  placeholderCapabilities: { source: value("agent.capabilities", { format: "json" }) },
  stopGraceSeconds: { source: value("terminationGracePeriodSeconds") },
  agentIgnore: { source: derived("extraEnvNames") },
  deployment: { source: derived("fullname") },
  smokeMinAgents: { source: byMode(value("autoscaling.minReplicas"), value("replicaCount")) },
  smokeTimeout: { source: value("tests.timeoutSeconds") },
  gcOfflineGrace: { source: value("gc.offlineGraceSeconds") },
  gcDryRun: { source: value("gc.dryRun") },
};

/** The value the chart gives a contract variable. */
export const contractEnvSource = (key: EnvKey): ContractEnvSpec => sources[key];

/** The user's values (keys absent here take the model's default). */
export type ValuesObject = { readonly [key: string]: JsonValue };

/** What the chart's named templates give for one release and pod, which values alone do not say. */
export interface ReleaseFacts {
  /** The pod's name and namespace (downward API). */
  readonly podName: string;
  readonly namespace: string;
  /** `<namespace>/<fullname>` (the `release` named template). */
  readonly release: string;
  readonly fullname?: string;
  readonly placeholderName?: string;
}

/**
 * A key's value: the user's, else the model's default. Helm merges maps key by key, which this
 * does not; every source reads a scalar, or a map or list whose default is empty.
 */
function valueAt(values: ValuesObject, key: string): JsonValue {
  let node: JsonValue | undefined = values;
  for (const part of key.split(".")) {
    node = node !== null && typeof node === "object" && !Array.isArray(node) ? node[part] : undefined;
    if (node === undefined) return v(key).spec.default;
  }
  return node;
}

/** Go's encoding/json, as Helm's `toJson` writes it: keys sorted, `<`, `>` and `&` escaped. */
function goJson(value: JsonValue): string {
  const sorted = (x: JsonValue): JsonValue =>
    x !== null && typeof x === "object" && !Array.isArray(x)
      ? Object.fromEntries(Object.keys(x).sort().map((k) => [k, sorted(x[k] as JsonValue)]))
      : Array.isArray(x)
        ? x.map(sorted)
        : x;
  return JSON.stringify(sorted(value)).replace(/</g, "\\u003c").replace(/>/g, "\\u003e").replace(/&/g, "\\u0026");
}

/**
 * Helm's `toString` of a scalar. The chart converts integer keys with `int64` first: a values
 * file's number is a float64 in Helm, which `toString` alone would print as `2e+06`.
 */
function goText(value: JsonValue): string {
  if (typeof value === "string" || typeof value === "number" || typeof value === "boolean" || value === null) return String(value);
  throw new Error(`no text for ${JSON.stringify(value)}`);
}

function text(source: TextSource, values: ValuesObject, facts: ReleaseFacts): string {
  switch (source.kind) {
    case "constant":
      return source.text;
    case "value": {
      const raw = valueAt(values, source.key);
      if (source.format === "json") return goJson(raw);
      const given = source.zeroMeans !== undefined && (raw === 0 || raw === null) ? source.zeroMeans : raw;
      const rendered = goText(given);
      return source.format === "trimTrailingSlash" && rendered.endsWith("/") ? rendered.slice(0, -1) : rendered;
    }
    case "derived":
      return derivedText(source.name, values, facts);
    case "byMode":
      return text(valueAt(values, "autoscaling.enabled") === true ? source.autoscaling : source.deployment, values, facts);
  }
}

function derivedText(name: DerivedName, values: ValuesObject, facts: ReleaseFacts): string {
  switch (name) {
    case "release":
      return facts.release;
    case "extraEnvNames": {
      const extraEnv = valueAt(values, "extraEnv");
      return (Array.isArray(extraEnv) ? extraEnv : []).map((e) => (e !== null && typeof e === "object" && !Array.isArray(e) ? String(e["name"]) : "")).join(",");
    }
    case "fullname":
    case "placeholderName": {
      const fact = facts[name];
      if (fact === undefined) throw new Error(`the ${name} of the release is needed here`);
      return fact;
    }
  }
}

/**
 * The value Helm renders for a contract variable with these values, for this release and pod;
 * undefined where the chart does not set it (another `azp.auth` mode).
 */
export function contractEnvValue(key: EnvKey, values: ValuesObject, facts: ReleaseFacts): string | undefined {
  const { source, authModes } = contractEnvSource(key);
  if (authModes !== undefined && !(authModes as readonly JsonValue[]).includes(valueAt(values, "azp.auth"))) return undefined;
  if (source.kind === "pod") return source.field === "metadata.name" ? facts.podName : facts.namespace;
  return text(source, values, facts);
}
