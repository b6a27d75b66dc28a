/**
 * Image references and the resolver port. A deployment names its image by digest
 * (`registry/repository@sha256:<64 hex>`, immutable) or by tag (`registry/repository:tag`, mutable).
 * A tag is allowed in a `prod` environment only when the {@link ImageResolver} resolves it to a
 * digest, which the deployment then records, so a rollback restores exactly those bytes.
 */
import { IMAGE_PATTERN } from './schemas.js';

/** An image reference, split. */
export interface ImageRef {
  registry: string;
  repository: string;
  tag?: string;
  digest?: string;
}

/** Splits a reference the `Image` schema accepted; `undefined` for anything else. */
export function parseImage(image: string): ImageRef | undefined {
  const m = IMAGE_PATTERN.exec(image);
  if (!m?.[1] || !m[2]) return undefined;
  return { registry: m[1], repository: m[2], ...(m[3] ? { tag: m[3] } : {}), ...(m[4] ? { digest: m[4] } : {}) };
}

/**
 * Port: asks a registry which digest a tag points at now. Answers the digest (`sha256:…`), or
 * `undefined` when the registry is not one this app may ask or has no such tag; throws an
 * `UnavailableError` when the registry cannot be reached.
 */
export interface ImageResolver {
  resolve(ref: { registry: string; repository: string; tag: string }): Promise<string | undefined>;
}

/** A resolver that resolves nothing (no registry configured). */
export const noImageResolver: ImageResolver = { resolve: async () => undefined };
