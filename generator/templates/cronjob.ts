import { CronJob } from "kubernetes-models/batch/v1/CronJob";
import { v } from "../model/values.ts";
import type { ChartTemplate } from "./chart-template.ts";
import { helper, include } from "./helpers.ts";
import { baseContainer, component, containers, contractEnv, emptyDir, metadata, mount, paths, podSecurity, proxyEnv, volumes } from "./pod-parts.ts";

/**
 * Scheduled refresh: restarts the Deployment so idle agents come back on a fresh image and agent.
 * Unlike the article's, it installs nothing at run time: the image's own refresh command talks
 * to the Kubernetes API with the job's token. Running jobs are not cancelled (grace period).
 */
export const cronJobTemplate: ChartTemplate = {
  file: "cronjob.yaml",
  source: "generator/templates/cronjob.ts",
  documents: (t) => [
    {
      guard: v("refresh.enabled").path,
      object: new CronJob({
        metadata: metadata(t, include(helper.refreshName), component.refresh),
        spec: {
          schedule: t.str(v("refresh.schedule").quoted),
          ...t.when(v("refresh.timeZone").path, { timeZone: t.str(v("refresh.timeZone").quoted) }),
          suspend: t.bool(v("refresh.suspend").path),
          concurrencyPolicy: t.str<"Forbid" | "Allow" | "Replace">(v("refresh.concurrencyPolicy").quoted),
          successfulJobsHistoryLimit: t.int(v("refresh.successfulJobsHistoryLimit").path),
          failedJobsHistoryLimit: t.int(v("refresh.failedJobsHistoryLimit").path),
          startingDeadlineSeconds: t.int(v("refresh.startingDeadlineSeconds").path),
          jobTemplate: {
            spec: {
              backoffLimit: 2,
              template: {
                metadata: {
                  labels: { ...t.includeEntries(helper.selectorLabels), "app.kubernetes.io/component": component.refresh },
                },
                spec: {
                  serviceAccountName: t.str(`${include(helper.refreshServiceAccountName)} | quote`),
                  // The refresher is the only thing in this pod, and it needs its token.
                  automountServiceAccountToken: true,
                  restartPolicy: "Never",
                  ...podSecurity(t),
                  containers: [
                    {
                      ...baseContainer(t, containers.refresh, "refresh"),
                      env: [...contractEnv(t, "refresh"), ...proxyEnv(t)],
                      resources: t.block(v("refresh.resources").yaml),
                      volumeMounts: [mount(volumes.tmp, paths.tmp)],
                    },
                  ],
                  volumes: [emptyDir(volumes.tmp)],
                },
              },
            },
          },
        },
      }).toJSON(),
    },
  ],
};
