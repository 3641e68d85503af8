import yaml from "js-yaml";
import { Deployment } from "kubernetes-models/apps/v1/Deployment";
import { ScaledJob } from "@kubernetes-models/keda/keda.sh/v1alpha1/ScaledJob";
import { TriggerAuthentication } from "@kubernetes-models/keda/keda.sh/v1alpha1/TriggerAuthentication";
import { CronJob } from "kubernetes-models/batch/v1/CronJob";
import { Job } from "kubernetes-models/batch/v1/Job";
import { NetworkPolicy } from "kubernetes-models/networking.k8s.io/v1/NetworkPolicy";
import { ValidatingAdmissionPolicy } from "kubernetes-models/admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy";
import { ValidatingAdmissionPolicyBinding } from "kubernetes-models/admissionregistration.k8s.io/v1/ValidatingAdmissionPolicyBinding";
import { Role } from "kubernetes-models/rbac.authorization.k8s.io/v1/Role";
import { RoleBinding } from "kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding";
import { Namespace } from "kubernetes-models/v1/Namespace";
import { Pod } from "kubernetes-models/v1/Pod";
import { Secret } from "kubernetes-models/v1/Secret";
import { ServiceAccount } from "kubernetes-models/v1/ServiceAccount";
import type { IContainer } from "kubernetes-models/v1/Container";
import type { IPodSpec } from "kubernetes-models/v1/PodSpec";
import { imageContract, type ImageCommand } from "../../generator/contract/image.ts";
import { renderScenario, type TemplateRequest } from "./helm.ts";

/**
 * Rendered manifests → typed kubernetes-models objects, each checked with `.validate()` (the
 * upstream OpenAPI schema, Kubernetes formats included). Only the kinds the chart is meant to
 * render are known: anything else is an error, so a new kind needs a deliberate entry here.
 */
const models = {
  "v1/Namespace": Namespace,
  "v1/Secret": Secret,
  "v1/ServiceAccount": ServiceAccount,
  "rbac.authorization.k8s.io/v1/Role": Role,
  "rbac.authorization.k8s.io/v1/RoleBinding": RoleBinding,
  "apps/v1/Deployment": Deployment,
  "batch/v1/CronJob": CronJob,
  "batch/v1/Job": Job,
  "v1/Pod": Pod,
  // isolation (issue #10)
  "networking.k8s.io/v1/NetworkPolicy": NetworkPolicy,
  "admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy": ValidatingAdmissionPolicy,
  "admissionregistration.k8s.io/v1/ValidatingAdmissionPolicyBinding": ValidatingAdmissionPolicyBinding,
  // autoscaling (KEDA's schema, from @kubernetes-models/keda)
  "keda.sh/v1alpha1/ScaledJob": ScaledJob,
  "keda.sh/v1alpha1/TriggerAuthentication": TriggerAuthentication,
} as const;

type Models = typeof models;
type ByKind = { [K in keyof Models as InstanceType<Models[K]>["kind"]]: InstanceType<Models[K]> };
export type Kind = keyof ByKind;
export type Resource = ByKind[Kind];

export type Raw = { apiVersion?: unknown; kind?: unknown; [key: string]: unknown };

/** Every non-empty document of a multi-document YAML stream. */
export function parseDocuments(text: string): Raw[] {
  return (yaml.loadAll(text) as unknown[]).filter((d): d is Raw => d !== null && d !== undefined);
}

/** Wraps one document in its kubernetes-models class and validates it; throws on an unknown kind. */
export function wrap(doc: Raw): Resource {
  const key = `${String(doc.apiVersion)}/${String(doc.kind)}`;
  if (!Object.hasOwn(models, key)) throw new Error(`unexpected resource ${key} in the rendering`);
  const Model = models[key as keyof Models];
  const resource = new Model(doc as never) as Resource;
  try {
    resource.validate();
  } catch (error) {
    const name = (doc["metadata"] as { name?: unknown } | undefined)?.name;
    throw new Error(`${String(doc.kind)}/${String(name)} is not a valid ${key}: ${(error as Error).message}`);
  }
  return resource;
}

export class Rendering {
  /** The documents as parsed, before wrapping (for checks on the literal YAML). */
  readonly documents: readonly Raw[];
  readonly resources: readonly Resource[];

  constructor(readonly text: string) {
    this.documents = parseDocuments(text);
    this.resources = this.documents.map(wrap);
  }

