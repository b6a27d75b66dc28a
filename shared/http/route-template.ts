/**
 * What the Functions host accepts as an HTTP route, checked when a function registers, so that
 * `npm test` fails where a deployment would misbehave:
 *
 * - The host refuses routes under its own prefixes (`admin`, `runtime`) and constraints it does
 *   not know (ASP.NET Core's route constraints: `int`, `guid`, `alpha`, `length(…)` …).
 * - The host adds routes in function-name order and takes the first match, not the most specific
 *   one (Azure/azure-functions-host, `WebJobsRouter` / `HttpRouteFactory`), so two routes of one
 *   method that can match the same path — `services/search` beside `services/{serviceId}` — would
 *   work with one function order and misroute with another. Such pairs are refused outright.
 *   Constraints are not used to tell routes apart (a `{id:int}` beside a literal `search` is still
 *   refused): the rule stays simple and safe.
 */

/** One segment of a route template. */
type Segment = { literal: string } | { param: string; optional: boolean };

/** Route constraints the host knows (ASP.NET Core routing). */
const CONSTRAINTS = /^(int|long|bool|datetime|decimal|double|float|guid|alpha|required|(minlength|maxlength|length|min|max)\(\d+\)|(length|range)\(\d+,\d+\)|regex\(.+\))$/i;

/** A route the host would refuse. */
export class RouteTemplateError extends Error {
  override name = 'RouteTemplateError';
}

/** Parses a route template (without the `api` prefix); throws {@link RouteTemplateError} for what the host refuses. */
export function parseTemplate(route: string): Segment[] {
  const parts = route.split('/');
  if (parts.some((p) => p === '')) throw new RouteTemplateError(`Route '${route}' has an empty segment`);
  const first = parts[0]?.toLowerCase();
  if (first === 'admin' || first === 'runtime') throw new RouteTemplateError(`Route '${route}' is under '${first}', which the Functions host reserves`);
  return parts.map((p, i) => {
    const m = /^\{([A-Za-z_][A-Za-z0-9_]*)((?::[^:{}?]+)*)(\?)?\}$/.exec(p);
    if (!m) {
      if (/[{}]/.test(p)) throw new RouteTemplateError(`Route '${route}': segment '${p}' mixes text and parameters`);
      return { literal: p.toLowerCase() };
    }
    for (const c of (m[2] ?? '').split(':').slice(1)) {
      if (!CONSTRAINTS.test(c)) throw new RouteTemplateError(`Route '${route}': the host does not know the constraint '${c}'`);
    }
    if (m[3] && i !== parts.length - 1) throw new RouteTemplateError(`Route '${route}': only the last parameter may be optional`);
    return { param: m[1]!, optional: Boolean(m[3]) };
  });
}

/** True when some path can match both templates (both parsed by {@link parseTemplate}). */
export function overlaps(a: Segment[], b: Segment[]): boolean {
  const lengths = (s: Segment[]) => {
    const last = s.at(-1);
    return last && 'param' in last && last.optional ? [s.length - 1, s.length] : [s.length];
  };
  const common = lengths(a).filter((n) => lengths(b).includes(n));
  return common.some((n) =>
    Array.from({ length: n }, (_, i) => [a[i]!, b[i]!] as const).every(([x, y]) => !('literal' in x && 'literal' in y) || x.literal === y.literal),
  );
}
