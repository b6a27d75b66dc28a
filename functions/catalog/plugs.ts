/**
 * The registry behind the catalog's plug points (see api.ts): reference checkers for the purge and
 * fact providers for the fact sheet. One registry per app instance (the catalog's instance), filled by the services that plug in.
 */
import type { FactProvider, ServiceReferenceChecker } from './api.js';
import type { FactPart } from './schemas.js';

/** Registered plug-ins. */
export class CatalogPlugs {
  private readonly checkers = new Map<string, ServiceReferenceChecker>();
  private readonly providers = new Map<FactPart, { owner: string; provide: FactProvider<FactPart> }>();

  addReferenceChecker(owner: string, checker: ServiceReferenceChecker): void {
    if (this.checkers.has(owner)) throw new Error(`A reference checker for '${owner}' is already registered`);
    this.checkers.set(owner, checker);
  }

  addFactProvider<K extends FactPart>(part: K, owner: string, provide: FactProvider<K>): void {
    if (this.providers.has(part)) throw new Error(`A provider for the '${part}' fact is already registered`);
    this.providers.set(part, { owner, provide });
  }

  /** Checkers in registration order, with their owner's name. */
  referenceCheckers(): [owner: string, checker: ServiceReferenceChecker][] {
    return [...this.checkers.entries()];
  }

  factProvider(part: FactPart): { owner: string; provide: FactProvider<FactPart> } | undefined {
    return this.providers.get(part);
  }
}
