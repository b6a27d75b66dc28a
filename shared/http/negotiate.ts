/**
 * Proactive content negotiation (RFC 9110 §12.5.1): the media type of an answer chosen from the
 * request's `Accept` header among those a route can send. No `Accept` (or only `*\/*`) takes the
 * route's first type; `q=0` refuses a type; nothing acceptable is `undefined` (the route answers 406).
 */

/** The offered type the client prefers most, by `q` then by specificity; `undefined` when none is acceptable. */
export function negotiate(accept: string | null, offered: readonly string[]): string | undefined {
  if (accept === null || accept.trim() === '') return offered[0];
  const ranges = accept.split(',').map((part) => {
    const [range = '', ...params] = part.split(';').map((x) => x.trim().toLowerCase());
    const q = params.find((p) => p.startsWith('q='));
    const weight = q === undefined ? 1 : Number(q.slice(2));
    return { range, q: Number.isFinite(weight) && weight >= 0 && weight <= 1 ? weight : 0 };
  });
  let best: { type: string; q: number } | undefined;
  for (const type of offered) {
    const [major] = type.split('/');
    // The most specific range that matches decides the type's weight.
    const match =
      ranges.find((r) => r.range === type) ?? ranges.find((r) => r.range === `${major}/*`) ?? ranges.find((r) => r.range === '*/*');
    if (match && match.q > 0 && (!best || match.q > best.q)) best = { type, q: match.q };
  }
  return best?.type;
}
