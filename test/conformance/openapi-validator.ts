import { Ajv, type ErrorObject, type ValidateFunction } from "ajv";
import { Ajv2020 } from "ajv/dist/2020.js";
import addFormatsModule from "ajv-formats";
import { operations, type Doc } from "./openapi-doc.js";

/**
 * Checks recorded request/response pairs against an OpenAPI document: the route and method exist,
 * the query parameters are the spec's and valid, the security requirement is met, the JSON body
 * fits the request schema, the status is documented and the response body fits its schema.
 * OpenAPI 3.0 schemas are brought to JSON Schema first (`nullable`, and `readOnly`/`writeOnly`
 * fields leaving `required` in requests/responses, as OpenAPI 3.0 defines); 3.1 is JSON Schema.
 */

export interface Exchange {
  method: string;
  /** Full path on the server, without the query. */
  path: string;
  /** Query string without `?`. */
  query: string;
  requestHeaders: Record<string, string | string[] | undefined>;
  requestBody: Buffer;
  status: number;
  responseHeaders: Record<string, string | string[] | undefined>;
  responseBody: Buffer;
}

export interface Violation {
  kind: "route" | "request" | "response";
  /** `GET /v1/servers?...` */
  exchange: string;
  message: string;
}

interface Route {
  template: string;
  pattern: RegExp;
  params: string[];
  literals: number;
}

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;
/** OpenAPI's own formats carry no constraint JSON Schema can check here. */
const OPENAPI_FORMATS = ["int32", "int64", "float", "double", "byte", "binary", "password", "decimal", "unix-time", "timestamp"];

function header(headers: Exchange["requestHeaders"], name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v.join(",") : v;
}

export class OpenApiValidator {
  readonly #doc: Doc;
  readonly #prefix: string;
  readonly #routes: Route[];
  readonly #ajv: { request: Ajv; response: Ajv };
  readonly #compiled = new Map<string, ValidateFunction>();

