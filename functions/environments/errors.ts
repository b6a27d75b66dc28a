/** The environments service's own error codes, declared once with their HTTP status. */
import { domainErrors } from '../../shared/errors.js';

export const errors = domainErrors({ EnvironmentRetired: 409 });

/** The environment is retired: it and everything in it are read-only. */
export const environmentRetired = (id: string) =>
  errors.raise('EnvironmentRetired', `Environment '${id}' is retired; it and everything in it are read-only.`, 'environmentId');
