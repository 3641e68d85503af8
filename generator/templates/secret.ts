import { Secret } from "kubernetes-models/v1/Secret";
import { component } from "../contract/components.ts";
import { imageContract } from "../contract/image.ts";
import { v } from "../model/values.ts";
import type { ChartTemplate } from "./chart-template.ts";
import { auth, fullname, metadata } from "./pod-parts.ts";

/**
 * The credential: the PAT (`azp.auth: pat`) or the client secret (`servicePrincipal`), unless
 * the user brings a Secret of their own; none with workload identity.
 */
export const secretTemplate: ChartTemplate = {
  file: "secret.yaml",
  source: "generator/templates/secret.ts",
  documents: (t) => [
    {
      guard: auth.chartSecret,
      object: new Secret({
        metadata: metadata(t, fullname(), component.secret),
        type: "Opaque",
        data: { [imageContract.tokenFileName]: t.str(`ternary ${v("azp.entra.clientSecret").path} ${v("azp.token").path} (${auth.is("servicePrincipal")}) | b64enc | quote`) },
      }).toJSON(),
    },
  ],
};
