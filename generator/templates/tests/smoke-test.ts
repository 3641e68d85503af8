import { Pod } from "kubernetes-models/v1/Pod";
import { component } from "../../contract/components.ts";
import { v } from "../../model/values.ts";
import { helper, include } from "../helper-names.ts";
import type { ChartTemplate } from "../chart-template.ts";
import { auth, baseContainer, caBundle, contractEnv, emptyDir, fullname, metadata, mount, paths, podSecurity, proxyEnv, credentialMounts, credentialVolumes, volumes, registrationResources } from "../pod-parts.ts";

/**
 * `helm test`: the image's smoke command checks that Azure DevOps answers, the token is valid,
 * the pool exists and this release's agents are registered — each failure with its own message.
 */
export const smokeTestTemplate: ChartTemplate = {
  file: "tests/smoke-test.yaml",
  source: "generator/templates/tests/smoke-test.ts",
  documents: (t) => [
    {
      guard: v("tests.enabled").path,
      object: new Pod({
        metadata: metadata(t, `printf "%s-smoke-test" (${fullname()})`, component.test, {
          annotations: {
            "helm.sh/hook": "test",
            // The pod stays until the next run replaces it: `helm test --logs` reads it after it
            // has finished (with hook-succeeded, Helm deletes it first and --logs fails).
            "helm.sh/hook-delete-policy": "before-hook-creation",
          },
        }),
        spec: {
          restartPolicy: "Never",
          automountServiceAccountToken: false,
          // Workload identity: the agents' identity, whose federated credential Entra trusts.
          ...t.when(auth.federated, { serviceAccountName: t.str(`${include(helper.serviceAccountName)} | quote`) }),
          ...podSecurity(t),
          containers: [
            {
              ...baseContainer(t, "smoke"),
              env: [...contractEnv(t, "smoke"), ...proxyEnv(t), ...caBundle.env(t)],
              resources: registrationResources(t),
              volumeMounts: [...credentialMounts(t), mount(volumes.tmp, paths.tmp), ...caBundle.mounts(t)],
            },
          ],
          volumes: [...credentialVolumes(t), emptyDir(volumes.tmp), ...caBundle.volumes(t)],
        },
      }).toJSON(),
    },
  ],
};
