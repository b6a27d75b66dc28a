/** Resource ids: `<prefix>_` and 16 hex characters (64 random bits), server-generated, never reused. */
import { randomBytes } from 'node:crypto';

/** A new id with the resource's prefix (`env`, `svc`, `dep` …): unguessable enough not to leak counts. */
export function newId<P extends string>(prefix: P): `${P}_${string}` {
  return `${prefix}_${randomBytes(8).toString('hex')}`;
}

/** The pattern of ids made by {@link newId} for `prefix`. */
export function idPattern(prefix: string): RegExp {
  return new RegExp(`^${prefix}_[0-9a-f]{16}$`);
}

/** A tenant id: lowercase letters, digits and dashes (the vocabulary's `TenantId`). Kept here, free of zod, for the modules that only test it. */
export const TENANT_ID_PATTERN = /^[a-z0-9][a-z0-9-]{1,62}$/;
