import { ScaledJob } from "@kubernetes-models/keda/keda.sh/v1alpha1/ScaledJob";
import { TriggerAuthentication } from "@kubernetes-models/keda/keda.sh/v1alpha1/TriggerAuthentication";
import { component } from "../contract/components.ts";
import { v } from "../model/values.ts";
import { agentPodMetadata, agentPodSpec } from "./agent-pod.ts";
import type { ChartTemplate } from "./chart-template.ts";
import { helper, include } from "./helper-names.ts";
import { auth, fullname, metadata } from "./pod-parts.ts";

/**
 * Queue-driven agents (`autoscaling.enabled`, issue #9): KEDA's `azure-pipelines` scaler looks at
 * the pool's job queue every `pollingInterval` seconds and starts one Job per queued job of this
 * release; each Job's pod is the Deployment's agent pod with lifecycle `complete` (agent-pod.ts).
 *
 * Settings, from KEDA's source (pkg/scaling/executor/scale_jobs.go, pkg/scalers/
 * azure_pipelines_scaler.go, v2.21.0) and docs (concepts/scaling-jobs, scalers/azure-pipelines):
 * - `scalingStrategy: accurate` + `pendingPodConditions: [Ready]`: KEDA creates
 *   min(queue, max − min) − pending Jobs, and never more than keep running + new ≤ maxReplicas
 *   (its MaxReplicaCount() is max − min; minReplicaCount Jobs are kept besides), where pending =
 *   unfinished Jobs whose pod is not Ready. Our pod is Ready only once Azure DevOps has given its
 *   agent a job (the sidecar's readinessProbe), so every pod still starting or idle is pending and
 *   stands for one queued job: no duplicates while pods register. `default` (queue − running)
 *   under-scales once received jobs are no longer queued (KEDA ≥ 2.20): running Jobs are
 *   subtracted from a queue that no longer holds their jobs; `eager` does not subtract pending
 *   pods, so it starts duplicates for jobs whose pods are still registering.
 * - the queue: `fetchUnfinishedJobsOnly` (`completedRequestCount=0`: only queued and running
 *   requests, cheap on pools with long histories, unlike the default `$top=250` or `parent`'s
 *   full list); received jobs are not counted (KEDA 2.20; `scaleOnInFlight: "false"` keeps it so
 *   on 2.21+, whose default counts them again).
 * - routing: `demands` lists what this release's agents offer (kedaDemands in _helpers.tpl): a
 *   job counts only when every one of its demands is offered, so two releases in one pool do not
 *   scale for each other's jobs (a job that demands nothing counts for every release of the pool).
 *   Names compare case-insensitively, as Azure DevOps does.
 * - `rollout.strategy: gradual`: an upgrade changes only new Jobs; the default deletes the
 *   running Jobs, which would kill running pipeline jobs.
 * - `backoffLimit: 0`: a failed agent pod is not retried (a retry would register another agent
 *   for nothing; the queue decides what runs next). History limits keep a few Jobs for logs.
 */
export const scaledJobTemplate: ChartTemplate = {
  file: "scaledjob.yaml",
  source: "generator/templates/scaledjob.ts",
  // The cross-field rules run in deployment.yaml, whichever mode.
  preamble: `{{- if ${v("autoscaling.enabled").path} }}\n{{- include "${helper.kedaCheck}" . }}\n{{- end }}\n`,
  documents: (t) => {
    const enabled = v("autoscaling.enabled").path;
    // A PAT from the release's Secret; with workload identity, KEDA's own (its operator's
    // federated identity, `azure-workload`), asked for a token of this client id. A client
    // secret is refused earlier (crossFieldRules): the scaler takes none.
    const triggerAuth = new TriggerAuthentication({
      metadata: metadata(t, fullname(), component.autoscaling),
      spec: {
        ...t.when(auth.is("pat"), {
          secretTargetRef: [
            {
              parameter: "personalAccessToken",
              name: t.str(`${include(helper.secretName)} | quote`),
              key: t.str(`${include(helper.secretKey)} | quote`),
            },
          ],
        }),
        ...t.when(auth.federated, { podIdentity: { provider: "azure-workload", identityId: t.str(v("azp.entra.clientId").quoted) } }),
      },
    });
    const scaledJob = new ScaledJob({
      metadata: metadata(t, fullname(), component.agent),
      spec: {
        jobTargetRef: {
          parallelism: 1,
          completions: 1,
          backoffLimit: 0,
          // The core PodSpec type is the contract (agent-pod.ts); KEDA's generated copy of it is
          // older and marks `ports[].protocol` required, a field no agent container sets.
          template: { metadata: agentPodMetadata(t), spec: agentPodSpec(t, "complete") as never },
        },
        pollingInterval: t.int(v("autoscaling.pollingInterval").path),
        minReplicaCount: t.int(v("autoscaling.minReplicas").path),
        maxReplicaCount: t.int(v("autoscaling.maxReplicas").path),
        successfulJobsHistoryLimit: t.int(v("autoscaling.successfulJobsHistoryLimit").path),
        failedJobsHistoryLimit: t.int(v("autoscaling.failedJobsHistoryLimit").path),
        rollout: { strategy: "gradual" },
        scalingStrategy: { strategy: "accurate", pendingPodConditions: ["Ready"] },
        triggers: [
          {
            type: "azure-pipelines",
            metadata: {
              organizationURL: t.str(`${v("azp.url").path} | trimSuffix "/" | quote`),
              poolName: t.str(v("azp.pool").quoted),
              demands: t.str(`${include(helper.kedaDemands)} | quote`),
              caseInsensitiveDemandsProcessing: "true",
              fetchUnfinishedJobsOnly: "true",
              scaleOnInFlight: "false",
              targetPipelinesQueueLength: "1",
              activationTargetPipelinesQueueLength: "0",
            },
            authenticationRef: { name: t.str(`${fullname()} | quote`) },
          },
        ],
      },
    });
    return [
      { guard: enabled, object: triggerAuth.toJSON() },
      { guard: enabled, object: scaledJob.toJSON() },
    ];
  },
};
