/**
 * HTTP trigger route templates, matched the way the Functions host's ASP.NET Core routing does:
 * literal segments are case-insensitive, `{name}` parameters, optional `{name?}`, defaults
 * `{name=value}`, catch-all `{*rest}`, and the built-in inline constraints (`{id:int}`,
 * `{id:guid}`, `{n:range(1,9)}`, `{s:regex(^a+$)}`, ...). Routes are tried in ASP.NET precedence
 * order (literals before constrained parameters before plain parameters before catch-alls).
 */

interface ParamPart {
  kind: 'param';
  name: string;
  optional: boolean;
  catchAll: boolean;
  defaultValue: string | undefined;
  constraints: Constraint[];
}
interface LiteralPart {
  kind: 'literal';
  text: string;
}
type Part = ParamPart | LiteralPart;
type Segment = Part[];
type Constraint = (value: string) => boolean;

/** A parsed route template. */
export interface RouteTemplate {
  readonly template: string;
  /** ASP.NET inbound precedence: smaller sorts first. */
  readonly precedence: number;
  /** Route values for `path` (already URL-decoded), or undefined when the template does not match. */
  match(path: string): Record<string, string> | undefined;
}

/** Raised for a template the host would refuse to index. */
export class RouteTemplateError extends Error {
  override name = 'RouteTemplateError';
}

const intRe = /^-?\d+$/;
const decimalRe = /^-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;
const guidRe = /^(\{)?[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}(\})?$/i;

function constraintFor(spec: string, template: string): Constraint {
  const m = /^([a-zA-Z]+)(?:\((.*)\))?$/s.exec(spec);
  if (!m) throw new RouteTemplateError(`Invalid constraint "${spec}" in route "${template}"`);
  const name = (m[1] ?? '').toLowerCase();
  const arg = m[2];
  const nums = (arg ?? '').split(',').map((s) => Number(s.trim()));
  switch (name) {
    case 'int':
      return (v) => intRe.test(v) && Math.abs(Number(v)) <= 2 ** 31;
    case 'long':
      return (v) => intRe.test(v);
    case 'bool':
      return (v) => /^(true|false)$/i.test(v);
    case 'decimal':
    case 'double':
    case 'float':
      return (v) => decimalRe.test(v);
    case 'guid':
      return (v) => guidRe.test(v);
    case 'datetime':
      return (v) => !Number.isNaN(Date.parse(v));
    case 'alpha':
      return (v) => /^[a-z]*$/i.test(v);
    case 'minlength':
      return (v) => v.length >= (nums[0] ?? 0);
    case 'maxlength':
      return (v) => v.length <= (nums[0] ?? Infinity);
    case 'length':
      return nums.length === 2
        ? (v) => v.length >= (nums[0] ?? 0) && v.length <= (nums[1] ?? Infinity)
        : (v) => v.length === nums[0];
    case 'min':
      return (v) => intRe.test(v) && Number(v) >= (nums[0] ?? -Infinity);
    case 'max':
      return (v) => intRe.test(v) && Number(v) <= (nums[0] ?? Infinity);
    case 'range':
      return (v) => intRe.test(v) && Number(v) >= (nums[0] ?? -Infinity) && Number(v) <= (nums[1] ?? Infinity);
    case 'regex': {
      const re = new RegExp(arg ?? '', 'i');
      return (v) => re.test(v);
    }
    case 'required':
      return (v) => v.length > 0;
    default:
      // Unknown constraints are tolerated rather than refusing the whole app locally.
      return () => true;
  }
}

function parseParam(body: string, template: string): ParamPart {
  let rest = body;
  let catchAll = false;
  if (rest.startsWith('**')) {
    catchAll = true;
    rest = rest.slice(2);
  } else if (rest.startsWith('*')) {
    catchAll = true;
    rest = rest.slice(1);
  }
  let defaultValue: string | undefined;
  const eq = findTopLevel(rest, '=');
  if (eq >= 0) {
    defaultValue = rest.slice(eq + 1);
    rest = rest.slice(0, eq);
  }
  let optional = false;
  if (rest.endsWith('?')) {
    optional = true;
    rest = rest.slice(0, -1);
  }
  const pieces = splitConstraints(rest);
  const name = pieces.shift() ?? '';
  if (!/^[A-Za-z_][\w-]*$/.test(name)) throw new RouteTemplateError(`Invalid parameter "{${body}}" in route "${template}"`);
  return { kind: 'param', name, optional, catchAll, defaultValue, constraints: pieces.map((c) => constraintFor(c, template)) };
}

/** Splits `name:int:range(1,2):regex(a:b)` on the colons that are not inside parentheses. */
function splitConstraints(text: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let current = '';
  for (const ch of text) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ':' && depth === 0) {
      out.push(current);
      current = '';
    } else current += ch;
  }
  out.push(current);
  return out;
}

function findTopLevel(text: string, needle: string): number {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch === '(') depth++;
    else if (ch === ')') depth--;
    else if (ch === needle && depth === 0) return i;
  }
  return -1;
}

