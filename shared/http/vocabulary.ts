/**
 * The API's building blocks, shared by every service's schemas: tenant ids, prefixed resource ids,
 * DNS-style names, display names and descriptions, labels, list envelopes and route parameters.
 * A service imports these instead of writing its own pattern, so one rule holds everywhere.
 *
 * Patterns are portable: ECMA-262 without flags, as JSON Schema validators and API gateways read
 * the published document (no `\p{…}` classes, which need the `u` flag).
 */
import { z } from './openapi.js';
import { idPattern, TENANT_ID_PATTERN } from '../ids.js';

export { Labels, LabelsPatch, LabelSelectorParam } from '../labels.js';
export { createdRangeQuery } from './keyset.js';

/** Tenant ids: 2-63 of a-z, 0-9 and `-`, starting alphanumeric. */
export { TENANT_ID_PATTERN };
export const TenantId = z.string().regex(TENANT_ID_PATTERN).openapi({ description: 'Lowercase letters, digits and dashes', example: 'contoso' });

/** A server-generated resource id with its prefix (`env_…`, `svc_…`), see `shared/ids.ts`. */
export function resourceId(prefix: string, example: string) {
  return z.string().regex(idPattern(prefix)).openapi({ example });
}

/** DNS labels (RFC 1123): 1-63 of a-z, 0-9 and `-`, alphanumeric at both ends. */
export const DNS_NAME_PATTERN = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
export function dnsName(example: string) {
  return z.string().regex(DNS_NAME_PATTERN, { message: 'Names are 1-63 of a-z, 0-9 and -, alphanumeric at both ends' }).openapi({ example });
}

// C0 and C1 controls, DEL, and the bidirectional overrides and isolates (which can make text
// display as something else). Written as explicit ranges so the pattern needs no `u` flag.
const UNSAFE = '\\u0000-\\u001F\\u007F-\\u009F\\u202A-\\u202E\\u2066-\\u2069';
/** One line of text: no control or bidirectional-override characters. */
export const SAFE_LINE_PATTERN = new RegExp(`^[^${UNSAFE}]*$`);
/** Free text: as {@link SAFE_LINE_PATTERN}, but tab, line feed and carriage return are allowed. */
export const SAFE_TEXT_PATTERN = new RegExp(`^(?:[^${UNSAFE}]|[\\t\\n\\r])*$`);

const SAFE_MESSAGE = { message: 'No control or bidirectional-override characters' };
export const DisplayName = z.string().trim().min(1).max(200).regex(SAFE_LINE_PATTERN, SAFE_MESSAGE);
export const Description = z.string().max(2000).regex(SAFE_TEXT_PATTERN, SAFE_MESSAGE);

/** `active` or `retired`, for resources that are retired rather than deleted. */
export const LiveStatus = z.enum(['active', 'retired']);
/** Which statuses a list shows: `active` (the default), `retired`, or `all`. */
export const StatusFilter = z.enum(['active', 'retired', 'all']).openapi({ description: 'active (default), retired or all' });

/** The list envelope: `{"value":[...],"nextLink"?}`. */
export function listOf<T extends z.ZodType>(item: T, name: string) {
  return z.object({ value: z.array(item), nextLink: z.string().optional() }).openapi(name);
}

/** Route parameters of tenant-scoped routes; extend with the route's own ids. */
export const TenantParams = z.object({ tenantId: TenantId });
