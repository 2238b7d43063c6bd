import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { load as loadYaml } from "js-yaml";

/**
 * Loading the provider specs from `../shared/specs` (beside the repository, never copied into it)
 * as OpenAPI 3 documents: JSON or YAML; Swagger 2.0 is brought to OpenAPI 3's shape (body
 * parameters become requestBody, `definitions` become `components.schemas`) so one validator
 * serves every provider; each spec's known defects are patched here, loudly.
 */

// OpenAPI documents are walked freely; what is checked is checked by the validator.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Doc = Record<string, any>;

/** A known defect of a published spec, fixed in the test's copy. `apply` returns whether it changed anything. */
export interface SpecPatch {
  why: string;
  apply(doc: Doc): boolean;
}

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

/** `../shared/specs` relative to the repository; a missing directory is a failure that says what to do, not a skip. */
export function specsDir(): string {
  const dir = resolve(REPO, "../shared/specs");
  if (!existsSync(dir)) {
    throw new Error(`the provider specs are missing: expected them in ${dir} (the shared/ directory beside the repository); the spec conformance tests need them and never run without them`);
  }
  return dir;
}

export function loadSpec(file: string, patches: readonly SpecPatch[] = []): Doc {
  const path = join(specsDir(), file);
  if (!existsSync(path)) throw new Error(`spec ${file} is missing from ${specsDir()}`);
  const text = readFileSync(path, "utf8");
  let doc = (file.endsWith(".json") ? JSON.parse(text) : loadYaml(text)) as Doc;
  if (typeof doc.swagger === "string") doc = fromSwagger2(doc);
  for (const patch of patches) {
    if (!patch.apply(doc)) throw new Error(`the patch "${patch.why}" no longer changes ${file}: the spec may be fixed, drop the patch`);
  }
  return doc;
}

/** Every operation object of a document, with its path and method. */
export function* operations(doc: Doc): Generator<{ path: string; method: string; op: Doc; item: Doc }> {
  for (const [path, item] of Object.entries(doc.paths ?? {}) as [string, Doc][]) {
    for (const method of ["get", "put", "post", "delete", "patch", "head", "options"]) {
      if (item[method]) yield { path, method, op: item[method] as Doc, item };
    }
  }
}

/** Swagger 2.0 -> the OpenAPI 3 shape the validator reads. */
function fromSwagger2(doc: Doc): Doc {
  const text = JSON.stringify(doc).replaceAll('"#/definitions/', '"#/components/schemas/').replaceAll('"x-nullable":', '"nullable":');
  const d = JSON.parse(text) as Doc;
  const param = (p: Doc): Doc => {
    const { name, in: where, required, description, ...schema } = p;
    return { name, in: where, required, description, schema };
  };
  const out: Doc = {
    openapi: "3.0.3", info: d.info, servers: [{ url: d.basePath ?? "/" }], paths: {},
    components: { schemas: d.definitions ?? {}, securitySchemes: d.securityDefinitions ?? {} }, security: d.security,
  };
  for (const [path, item] of Object.entries(d.paths ?? {}) as [string, Doc][]) {
    const converted: Doc = { parameters: (item.parameters ?? []).filter((p: Doc) => p.in !== "body").map(param) };
    for (const { method, op } of operations({ paths: { [path]: item } })) {
      const body = (op.parameters ?? []).find((p: Doc) => p.in === "body");
      const responses: Doc = {};
      for (const [code, r] of Object.entries(op.responses ?? {}) as [string, Doc][]) {
        responses[code] = { description: r.description ?? "", ...(r.schema ? { content: { "application/json": { schema: r.schema } } } : {}) };
      }
      converted[method] = {
        ...op, responses,
        parameters: (op.parameters ?? []).filter((p: Doc) => p.in !== "body").map(param),
        ...(body ? { requestBody: { required: body.required, content: { "application/json": { schema: body.schema } } } } : {}),
      };
    }
    out.paths[path] = converted;
  }
  return out;
}

/** Renames lower-case status ranges (`4xx`) to the `4XX` OpenAPI defines; true when some were found. */
export function upperCaseRanges(doc: Doc): boolean {
  let changed = false;
  for (const { op } of operations(doc)) {
    for (const code of Object.keys(op.responses ?? {})) {
      if (/^[1-5]xx$/.test(code)) {
        op.responses[code.toUpperCase()] = op.responses[code];
        delete op.responses[code];
        changed = true;
      }
    }
  }
  return changed;
}
