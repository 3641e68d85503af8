import { admissionPolicyApi, kedaApi } from "../../generator/templates/helpers.ts";
import { release as releaseContract } from "../../generator/contract/release.ts";
import { ciScenario } from "./chart.ts";
import { CHART_PATH } from "./repo.ts";
import { deepMerge } from "./merge.ts";
import { runSync, type RunResult } from "./process.ts";
import { tool } from "./tools.ts";
import type { JsonObject } from "./values.ts";

/** Release and namespace of the scenario renderings (and of the golden files). */
export const RELEASE = "ci";
export const NAMESPACE = "ci-ns";

/** `<release>-<chart>`: the prefix the chart's fullname helper gives every resource by default. */
export const fullnameOf = (release: string): string => `${release}-${releaseContract.chartName}`;

export interface TemplateRequest {
  readonly release?: string;
  readonly namespace?: string;
  /** Values files, applied in order (e.g. a ci scenario). */
  readonly valuesFiles?: readonly string[];
  /** Values applied after the files, in order (as Helm applies several `-f` files). */
  readonly values?: readonly JsonObject[];
  /**
   * `--api-versions` as a cluster would report them; default: KEDA's ScaledJob and
   * TriggerAuthentication (the autoscaling mode needs them) and ValidatingAdmissionPolicy
   * (Kubernetes >= 1.30; `admissionPolicy`), `[]` for an old cluster without KEDA.
   */
  readonly apiVersions?: readonly string[];
}

/** The APIs of KEDA the chart's autoscaling mode checks for (`.Capabilities.APIVersions`). */
export const KEDA_API_VERSIONS: readonly string[] = [kedaApi.scaledJob, kedaApi.triggerAuthentication];
/** What the default rendering's cluster serves: KEDA and ValidatingAdmissionPolicy. */
export const DEFAULT_API_VERSIONS: readonly string[] = [...KEDA_API_VERSIONS, admissionPolicyApi];

// One `helm template` per distinct request and test file: the render layer stays fast.
const cache = new Map<string, RunResult>();

/** `helm template` of the generated chart; never throws on a failed render (schema tests want the error). */
export function helmTemplate(request: TemplateRequest = {}): RunResult {
  const key = JSON.stringify(request);
  const cached = cache.get(key);
  if (cached !== undefined) return cached;
  const args = ["template", request.release ?? RELEASE, CHART_PATH, "--namespace", request.namespace ?? NAMESPACE];
  for (const api of request.apiVersions ?? DEFAULT_API_VERSIONS) args.push("--api-versions", api);
  for (const file of request.valuesFiles ?? []) args.push("--values", file);
  // Extra values go in through stdin (`--values -`) as JSON, whose scalars no YAML 1.1 parser
  // can reinterpret; no temporary files to clean up.
  const extra = request.values ?? [];
  if (extra.length > 0) args.push("--values", "-");
  // Several values objects as one, the way Helm merges several `-f` files before coalescing
  // them with the chart's values: a `null` stays `null`, so that Helm still removes that key.
  const result = runSync(tool("helm"), args, extra.length > 0 ? { input: JSON.stringify(deepMerge({}, extra)) } : {});
  cache.set(key, result);
  return result;
}

/** The rendered manifests; throws with Helm's message when the render fails. */
export function render(request: TemplateRequest = {}): string {
  const r = helmTemplate(request);
  if (r.code !== 0) throw new Error(`helm template failed (${JSON.stringify(request)}):\n${r.output}`);
  return r.stdout;
}

/** The rendering of a ci scenario, optionally with more values on top. */
export function renderScenario(name: string, options: Omit<TemplateRequest, "valuesFiles"> = {}): string {
  return render({ ...options, valuesFiles: [ciScenario(name).file] });
}

/**
 * The message of a `fail` in a template: Helm prints
 * `Error: execution error at (<chart>/templates/<file>:<line>:<col>): <message>`.
 */
export function failMessage(output: string): string | undefined {
  return /execution error at \([^)]*\): (.*)/.exec(output)?.[1];
}
