import { component, componentSelector } from "../contract/components.ts";
import { imageContract } from "../contract/image.ts";
import { generatedHeader } from "../generated-header.ts";
import { v } from "../model/values.ts";
import { helper, include } from "./helper-names.ts";
import { refreshEnabled } from "./rbac.ts";

/** NOTES.txt: what was installed and how to check it. Go template text, not YAML. */
export function notesTxt(): string {
  const ns = `{{ ${include(helper.namespace)} }}`;
  const name = `{{ ${include(helper.fullname)} }}`;
  const { containers } = imageContract;
  const deprecated = v("registrarResources");
  const renamed = v("registrationResources");
  return [
    generatedHeader.goTemplate("generator/templates/notes.ts"),
    `azp-agent {{ .Chart.AppVersion }} is installed as release "{{ .Release.Name }}" in namespace "${ns}".`,
    "",
    `{{- if ${v("autoscaling.enabled").path} }}`,
    `KEDA starts one agent Job per queued job of this release in pool "{{ ${v("azp.pool").path} }}" of {{ ${v("azp.url").path} }}: at least {{ ${v("autoscaling.minReplicas").path} }}, at most {{ ${v("autoscaling.maxReplicas").path} }} at once, looking every {{ ${v("autoscaling.pollingInterval").path} }}s.`,
    "Each agent runs exactly one job; then it is removed from the pool and its pod completes.",
    `Pipelines reach these agents with:  demands: AZP_RELEASE -equals {{ ${include(helper.release)} }}`,
    `The offline placeholder agent "{{ ${include(helper.placeholderName)} }}" lets jobs queue while no agent pod runs.`,
    "",
    "Check it:",
    `  kubectl -n ${ns} get scaledjob ${name}          # READY/ACTIVE; kubectl describe shows the scaler's errors`,
    `  kubectl -n ${ns} get jobs,pods -l app.kubernetes.io/instance={{ .Release.Name }},${componentSelector(component.agent)}`,
    "{{- else }}",
    `{{ ${v("replicaCount").path} }} ephemeral agents register in pool "{{ ${v("azp.pool").path} }}" of {{ ${v("azp.url").path} }}.`,
    "Each agent runs exactly one job; then it is removed from the pool and its pod is replaced by a fresh one.",
    "{{- end }}",
    "Jobs cannot read the PAT or use a Kubernetes token: both stay in the pod's register/deregister containers.",
    "",
    `{{- if not ${v("autoscaling.enabled").path} }}`,
    "",
    "Check it:",
    `  kubectl -n ${ns} get pods -l app.kubernetes.io/instance={{ .Release.Name }},${componentSelector(component.agent)}`,
    `  kubectl -n ${ns} logs deploy/${name} -c ${containers.register}     # registration`,
    `  kubectl -n ${ns} logs deploy/${name} -c ${containers.agent}        # the agent and its job`,
    "{{- end }}",
    `{{- if ${v("tests.enabled").path} }}`,
    `  helm test {{ .Release.Name }} -n {{ .Release.Namespace }}          # Azure DevOps reachable, PAT valid, pool found, agents registered`,
    "{{- end }}",
    `{{- if ${refreshEnabled} }}`,
    "",
    `Idle agents are refreshed on schedule "{{ ${v("refresh.schedule").path} }}"{{ with ${v("refresh.timeZone").path} }} ({{ . }}){{ end }}. Refresh now:`,
    `  kubectl -n ${ns} create job --from=cronjob/{{ ${include(helper.refreshName)} }} {{ ${include(helper.refreshName)} }}-manual`,
    "{{- end }}",
    `{{- if ${v("gc.enabled").path} }}`,
    "",
    `Agents whose pod died without removing them are collected on schedule "{{ ${v("gc.schedule").path} }}"{{ if ${v("gc.dryRun").path} }} (dry run: logged, not removed){{ end }}. Collect now:`,
    `  kubectl -n ${ns} create job --from=cronjob/{{ ${include(helper.gcName)} }} {{ ${include(helper.gcName)} }}-manual`,
    "{{- end }}",
    `{{- if and (not ${v("rbac.create").path}) (not ${v("autoscaling.enabled").path}) }}`,
    "",
    `RBAC is off (${v("rbac.create").key}=false): bind a Role allowing "get", "delete" on pods to ServiceAccount "{{ ${include(helper.serviceAccountName)} }}"`,
    `{{- if ${refreshEnabled} }}, "get", "patch" on deployment "${name}" to "{{ ${include(helper.refreshServiceAccountName)} }}"{{ end }}`,
    `{{- if ${v("gc.enabled").path} }}, "get", "delete" on pods to "{{ ${include(helper.gcServiceAccountName)} }}"{{ end }}, or agents will not be replaced after their job.`,
    "{{- end }}",
    `{{- if and (not ${v("rbac.create").path}) ${v("autoscaling.enabled").path} ${v("gc.enabled").path} }}`,
    "",
    `RBAC is off (${v("rbac.create").key}=false): bind a Role allowing "get", "delete" on pods to ServiceAccount "{{ ${include(helper.gcServiceAccountName)} }}", or the collector cannot tell which agents' pods are gone.`,
    "{{- end }}",
    `{{- if ${deprecated.path} }}`,
    "",
    `WARNING: ${deprecated.key} is deprecated: rename it to ${renamed.key} in your values (the same setting). It is still used for now; a later release ignores it.`,
    "{{- end }}",
    "",
  ].join("\n");
}