  constructor(doc: Doc) {
    this.#doc = doc;
    const server = (doc.servers?.[0]?.url as string | undefined) ?? "/";
    this.#prefix = new URL(server, "http://spec.invalid").pathname.replace(/\/$/, "");
    this.#routes = Object.keys(doc.paths ?? {}).map((template) => {
      const params: string[] = [];
      const source = template.split("/").map((seg) => seg.replace(/[.*+?^$()|[\]\\]/g, "\\$&").replace(/\{([^}]+)\}/g, (_m, name: string) => {
        params.push(name);
        return "([^/]+)";
      })).join("/");
      return { template, pattern: new RegExp(`^${source}$`), params, literals: template.split("/").filter((s) => s && !s.includes("{")).length };
    }).sort((a, b) => b.literals - a.literals);
    const v31 = String(doc.openapi ?? "").startsWith("3.1");
    const make = (direction: "request" | "response"): Ajv => {
      const ajv = v31 ? new Ajv2020({ strict: false, allErrors: true, logger: false }) : new Ajv({ strict: false, allErrors: true, logger: false });
      addFormats(ajv as Ajv);
      for (const f of OPENAPI_FORMATS) ajv.addFormat(f, true);
      ajv.addSchema(v31 ? doc : toJsonSchema(structuredClone(doc), direction), "spec");
      return ajv as Ajv;
    };
    this.#ajv = { request: make("request"), response: make("response") };
  }

  check(ex: Exchange): Violation[] {
    const where = `${ex.method} ${ex.path}${ex.query ? `?${ex.query}` : ""}`;
    const out: Violation[] = [];
    const fail = (kind: Violation["kind"], message: string): void => void out.push({ kind, exchange: where, message });
    if (!ex.path.startsWith(this.#prefix)) {
      fail("route", `outside the spec's base path ${this.#prefix}`);
      return out;
    }
    const path = ex.path.slice(this.#prefix.length) || "/";
    const route = this.#routes.find((r) => r.pattern.test(path));
    if (!route) {
      fail("route", "no such path in the spec");
      return out;
    }
    const item = this.#doc.paths[route.template] as Doc;
    const method = ex.method.toLowerCase();
    const op = item[method] as Doc | undefined;
    if (!op) {
      fail("route", `${route.template} has no ${ex.method} in the spec`);
      return out;
    }
    const base = `paths/${pointer(route.template)}/${method}`;
    this.#checkRequest(ex, route, path, item, op, base, (m) => fail("request", m));
    this.#checkResponse(ex, op, base, (m) => fail("response", m));
    return out;
  }

  #checkRequest(ex: Exchange, route: Route, path: string, item: Doc, op: Doc, base: string, fail: (m: string) => void): void {
    // Each parameter with the JSON pointer of its schema, so nested $refs resolve inside the document.
    const at = (list: Doc[] | undefined, where: string): Doc[] => (list ?? []).map((raw, i) => {
      const { node, pointer: ptr } = this.#resolveWithPointer(raw, `${where}/parameters/${i}`);
      return { ...node, schemaPointer: `${ptr}/schema` };
    });
    const params = [...at(item.parameters as Doc[] | undefined, `paths/${pointer(route.template)}`), ...at(op.parameters as Doc[] | undefined, base)];
    const values = route.pattern.exec(path)!.slice(1).map((v) => decodeURIComponent(v));
    route.params.forEach((name, i) => {
      const p = params.find((q) => q.in === "path" && q.name === name);
      if (p?.schema) this.#value(p, values[i]!, `path parameter ${name}`, fail);
    });
    const query = new URLSearchParams(ex.query);
    const known = params.filter((p) => p.in === "query");
    for (const name of new Set(query.keys())) {
      const p = known.find((q) => q.name === name);
      if (!p) {
        fail(`query parameter "${name}" is not in the spec`);
        continue;
      }
      const all = query.getAll(name);
      if (p.schema?.type === "array") {
        const items = p.explode === false ? all.flatMap((v) => v.split(",")) : all;
        this.#value(p, items, `query parameter ${name}`, fail);
      } else {
        if (all.length > 1) fail(`query parameter "${name}" is repeated but not an array`);
        if (p.schema) this.#value(p, all[0]!, `query parameter ${name}`, fail);
      }
    }
    for (const p of known) if (p.required && !query.has(p.name)) fail(`required query parameter "${p.name}" is missing`);
    this.#checkSecurity(ex, op, query, fail);
    const body = ex.requestBody;
    const declared = op.requestBody ? this.#resolve(op.requestBody) : undefined;
    if (body.length === 0) {
      if (declared?.required) fail("the required request body is missing");
      return;
    }
    if (!declared) {
      fail("a request body was sent but the operation takes none");
      return;
    }
    this.#checkBody("request", declared.content ?? {}, `${base}/requestBody`, header(ex.requestHeaders, "content-type"), body, fail);
  }

  #checkResponse(ex: Exchange, op: Doc, base: string, fail: (m: string) => void): void {
    const responses = op.responses ?? {};
    const code = String(ex.status);
    const key = code in responses ? code : `${code[0]}XX` in responses ? `${code[0]}XX` : "default" in responses ? "default" : undefined;
    if (!key) {
      fail(`status ${code} is not documented (documented: ${Object.keys(responses).join(", ")})`);
      return;
    }
    const response = this.#resolve(responses[key]);
    const content = response.content as Doc | undefined;
    if (ex.responseBody.length === 0) {
      if (content && Object.keys(content).length > 0 && ex.method !== "HEAD" && ex.status !== 204) fail(`status ${code} came without the body the spec describes`);
      return;
    }
    if (!content) {
      fail(`status ${code} has a body but the spec describes none`);
      return;
    }
    const responsesBase = responses[key].$ref ? refPointer(responses[key].$ref as string) : `${base}/responses/${pointer(key)}`;
    this.#checkBody("response", content, responsesBase, header(ex.responseHeaders, "content-type"), ex.responseBody, fail);
  }

  #checkBody(direction: "request" | "response", content: Doc, at: string, contentType: string | undefined, body: Buffer, fail: (m: string) => void): void {
    const media = (contentType ?? "").split(";")[0]!.trim().toLowerCase();
    const match = Object.keys(content).find((k) => k.toLowerCase() === media) ?? Object.keys(content).find((k) => k === "*/*" || (k.endsWith("/*") && media.startsWith(k.slice(0, -1))));
    if (!match) {
      fail(`${direction} content type "${media}" is not one of ${Object.keys(content).join(", ")}`);
      return;
    }
    if (!/json/.test(match) || !content[match].schema) return;
    let value: unknown;
    try {
      value = JSON.parse(body.toString("utf8"));
    } catch {
      fail(`${direction} body is not JSON`);
      return;
    }
    const validate = this.#validator(direction, `spec#/${at}/content/${pointer(match)}/schema`);
    if (!validate(value)) fail(`${direction} body: ${describe(validate.errors)}`);
  }

  #checkSecurity(ex: Exchange, op: Doc, query: URLSearchParams, fail: (m: string) => void): void {
    const requirements = (op.security ?? this.#doc.security) as Doc[] | undefined;
    if (!requirements || requirements.length === 0) return;
    const schemes = (this.#doc.components?.securitySchemes ?? {}) as Doc;
    const auth = header(ex.requestHeaders, "authorization") ?? "";
    const met = (name: string): boolean => {
      const s = schemes[name] as Doc | undefined;
      if (!s) return false;
      if (s.type === "http") return new RegExp(`^${s.scheme}\\s`, "i").test(auth);
      if (s.type === "apiKey") return s.in === "query" ? query.has(s.name) : header(ex.requestHeaders, String(s.name).toLowerCase()) !== undefined;
      return s.type === "oauth2" || s.type === "openIdConnect" ? /^bearer\s/i.test(auth) : false;
    };
    if (!requirements.some((r) => Object.keys(r).every(met))) fail(`no security requirement is met (${requirements.map((r) => Object.keys(r).join("+") || "none").join(" | ")})`);
  }

  #value(param: Doc, raw: string | string[], what: string, fail: (m: string) => void): void {
    const coerce = (s: Doc, v: string): unknown => {
      const type = Array.isArray(s.type) ? s.type.find((t: string) => t !== "null") : s.type;
      if ((type === "integer" || type === "number") && v.trim() !== "" && !Number.isNaN(Number(v))) return Number(v);
      if (type === "boolean" && (v === "true" || v === "false")) return v === "true";
      return v;
    };
    const resolved = this.#resolve(param.schema as Doc);
    const value = Array.isArray(raw) ? raw.map((v) => coerce(this.#resolve(resolved.items ?? {}), v)) : coerce(resolved, raw);
    const validate = this.#validator("request", `spec#/${param.schemaPointer as string}`);
    if (!validate(value)) fail(`${what}: ${describe(validate.errors)}`);
  }

  #validator(direction: "request" | "response", ref: string): ValidateFunction {
    const key = `${direction} ${ref}`;
    let v = this.#compiled.get(key);
    if (!v) this.#compiled.set(key, (v = this.#ajv[direction].compile({ $ref: ref })));
    return v;
  }

  /** Follows local `$ref`s (`#/components/...`). */
  #resolve(node: Doc): Doc {
    return this.#resolveWithPointer(node, "").node;
  }

  /** Follows local `$ref`s, keeping the JSON pointer of where it ended (`at` is where `node` is). */
  #resolveWithPointer(node: Doc, at: string): { node: Doc; pointer: string } {
    let n = node;
    let ptr = at;
    for (let i = 0; i < 20 && n && typeof n.$ref === "string"; i++) {
      ptr = refPointer(n.$ref as string);
      n = ptr.split("/").reduce((o: Doc, k) => o?.[k.replaceAll("~1", "/").replaceAll("~0", "~")], this.#doc);
    }
    return { node: n, pointer: ptr };
  }
}

