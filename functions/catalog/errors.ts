/** The catalog service's own error codes, declared once with their HTTP status. */
import { domainErrors } from '../../shared/errors.js';

export const errors = domainErrors({ ServiceRetired: 409 });

/** The service is retired: it is read-only until purged. */
export const serviceRetired = (id: string) => errors.raise('ServiceRetired', `Service '${id}' is retired; retired services are read-only.`, 'serviceId');
