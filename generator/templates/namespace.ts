import { Namespace } from "kubernetes-models/v1/Namespace";
import { v } from "../model/values.ts";
import type { ChartTemplate } from "./chart-template.ts";
import { helper, include } from "./helper-names.ts";

/** Optional: Helm's convention is `--create-namespace`; this creates a namespace by name. */
export const namespaceTemplate: ChartTemplate = {
  file: "namespace.yaml",
  source: "generator/templates/namespace.ts",
  documents: (t) => [
    {
      guard: v("namespace.create").path,
      object: new Namespace({
        metadata: {
          name: t.str(`${include(helper.namespace)} | quote`),
          labels: { ...t.includeEntries(helper.labels), ...t.spliceEntries(v("namespace.labels").path) },
          annotations: {
            // Uninstalling one release must not delete a namespace other releases may share.
            "helm.sh/resource-policy": "keep",
            ...t.spliceEntries(v("namespace.annotations").path),
          },
        },
      }).toJSON(),
    },
  ],
};
