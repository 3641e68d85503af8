import { describe, expect, it } from "vitest";
import { leaves } from "../../generator/model/value-spec.ts";
import { valuesModel } from "../../generator/model/values-model.ts";
import { v, values } from "../../generator/model/values.ts";

describe("values accessor v()", () => {
  it.each([
    { key: "azp.urll", why: "a typo" },
    { key: "azp", why: "a group, not a value" },
    { key: "nope", why: "an unknown top-level key" },
    { key: "", why: "the empty key" },
    { key: "azp.url.x", why: "a path below a leaf" },
  ])("should throw for $why ($key)", ({ key }) => {
    expect(() => v(key)).toThrow(`no value "${key}" in the values model`);
  });

  it("should return the Go-template forms of a known key", () => {
    const ref = v("azp.url");
    expect(ref).toMatchObject({ key: "azp.url", path: ".Values.azp.url", quoted: ".Values.azp.url | quote", yaml: "toYaml .Values.azp.url" });
  });

  it("should know exactly the model's leaves", () => {
    expect(values.keys()).toEqual([...leaves(valuesModel)].map(([path]) => path.join(".")));
    for (const key of values.keys()) expect(v(key).spec.kind).toBe("leaf");
  });
});
