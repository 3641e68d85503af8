import { Job } from "kubernetes-models/batch/v1/Job";
import { component, componentLabel } from "../contract/components.ts";
import { v } from "../model/values.ts";
import type { TemplateDocument } from "../go-template/template-document.ts";
import type { ChartTemplate } from "./chart-template.ts";
import { helper, include } from "./helper-names.ts";
import { baseContainer, caBundle, contractEnv, emptyDir, fullname, metadata, mount, paths, podSecurity, proxyEnv, credentialMounts, credentialVolumes, volumes, registrationResources } from "./pod-parts.ts";

/**
 * The placeholder agent's hooks (autoscaling, issue #9): after install, upgrade and rollback a Job
 * registers the release's offline placeholder agent (or updates its capabilities), before
 * uninstall one removes it (never failing the uninstall: azp-placeholder). Azure DevOps fails a job at once when no agent of the pool matches its demands; the
 * placeholder is what lets the release's jobs queue while KEDA runs no agent pod. The collector
 * (azp-gc) re-creates it when someone removed it, and never collects it.
 */
function hookJob(t: TemplateDocument, action: "ensure" | "remove", hooks: string): object {
  return new Job({
    metadata: metadata(t, `printf "%s-placeholder-%s" (${fullname()}) "${action}"`, component.placeholder, {
      annotations: {
        "helm.sh/hook": hooks,
        "helm.sh/hook-weight": "0",
        // Kept when it fails, for `kubectl logs`; replaced by the next run.
        "helm.sh/hook-delete-policy": "before-hook-creation,hook-succeeded",
      },
    }),
    spec: {
      backoffLimit: 2,
      activeDeadlineSeconds: 300,
      template: {
        metadata: { labels: { ...t.includeEntries(helper.selectorLabels), [componentLabel]: component.placeholder } },
        spec: {
          restartPolicy: "Never",
          serviceAccountName: t.str(`${include(helper.serviceAccountName)} | quote`),
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          ...podSecurity(t),
          containers: [
            {
              ...baseContainer(t, "placeholder"),
              args: [action],
              env: [...contractEnv(t, "placeholder"), ...proxyEnv(t), ...caBundle.env(t)],
              resources: registrationResources(t),
              volumeMounts: [...credentialMounts(t), mount(volumes.tmp, paths.tmp), ...caBundle.mounts(t)],
            },
          ],
          volumes: [...credentialVolumes(t), emptyDir(volumes.tmp), ...caBundle.volumes(t)],
        },
      },
    },
  }).toJSON();
}

export const placeholderTemplate: ChartTemplate = {
  file: "placeholder-hooks.yaml",
  source: "generator/templates/placeholder.ts",
  documents: (t) => [
    // post-rollback too: a rollback to an autoscaling revision restores its placeholder at once.
    { guard: v("autoscaling.enabled").path, object: hookJob(t, "ensure", "post-install,post-upgrade,post-rollback") },
    { guard: v("autoscaling.enabled").path, object: hookJob(t, "remove", "pre-delete") },
  ],
};
