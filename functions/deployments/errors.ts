/** The deployments service's domain errors; their codes and statuses are declared in index.ts. */
import { DomainError } from '../../shared/errors.js';
import type { DEPLOYMENT_ERRORS } from './index.js';

type Code = keyof typeof DEPLOYMENT_ERRORS;

/** The state machine does not allow the change (or another change of the same deployment came first). */
export const invalidTransition = (id: string, from: string, to: string) =>
  new DomainError<Code>('InvalidTransition', `Deployment '${id}' cannot go from ${from} to ${to}.`, 'to');

/** Another deployment of the service is in progress in the environment. */
export const deploymentInProgress = (other: string) =>
  new DomainError<Code>('DeploymentInProgress', `Deployment '${other}' of this service is in progress in the environment; one at a time.`, 'to');

/** A mutable tag the registry did not resolve, for a `prod` environment. */
export const imageDigestRequired = (image: string, why: string) =>
  new DomainError<Code>('ImageDigestRequired', `Image '${image}' names a mutable tag ${why}; prod environments take registry/repository@sha256:<digest>.`, 'body.image');

/** The rollback cannot be made as asked. */
export const invalidRollback = (message: string, target = 'deploymentId') => new DomainError<Code>('InvalidRollback', message, target);
