/**
 * Holds the API to its own OpenAPI document: every REST response a test receives must have a status
 * the document lists for that operation and a body its schema accepts. Wired into the REST helpers,
 * so any test that talks REST checks the spec as a side effect.
 */
import { Ajv2020, type ValidateFunction } from "ajv/dist/2020.js";

type Json = any;

export interface CheckedResponse {
  method: string;
  /** Path below /api/v1, with or without a query string. */
  path: string;
  status: number;
  body: unknown;
  headers: Headers;
}

const ERROR_CODE_FOR_UNKNOWN = new Set([404, 405]);

export class OpenApiChecker {
  private readonly ajv = new Ajv2020({ strict: false, validateFormats: false, allErrors: true });
  private readonly compiled = new Map<string, ValidateFunction>();
  private readonly templates: Array<{ template: string; re: RegExp }>;

  constructor(private readonly doc: Json) {
    this.ajv.addSchema(doc, "openapi.json");
    this.templates = Object.keys(doc.paths).map((template) => ({
      template,
      re: new RegExp(`^${template.replace(/[.*+?^$()|[\]\\]/g, "\\$&").replace(/\{[^}]+\}/g, "[^/]+")}$`),
    }));
  }

  private validator(pointer: string): ValidateFunction {
    let v = this.compiled.get(pointer);
    if (!v) {
      v = this.ajv.compile({ $ref: `openapi.json#${pointer}` });
      this.compiled.set(pointer, v);
    }
    return v;
  }

  private validate(pointer: string, body: unknown, what: string): void {
    const v = this.validator(pointer);
    if (!v(body)) throw new Error(`${what}: body does not match the OpenAPI document: ${this.ajv.errorsText(v.errors)}\nbody: ${JSON.stringify(body).slice(0, 2000)}`);
  }

  /** Throws with the reason when the response is not what the document says it can be. */
  check(r: CheckedResponse): void {
    const pathname = r.path.split("?")[0]!;
    const method = r.method.toLowerCase();
    const what = `${r.method} ${r.path} → ${r.status}`;
    const esc = (s: string) => s.replace(/~/g, "~0").replace(/\//g, "~1");
    // A literal segment beats a parameter (`/images/uploads` is not `/images/{id}`): prefer a template serving this method.
    const matches = this.templates.filter((t) => t.re.test(pathname));
    const match = matches.find((t) => this.doc.paths[t.template][method]) ?? matches[0];
    const errorPointer = "/components/schemas/Error";
    if (!match || !this.doc.paths[match.template][method]) {
      // No operation: only "no such path" or "not this method" (with Allow), in the documented error shape.
      if (!ERROR_CODE_FOR_UNKNOWN.has(r.status) || (match && r.status !== 405)) throw new Error(`${what}: no such operation in the OpenAPI document, and the status is not 404/405`);
      if (r.status === 405 && !r.headers.get("allow")) throw new Error(`${what}: 405 without an Allow header`);
      if (r.method !== "HEAD") this.validate(errorPointer, r.body, what);
      return;
    }
    const op = this.doc.paths[match.template][method];
    const response = op.responses?.[String(r.status)];
    if (!response) throw new Error(`${what}: status not documented for ${method.toUpperCase()} ${match.template} (documented: ${Object.keys(op.responses ?? {}).join(", ")})`);
    const schemaPointer = `/paths/${esc(match.template)}/${method}/responses/${r.status}/content/application~1json/schema`;
    if (response.content?.["application/json"]?.schema) this.validate(schemaPointer, r.body, what);
  }
}

const checkers = new Map<string, Promise<OpenApiChecker>>();

/** The checker for the portal at `baseUrl` (its document is fetched once). */
export function openApiChecker(baseUrl: string, fetchDoc: () => Promise<Json> = async () => (await fetch(`${baseUrl}/api/v1/openapi.json`)).json()): Promise<OpenApiChecker> {
  let c = checkers.get(baseUrl);
  if (!c) {
    c = fetchDoc().then((doc) => new OpenApiChecker(doc));
    checkers.set(baseUrl, c);
  }
  return c;
}
