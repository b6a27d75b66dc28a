/**
 * Name-based GUIDs for resources whose ARM name must be a GUID (role assignments, Cosmos DB role
 * definitions and assignments). The same inputs always give the same GUID, like Bicep's `guid()`,
 * so a re-run of `pulumi up` (or a state rebuilt by `pulumi import`) names the same resource, and
 * a change of principal or scope gives a new name, so Pulumi can create the replacement before
 * deleting the old one.
 */
import { createHash } from 'node:crypto';

/** Namespace of this program's name-based GUIDs (a random v4 GUID, fixed once). */
const NAMESPACE = '2f1d8f5c-7a0e-4b7e-9d35-0c6a3e7b9a41';

/** An RFC 9562 version-5 (SHA-1, name-based) UUID of `parts`, joined by `/`. */
export function nameBasedGuid(...parts: string[]): string {
  const ns = Buffer.from(NAMESPACE.replace(/-/g, ''), 'hex');
  const bytes = createHash('sha1').update(ns).update(parts.join('/')).digest().subarray(0, 16);
  bytes[6] = (bytes[6]! & 0x0f) | 0x50; // version 5
  bytes[8] = (bytes[8]! & 0x3f) | 0x80; // RFC 9562 variant
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** The canonical GUID form ARM uses for role assignment and definition names. */
export const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
