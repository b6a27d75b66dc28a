/** The catalog service's domain errors; their codes and statuses are declared in index.ts. */
import { DomainError } from '../../shared/errors.js';
import type { CATALOG_ERRORS } from './index.js';

type Code = keyof typeof CATALOG_ERRORS;

/** The service is retired: it is read-only until purged. */
export const serviceRetired = (id: string) => new DomainError<Code>('ServiceRetired', `Service '${id}' is retired; retired services are read-only.`, 'serviceId');