  all<K extends Kind>(kind: K): ByKind[K][] {
    return this.resources.filter((r): r is ByKind[K] => r.kind === kind);
  }

  /** The only resource of a kind; throws when there are none or several. */
  one<K extends Kind>(kind: K): ByKind[K] {
    const found = this.all(kind);
    if (found.length !== 1) throw new Error(`expected exactly one ${kind}, found ${found.length}`);
    return found[0] as ByKind[K];
  }

  /** The only resource of a kind with the label `app.kubernetes.io/component: <component>`. */
  component<K extends Kind>(kind: K, component: string): ByKind[K] {
    const found = this.all(kind).filter((r) => r.metadata?.labels?.["app.kubernetes.io/component"] === component);
    if (found.length !== 1) throw new Error(`expected exactly one ${kind} of component ${component}, found ${found.length}`);
    return found[0] as ByKind[K];
  }

  /** `Kind/name` of every resource, in rendering order. */
  ids(): string[] {
    return this.resources.map((r) => `${r.kind}/${r.metadata?.name ?? ""}`);
  }
}

/** Pod spec of a workload or pod. */
export function podSpecOf(resource: Deployment | CronJob | Job | ScaledJob | Pod): IPodSpec {
  const spec =
    resource instanceof Deployment
      ? resource.spec?.template.spec
      : resource instanceof CronJob
        ? resource.spec?.jobTemplate.spec?.template.spec
        : resource instanceof Job
          ? resource.spec?.template.spec
          : resource instanceof ScaledJob
            ? (resource.spec?.jobTargetRef.template.spec as IPodSpec | undefined)
            : resource.spec;
  if (spec === undefined) throw new Error(`${resource.kind}/${resource.metadata?.name} has no pod spec`);
  return spec;
}

export interface PodContainer {
  readonly container: IContainer;
  readonly init: boolean;
}

export function containersOf(spec: IPodSpec): PodContainer[] {
  return [...(spec.initContainers ?? []).map((container) => ({ container, init: true })), ...spec.containers.map((container) => ({ container, init: false }))];
}

/** Every pod spec the rendering defines (Deployment or ScaledJob, CronJobs, hook Jobs, test Pod), named for messages. */
export function podSpecs(rendering: Rendering): { owner: string; spec: IPodSpec }[] {
  return [...rendering.all("Deployment"), ...rendering.all("ScaledJob"), ...rendering.all("CronJob"), ...rendering.all("Job"), ...rendering.all("Pod")].map((r) => ({
    owner: `${r.kind}/${r.metadata?.name ?? ""}`,
    spec: podSpecOf(r),
  }));
}

/** The image command a container runs, mapped back to its contract key. */
export function commandOf(container: IContainer): ImageCommand {
  const executable = container.command?.[0];
  const found = (Object.keys(imageContract.commands) as ImageCommand[]).find((c) => imageContract.commands[c] === executable);
  if (found === undefined) throw new Error(`container ${container.name} runs ${String(executable)}, which is no image command`);
  return found;
}

/** The one container with a given name in a pod spec. */
export function containerNamed(spec: IPodSpec, name: string): IContainer {
  const found = containersOf(spec).filter((c) => c.container.name === name);
  if (found.length !== 1) throw new Error(`expected one container "${name}", found ${found.length}`);
  return (found[0] as PodContainer).container;
}

const renderings = new Map<string, Rendering>();

/** A ci scenario rendered, parsed and validated (memoized per test file). */
export function scenarioRendering(name: string, options: Omit<TemplateRequest, "valuesFiles"> = {}): Rendering {
  const key = JSON.stringify([name, options]);
  let rendering = renderings.get(key);
  if (rendering === undefined) {
    rendering = new Rendering(renderScenario(name, options));
    renderings.set(key, rendering);
  }
  return rendering;
}

/** Value of a plain `name: value` env var of a container (undefined when absent or from valueFrom). */
export function envValue(container: IContainer, name: string): string | undefined {
  return container.env?.find((e) => e.name === name)?.value;
}

/** Paths (a.b[0].c) of every null value in a parsed document: keys a template left empty. */
export function nullPaths(value: unknown, at = ""): string[] {
  if (value === null) return [at];
  if (Array.isArray(value)) return value.flatMap((v, i) => nullPaths(v, `${at}[${i}]`));
  if (typeof value === "object") return Object.entries(value as object).flatMap(([k, v]) => nullPaths(v, at === "" ? k : `${at}.${k}`));
  return [];
}
