/**
 * The published OpenAPI document as a contract the tests hold the app to. `Contract` compiles the
 * document's schemas with a JSON Schema 2020-12 validator (Ajv; OpenAPI 3.1 schemas are JSON
 * Schema 2020-12, `$ref`s into `components` resolve against the document itself), and checks an
 * answer against the operation that gave it: the status is documented explicitly (not only by
 * `default`), the body matches the documented schema of that status (error bodies `ErrorResponse`),
 * the documented headers that are required are present, and the API's own headers that are present
 * are documented. The test harness (`app.ts`) checks every answer a test receives.
 */
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import * as ajvFormats from 'ajv-formats';
import { parse as parseYaml } from 'yaml';

/** The base URI the document is registered under, so `#/components/…` references resolve. */
const DOC_ID = 'https://contract.invalid/openapi.json';

// ajv-formats is CommonJS: under Node's ESM loader its function is the module's default export.
const addFormats = ajvFormats.default as unknown as (ajv: Ajv2020) => Ajv2020;

type Json = any;

/** An answer as the harness received it. */
export interface Answer {
  status: number;
  headers: Headers;
  /** The body as sent (text), if any. */
  text: string | undefined;
}

/** A JSON Schema 2020-12 validator that knows OpenAPI's schema keywords and the document's components. */
export function openApiAjv(doc: Json): Ajv2020 {
  // strict: unknown keywords and formats are errors, so a schema the validator would silently skip
  // fails instead. OpenAPI's base dialect adds `example`, `discriminator`, `xml`, `externalDocs`.
  const ajv = new Ajv2020({ strict: true, strictTypes: false, strictTuples: false, allErrors: true, validateFormats: true });
  ajv.addVocabulary(['example', 'discriminator', 'xml', 'externalDocs']);
  addFormats(ajv);
  // The document's components under the document's URI, so `#/components/schemas/…` resolves;
  // `components` itself is no JSON Schema keyword, only a place references point into.
  ajv.addKeyword({ keyword: 'components', schemaType: 'object' });
  ajv.addSchema({ $id: DOC_ID, components: { schemas: doc.components?.schemas ?? {} } });
  return ajv;
}

/** Compiles `schema` (a schema of the document, possibly with `#/components/…` references). */
export function compileIn(ajv: Ajv2020, schema: Json): ValidateFunction {
  return ajv.compile(rebase(schema));
}

/** `#/components/…` references as absolute ones into the document. */
function rebase(schema: Json): Json {
  return JSON.parse(JSON.stringify(schema), (k, v) => (k === '$ref' && typeof v === 'string' && v.startsWith('#/') ? `${DOC_ID}${v}` : v));
}

/** Ajv's errors as one line each: where, and what. */
export function describeErrors(errors: ErrorObject[] | null | undefined): string {
  return (errors ?? []).map((e) => `${e.instancePath || '(root)'} ${e.message ?? e.keyword}${e.params ? ` ${JSON.stringify(e.params)}` : ''}`).join('; ');
}

/** Resolves a local `$ref` in the document (`#/components/headers/ETag`). */
export function deref(doc: Json, value: Json): Json {
  let v = value;
  for (let i = 0; v && typeof v.$ref === 'string' && i < 10; i++) {
    v = v.$ref
      .slice(2)
      .split('/')
      .map((s: string) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
      .reduce((o: Json, k: string) => o?.[k], doc);
  }
  return v;
}

/** The document's operations by operationId. */
export function operations(doc: Json): Map<string, { method: string; path: string; op: Json }> {
  const out = new Map<string, { method: string; path: string; op: Json }>();
  for (const [path, item] of Object.entries<Json>(doc.paths ?? {})) {
    for (const [method, op] of Object.entries<Json>(item)) {
      if (op && typeof op === 'object' && typeof op.operationId === 'string') out.set(op.operationId, { method, path, op });
    }
  }
  return out;
}

let checked = 0;
/** How many answers this process has checked. */
export function checkedAnswers(): number {
  return checked;
}

/** Checks answers against the document. */
export class Contract {
  private readonly ajv: Ajv2020;
  private readonly ops: ReturnType<typeof operations>;
  private readonly validators = new Map<string, ValidateFunction>();
  /** Every response header name the document declares anywhere (lowercase): the API's own headers. */
  private readonly apiHeaders: Set<string>;

  constructor(readonly doc: Json) {
    this.ajv = openApiAjv(doc);
    this.ops = operations(doc);
    this.apiHeaders = new Set<string>();
    for (const { op } of this.ops.values()) {
      for (const r of Object.values<Json>(op.responses ?? {})) {
        for (const name of Object.keys(deref(doc, r).headers ?? {})) this.apiHeaders.add(name.toLowerCase());
      }
    }
  }

  /** What is wrong with `answer` as an answer of the operation `operationId`; empty when nothing. */
  check(operationId: string, answer: Answer): string[] {
    checked++;
    const entry = this.ops.get(operationId);
    if (!entry) return [`the document has no operation '${operationId}'`];
    const responses = entry.op.responses ?? {};
    const key = String(answer.status);
    if (!(key in responses)) {
      const documented = Object.keys(responses).join(', ');
      return [`status ${answer.status} is not documented (documented: ${documented})`];
    }
    const response = deref(this.doc, responses[key]);
    const problems: string[] = [];

    const documentedHeaders = new Map<string, Json>(Object.entries<Json>(response.headers ?? {}).map(([n, h]) => [n.toLowerCase(), deref(this.doc, h)]));
    for (const [name, h] of documentedHeaders) {
      if (h?.required && !answer.headers.has(name)) problems.push(`the required header ${name} is missing`);
    }
    for (const name of answer.headers.keys()) {
      if (this.apiHeaders.has(name) && !documentedHeaders.has(name)) problems.push(`the header ${name} is sent but not documented for ${answer.status}`);
    }

    const content = response.content as Record<string, Json> | undefined;
    const hasBody = answer.text !== undefined && answer.text !== '';
    if (!content) {
      if (hasBody) problems.push(`a body is sent but ${answer.status} documents none`);
      return problems;
    }
    if (!hasBody) return [...problems, `${answer.status} documents a body (${Object.keys(content).join(', ')}) but none is sent`];
    const type = (answer.headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
    const media = content[type] ?? (type === 'application/json' ? undefined : content['application/json']);
    if (!media) return [...problems, `the body is sent as '${type}', documented: ${Object.keys(content).join(', ')}`];
    // Bytes (a download): nothing to parse.
    if (!media.schema || media.schema.format === 'binary') return problems;
    let body: unknown;
    try {
      body = parseBody(type, answer.text!);
    } catch {
      return [...problems, `the body is not ${type}`];
    }
    const vkey = `${operationId} ${key} ${type}`;
    let validate = this.validators.get(vkey);
    if (!validate) this.validators.set(vkey, (validate = compileIn(this.ajv, media.schema)));
    if (!validate(body)) problems.push(`the body does not match the documented schema: ${describeErrors(validate.errors)}`);
    return problems;
  }
}

/** A body as its media type says: YAML (`application/yaml`), otherwise JSON. */
export function parseBody(type: string, text: string): unknown {
  return type === 'application/yaml' ? parseYaml(text) : JSON.parse(text);
}
