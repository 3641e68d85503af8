import { ValidatingAdmissionPolicy } from "kubernetes-models/admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy";
import { ValidatingAdmissionPolicyBinding } from "kubernetes-models/admissionregistration.k8s.io/v1/ValidatingAdmissionPolicyBinding";
import { component, componentLabel } from "../contract/components.ts";
import { v } from "../model/values.ts";
import type { TemplateDocument } from "../go-template/template-document.ts";
import type { ChartTemplate } from "./chart-template.ts";
import { helper, include } from "./helper-names.ts";


/**
 * Own-pod-only deletion (`admissionPolicy.enabled`, issue #10). RBAC cannot name a pod whose name
 * is generated, so the agents' Role lets their ServiceAccount delete any pod of the namespace.
 * Since Kubernetes 1.30 a bound service-account token carries the name of the pod it was issued
 * for, and the API server passes it to admission as the user's extra
 * `authentication.kubernetes.io/pod-name`: this policy refuses a DELETE of any other pod by that
 * ServiceAccount (also a DELETE with a token that names no pod, e.g. a TokenRequest made by hand).
 * Cluster-scoped, so it is named after the namespace and the release, and bound to the release's
 * namespace only.
 */

export const podNameClaim = "authentication.kubernetes.io/pod-name";

const enabled = v("admissionPolicy.enabled").path;
const policyName = (t: TemplateDocument): string => t.str(`${include(helper.admissionPolicyName)} | quote`);
const username = `printf "system:serviceaccount:%s:%s" (${include(helper.namespace)}) (${include(helper.serviceAccountName)})`;

function labels(t: TemplateDocument): Record<string, string> {
  return { ...t.includeEntries(helper.labels), [componentLabel]: component.rbac };
}

export const admissionPolicyTemplate: ChartTemplate = {
  file: "admission-policy.yaml",
  source: "generator/templates/admission-policy.ts",
  preamble: `{{- if ${enabled} }}{{- include "${helper.admissionPolicyCheck}" . }}{{- end }}\n`,
  documents: (t) => {
    const claim = `request.userInfo.extra[${JSON.stringify(podNameClaim).replaceAll('"', "'")}]`;
    const hasClaim = `has(request.userInfo.extra) && '${podNameClaim}' in request.userInfo.extra`;
    const policy = new ValidatingAdmissionPolicy({
      metadata: { name: policyName(t), labels: labels(t) },
      spec: {
        failurePolicy: "Fail",
        matchConstraints: { resourceRules: [{ apiGroups: [""], apiVersions: ["v1"], resources: ["pods"], operations: ["DELETE"] }] },
        matchConditions: [{ name: "agent-service-account", expression: t.str(`printf "request.userInfo.username == '%s'" (${username}) | quote`) }],
        validations: [
          {
            expression: `${hasClaim} && ${claim} == [request.name]`,
            reason: "Forbidden",
            messageExpression: t.str(
              `printf "'%s may delete only the pod named in its own token (${podNameClaim}: ' + ((${hasClaim}) ? ${claim}.join(',') : 'none') + '), not pod ' + request.name + ' (ValidatingAdmissionPolicy %s)'" (${username}) (${include(helper.admissionPolicyName)}) | quote`,
            ),
          },
        ],
      },
    });
    const binding = new ValidatingAdmissionPolicyBinding({
      metadata: { name: policyName(t), labels: labels(t) },
      spec: {
        policyName: policyName(t),
        validationActions: t.block(v("admissionPolicy.validationActions").yaml),
        matchResources: { namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": t.str(`${include(helper.namespace)} | quote`) } } },
      },
    });
    return [
      { guard: enabled, object: policy.toJSON() },
      { guard: enabled, object: binding.toJSON() },
    ];
  },
};
