import { Ajv, type ErrorObject, type ValidateFunction } from "ajv";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { CHART_PATH } from "./repo.ts";

/** The chart's values.schema.json as shipped, compiled with ajv (draft-07, every error reported). */
export function chartSchemaValidator(): ValidateFunction {
  const schema = JSON.parse(readFileSync(join(CHART_PATH, "values.schema.json"), "utf8")) as object;
  // strict: false — the schema carries annotation keywords (`$comment`, `default`) next to
  // constraints, and `type`-less leaves (annotation maps) that strict mode would flag.
  return new Ajv({ strict: false, allErrors: true }).compile(schema);
}

const pointerToken = (key: string): string => key.replace(/~/g, "~0").replace(/\//g, "~1");

/**
 * JSON pointer of the value an ajv error is about: for an unknown key or a bad property name
 * that is the key itself, below the object ajv reports.
 */
export function offendingPath(error: ErrorObject): string {
  const params = error.params as { additionalProperty?: string; propertyName?: string };
  const name = params.additionalProperty ?? params.propertyName ?? (error as { propertyName?: string }).propertyName;
  return name === undefined ? error.instancePath : `${error.instancePath}/${pointerToken(name)}`;
}