/** A JSON pointer token. */
function pointer(token: string): string {
  return token.replaceAll("~", "~0").replaceAll("/", "~1");
}

/** `#/components/x` -> `components/x`. */
function refPointer(ref: string): string {
  return ref.replace(/^#\//, "");
}

function describe(errors: ErrorObject[] | null | undefined): string {
  const list = (errors ?? []).slice(0, 4).map((e) => `${e.instancePath || "/"} ${e.message ?? ""}${e.params && "additionalProperty" in e.params ? ` (${String(e.params.additionalProperty)})` : ""}`);
  return list.join("; ") + ((errors?.length ?? 0) > 4 ? `; and ${errors!.length - 4} more` : "");
}

/**
 * OpenAPI 3.0 schema objects -> JSON Schema, in place: `nullable: true` allows null; a property
 * that is `readOnly` (server-set) is not required in a request, a `writeOnly` one not in a response.
 */
function toJsonSchema(node: Doc, direction: "request" | "response", doc: Doc = node, seen = new Set<Doc>()): Doc {
  if (typeof node !== "object" || node === null || seen.has(node)) return node;
  seen.add(node);
  for (const value of Object.values(node)) if (typeof value === "object" && value !== null) toJsonSchema(value as Doc, direction, doc, seen);
  if (node.properties && Array.isArray(node.required)) {
    const hidden = direction === "request" ? "readOnly" : "writeOnly";
    const resolve = (s: Doc): Doc => (typeof s?.$ref === "string" ? refPointer(s.$ref).split("/").reduce((o: Doc, k) => o?.[k], doc) ?? s : s);
    node.required = node.required.filter((name: string) => !resolve(node.properties[name])?.[hidden]);
  }
  if (node.nullable === true) {
    delete node.nullable;
    if (typeof node.type === "string") {
      node.type = [node.type, "null"];
      if (Array.isArray(node.enum) && !node.enum.includes(null)) node.enum.push(null);
    } else {
      const copy = { ...node };
      for (const k of Object.keys(node)) delete node[k];
      node.anyOf = [copy, { type: "null" }];
    }
  } else if (node.nullable === false) delete node.nullable;
  return node;
}

export { operations };
