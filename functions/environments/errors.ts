/** The environments service's domain errors; their codes and statuses are declared in index.ts. */
import { DomainError } from '../../shared/errors.js';
import type { ENVIRONMENT_ERRORS } from './index.js';

type Code = keyof typeof ENVIRONMENT_ERRORS;

/** The environment is retired: it and everything in it are read-only. */
export const environmentRetired = (id: string) =>
  new DomainError<Code>('EnvironmentRetired', `Environment '${id}' is retired; it and everything in it are read-only.`, 'environmentId');