function parseSegment(text: string, template: string): Segment {
  const parts: Part[] = [];
  let i = 0;
  while (i < text.length) {
    if (text[i] === '{') {
      // `{{` is an escaped brace in a literal.
      if (text[i + 1] === '{') {
        pushLiteral(parts, '{');
        i += 2;
        continue;
      }
      let depth = 0;
      let j = i;
      for (; j < text.length; j++) {
        if (text[j] === '{') depth++;
        else if (text[j] === '}') {
          depth--;
          if (depth === 0) break;
        }
      }
      if (j >= text.length) throw new RouteTemplateError(`Unclosed "{" in route "${template}"`);
      parts.push(parseParam(text.slice(i + 1, j), template));
      i = j + 1;
    } else if (text[i] === '}' && text[i + 1] === '}') {
      pushLiteral(parts, '}');
      i += 2;
    } else {
      pushLiteral(parts, text[i] ?? '');
      i++;
    }
  }
  return parts;
}

function pushLiteral(parts: Part[], text: string): void {
  const last = parts[parts.length - 1];
  if (last?.kind === 'literal') last.text += text;
  else parts.push({ kind: 'literal', text });
}

function segmentDigit(segment: Segment): number {
  if (segment.length > 1) return 2;
  const part = segment[0];
  if (!part || part.kind === 'literal') return 1;
  if (part.catchAll) return 5;
  return part.constraints.length > 0 ? 3 : 4;
}

function escapeRe(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** A segment ready to match: a literal's lower-case text, or a pattern with its parameters. */
type Matcher = { kind: 'literal'; lower: string } | { kind: 'pattern'; re: RegExp; params: ParamPart[] };

function matcherFor(segment: Segment): Matcher {
  const first = segment[0];
  if (segment.length === 1 && first?.kind === 'literal') return { kind: 'literal', lower: first.text.toLowerCase() };
  const params: ParamPart[] = [];
  let source = '^';
  for (const part of segment) {
    if (part.kind === 'literal') source += escapeRe(part.text);
    else {
      params.push(part);
      source += part.optional ? '(.*?)' : '(.+?)';
    }
  }
  return { kind: 'pattern', re: new RegExp(`${source}$`, 'i'), params };
}

/** A segment that may be missing from the end of a path (an optional or defaulted parameter, or a catch-all). */
function mayBeAbsent(segment: Segment): boolean {
  const first = segment[0];
  return segment.length === 1 && first?.kind === 'param' && (first.optional || first.defaultValue !== undefined || first.catchAll);
}

/** Parses a route template (without the route prefix). Throws {@link RouteTemplateError}. */
export function parseRouteTemplate(template: string): RouteTemplate {
  const trimmed = template.replace(/^~?\/+/, '').replace(/\/+$/, '');
  const segments = trimmed === '' ? [] : trimmed.split('/').map((s) => parseSegment(s, template));
  const precedence = Number(`0.${segments.map(segmentDigit).join('') || '0'}`);
  const matchers = segments.map(matcherFor);
  // How many path segments can match: all but trailing optional ones, and no more unless a catch-all takes the rest.
  let fewest = segments.length;
  while (fewest > 0 && mayBeAbsent(segments[fewest - 1]!)) fewest--;
  const last = segments[segments.length - 1]?.[0];
  const most = last?.kind === 'param' && last.catchAll && segments[segments.length - 1]!.length === 1 ? Infinity : segments.length;

  const match = (path: string): Record<string, string> | undefined => {
    const clean = path.replace(/^\/+/, '').replace(/\/+$/, '');
    const rawSegments = clean === '' ? [] : clean.split('/');
    if (rawSegments.length < fewest || rawSegments.length > most) return undefined;
    const values: Record<string, string> = {};
    for (let i = 0; i < segments.length; i++) {
      const segment = segments[i] ?? [];
      const first = segment[0];
      if (segment.length === 1 && first?.kind === 'param' && first.catchAll) {
        // A catch-all takes the rest of the path, zero or more segments.
        const rest = rawSegments.slice(i).map(safeDecode).join('/');
        const value = rest === '' ? first.defaultValue : rest;
        if (value !== undefined) {
          if (!first.constraints.every((c) => c(value))) return undefined;
          values[first.name] = value;
        }
        return values;
      }
      const raw = rawSegments[i];
      if (raw === undefined) {
        // Only trailing optional/defaulted parameters may be absent.
        if (segment.length === 1 && first?.kind === 'param' && (first.optional || first.defaultValue !== undefined)) {
          if (first.defaultValue !== undefined) values[first.name] = first.defaultValue;
          continue;
        }
        return undefined;
      }
      if (!matchSegment(matchers[i]!, safeDecode(raw), values)) return undefined;
    }
    if (rawSegments.length > segments.length) return undefined;
    return values;
  };

  return { template, precedence, match };
}

function matchSegment(matcher: Matcher, text: string, values: Record<string, string>): boolean {
  if (matcher.kind === 'literal') return text.length === matcher.lower.length && text.toLowerCase() === matcher.lower;
  const m = matcher.re.exec(text);
  if (!m) return false;
  const { params } = matcher;
  for (let i = 0; i < params.length; i++) {
    const param = params[i];
    if (!param) continue;
    const value = m[i + 1] ?? '';
    if (value === '') {
      if (param.defaultValue !== undefined) values[param.name] = param.defaultValue;
      else if (!param.optional) return false;
      continue;
    }
    if (!param.constraints.every((c) => c(value))) return false;
    values[param.name] = value;
  }
  return true;
}

function safeDecode(segment: string): string {
  if (!segment.includes('%')) return segment;
  try {
    // ASP.NET decodes route values but keeps an encoded slash encoded.
    return decodeURIComponent(segment.replace(/%2f/gi, '%252F'));
  } catch {
    return segment;
  }
}
