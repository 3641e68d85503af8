import { Role } from "kubernetes-models/rbac.authorization.k8s.io/v1/Role";
import { RoleBinding } from "kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding";
import { ServiceAccount } from "kubernetes-models/v1/ServiceAccount";
import { component, type Component } from "../contract/components.ts";
import { v } from "../model/values.ts";
import type { TemplateDocument } from "../go-template/template-document.ts";
import type { ChartTemplate } from "./chart-template.ts";
import { helper, include } from "./helper-names.ts";
import { fullname, metadata } from "./pod-parts.ts";

/**
 * One identity per component, least privilege (issue #2): the agent pods' deregister sidecar may
 * only get and delete pods (it reads its own pod to learn whether the pod is being deleted
 * already, and deletes it once the agent is removed); the refresher may only get and patch its
 * own Deployment; the garbage collector may get and delete pods (it checks whether a pod of an
 * agent's name exists before it removes the agent, and deletes the pod of an agent whose sidecar
 * could not remove it). The job container has no token at all (see the Deployment).
 */

const refreshName = (): string => include(helper.refreshName);
// With autoscaling the agent pods complete by themselves and have no Kubernetes token at all.
const agentGuard = `and ${v("rbac.create").path} (not ${v("autoscaling.enabled").path})`;
export const refreshEnabled = `(and ${v("refresh.enabled").path} (not ${v("autoscaling.enabled").path}))`;
const refreshGuard = `and ${v("rbac.create").path} ${refreshEnabled}`;
const gcName = (): string => include(helper.gcName);
const gcGuard = `and ${v("rbac.create").path} ${v("gc.enabled").path}`;

function serviceAccount(t: TemplateDocument, nameHelper: string, annotationsKey: string, componentName: Component): object {
  return new ServiceAccount({
    metadata: metadata(t, include(nameHelper), componentName, t.when(v(annotationsKey).path, { annotations: t.block<Record<string, string>>(v(annotationsKey).yaml) })),
    // Pods mount the token explicitly where it is needed.
    automountServiceAccountToken: false,
  }).toJSON();
}

export const serviceAccountTemplate: ChartTemplate = {
  file: "serviceaccount.yaml",
  source: "generator/templates/rbac.ts",
  documents: (t) => [
    { guard: v("serviceAccount.create").path, object: serviceAccount(t, helper.serviceAccountName, "serviceAccount.annotations", component.agent) },
    {
      guard: `and ${refreshEnabled} ${v("refresh.serviceAccount.create").path}`,
      object: serviceAccount(t, helper.refreshServiceAccountName, "refresh.serviceAccount.annotations", component.refresh),
    },
    {
      guard: `and ${v("gc.enabled").path} ${v("gc.serviceAccount.create").path}`,
      object: serviceAccount(t, helper.gcServiceAccountName, "gc.serviceAccount.annotations", component.gc),
    },
  ],
};

export const roleTemplate: ChartTemplate = {
  file: "role.yaml",
  source: "generator/templates/rbac.ts",
  documents: (t) => [
    {
      guard: agentGuard,
      object: new Role({
        metadata: metadata(t, fullname(), component.agent),
        // Pod names are generated, so resourceNames cannot narrow this further.
        rules: [{ apiGroups: [""], resources: ["pods"], verbs: ["get", "delete"] }],
      }).toJSON(),
    },
    {
      guard: refreshGuard,
      object: new Role({
        metadata: metadata(t, refreshName(), component.refresh),
        rules: [{ apiGroups: ["apps"], resources: ["deployments"], resourceNames: [t.str(`${fullname()} | quote`)], verbs: ["get", "patch"] }],
      }).toJSON(),
    },
    {
      guard: gcGuard,
      object: new Role({
        metadata: metadata(t, gcName(), component.gc),
        // One GET per candidate agent, by the agent's name; a DELETE (uid precondition) only for
        // the pod of an agent left behind after its job. No list, no watch, nothing else.
        rules: [{ apiGroups: [""], resources: ["pods"], verbs: ["get", "delete"] }],
      }).toJSON(),
    },
  ],
};

function binding(t: TemplateDocument, name: string, componentName: Component, subjectHelper: string): object {
  return new RoleBinding({
    metadata: metadata(t, name, componentName),
    roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: t.str(`${name} | quote`) },
    subjects: [{ kind: "ServiceAccount", name: t.str(`${include(subjectHelper)} | quote`), namespace: t.str(`${include(helper.namespace)} | quote`) }],
  }).toJSON();
}

export const roleBindingTemplate: ChartTemplate = {
  file: "rolebinding.yaml",
  source: "generator/templates/rbac.ts",
  documents: (t) => [
    { guard: agentGuard, object: binding(t, fullname(), component.agent, helper.serviceAccountName) },
    { guard: refreshGuard, object: binding(t, refreshName(), component.refresh, helper.refreshServiceAccountName) },
    { guard: gcGuard, object: binding(t, gcName(), component.gc, helper.gcServiceAccountName) },
  ],
};
