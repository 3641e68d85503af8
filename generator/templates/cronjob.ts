import { CronJob } from "kubernetes-models/batch/v1/CronJob";
import type { IContainer } from "kubernetes-models/v1/Container";
import type { IVolume } from "kubernetes-models/v1/Volume";
import { component, componentLabel, type Component } from "../contract/components.ts";
import { v } from "../model/values.ts";
import type { TemplateDocument } from "../go-template/template-document.ts";
import type { ChartTemplate } from "./chart-template.ts";
import { helper, include } from "./helper-names.ts";
import { refreshEnabled } from "./rbac.ts";
import { baseContainer, caBundle, contractEnv, emptyDir, metadata, mount, paths, podSecurity, proxyEnv, credentialMounts, credentialVolumes, volumes } from "./pod-parts.ts";

/**
 * The release's two scheduled jobs, one shape: each runs one image command in a pod of its own,
 * with its own ServiceAccount (the token is the only credential the refresher has; the collector
 * has the PAT too) and nothing else.
 *
 * - refresh: restarts the Deployment so idle agents come back on a fresh image and agent. Unlike
 *   the article's, it installs nothing at run time: the image's own refresh command talks to the
 *   Kubernetes API. Running jobs are not cancelled (grace period).
 * - gc: removes this release's orphaned agents (their pod died without removing them); it reads
 *   Azure DevOps with the PAT and checks pods with its token (issue #8).
 */
interface ScheduledJob {
  /** Values group: `refresh` or `gc`. */
  readonly key: "refresh" | "gc";
  readonly name: string;
  readonly serviceAccount: string;
  readonly component: Component;
  readonly container: IContainer;
  readonly volumes: IVolume[];
  /** Scheduling settings that exist only for this job. */
  readonly extra: object;
}

function cronJob(t: TemplateDocument, job: ScheduledJob): object {
  const value = (key: string) => v(`${job.key}.${key}`);
  return new CronJob({
    metadata: metadata(t, job.name, job.component),
    spec: {
      schedule: t.str(value("schedule").quoted),
      ...job.extra,
      suspend: t.bool(value("suspend").path),
      successfulJobsHistoryLimit: t.int(value("successfulJobsHistoryLimit").path),
      failedJobsHistoryLimit: t.int(value("failedJobsHistoryLimit").path),
      jobTemplate: {
        spec: {
          backoffLimit: 2,
          template: {
            metadata: {
              labels: { ...t.includeEntries(helper.selectorLabels), [componentLabel]: job.component },
            },
            spec: {
              serviceAccountName: t.str(`${job.serviceAccount} | quote`),
              // The command is the only thing in this pod, and it needs its token.
              automountServiceAccountToken: true,
              restartPolicy: "Never",
              ...podSecurity(t),
              containers: [{ ...job.container, resources: t.block(value("resources").yaml) }],
              volumes: job.volumes,
            },
          },
        },
      },
    },
  }).toJSON();
}

export const cronJobTemplate: ChartTemplate = {
  file: "cronjob.yaml",
  source: "generator/templates/cronjob.ts",
  documents: (t) => [
    {
      guard: refreshEnabled,
      object: cronJob(t, {
        key: "refresh",
        name: include(helper.refreshName),
        serviceAccount: include(helper.refreshServiceAccountName),
        component: component.refresh,
        container: {
          ...baseContainer(t, "refresh"),
          env: [...contractEnv(t, "refresh"), ...proxyEnv(t)],
          volumeMounts: [mount(volumes.tmp, paths.tmp)],
        },
        volumes: [emptyDir(volumes.tmp)],
        extra: {
          ...t.when(v("refresh.timeZone").path, { timeZone: t.str(v("refresh.timeZone").quoted) }),
          concurrencyPolicy: t.str<"Forbid" | "Allow" | "Replace">(v("refresh.concurrencyPolicy").quoted),
          startingDeadlineSeconds: t.int(v("refresh.startingDeadlineSeconds").path),
        },
      }),
    },
    {
      guard: v("gc.enabled").path,
      object: cronJob(t, {
        key: "gc",
        name: include(helper.gcName),
        serviceAccount: include(helper.gcServiceAccountName),
        component: component.gc,
        container: {
          ...baseContainer(t, "gc"),
          env: [...contractEnv(t, "gc"), ...proxyEnv(t), ...caBundle.env(t)],
          volumeMounts: [...credentialMounts(t), mount(volumes.tmp, paths.tmp), ...caBundle.mounts(t)],
        },
        volumes: [...credentialVolumes(t), emptyDir(volumes.tmp), ...caBundle.volumes(t)],
        // Two collectors at once would only race for the same agents; a missed run is not
        // worth catching up (the next one comes in minutes).
        extra: { concurrencyPolicy: "Forbid", startingDeadlineSeconds: 300 },
      }),
    },
  ],
};
