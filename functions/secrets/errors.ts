/** The secrets service's domain errors; their codes and statuses are declared in index.ts. */
import { DomainError } from '../../shared/errors.js';
import type { SECRET_ERRORS } from './index.js';

type Code = keyof typeof SECRET_ERRORS;

/** A binding of an existing secret names one the vault does not have (or has only disabled versions of). */
export const vaultSecretMissing = (secretName: string) =>
  new DomainError<Code>('VaultSecretMissing', `The vault has no enabled version of the tenant's secret '${secretName}'; create it first, or ask for initialValue 'generate'.`, 'secretName');

/** A generated initial value would overwrite a secret the vault already holds for another purpose. */
export const vaultSecretExists = (secretName: string) =>
  new DomainError<Code>('VaultSecretExists', `The vault already holds the tenant's secret '${secretName}'; bind it with initialValue 'existing'.`, 'secretName');

/** The rotation policy names a value provider this deployment does not have. */
export const unknownValueProvider = (provider: string) =>
  new DomainError<Code>('UnknownValueProvider', `No value provider named '${provider}' is registered.`, 'rotation.generator.provider');
