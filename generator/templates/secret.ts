import { Secret } from "kubernetes-models/v1/Secret";
import { imageContract } from "../contract/image.ts";
import { v } from "../model/values.ts";
import type { ChartTemplate } from "./chart-template.ts";
import { component, fullname, metadata } from "./pod-parts.ts";

/** The PAT, unless the user brings a Secret of their own (`azp.existingSecret`). */
export const secretTemplate: ChartTemplate = {
  file: "secret.yaml",
  source: "generator/templates/secret.ts",
  documents: (t) => [
    {
      guard: `not ${v("azp.existingSecret").path}`,
      object: new Secret({
        metadata: metadata(t, fullname(), component.secret),
        type: "Opaque",
        data: { [imageContract.tokenFileName]: t.str(`${v("azp.token").path} | b64enc | quote`) },
      }).toJSON(),
    },
  ],
};
