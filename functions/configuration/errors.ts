/** The configuration service's domain errors; their codes and statuses are declared in index.ts. */
import { DomainError, type ErrorDetail } from '../../shared/errors.js';
import type { CONFIGURATION_ERRORS } from './index.js';
import type { Finding } from './scan.js';

type Code = keyof typeof CONFIGURATION_ERRORS;

const details = (code: string, findings: readonly Finding[]): ErrorDetail[] =>
  findings.slice(0, 20).map((f) => ({ code, message: `Setting '${f.path}' ${f.reason}.`, target: `/settings${f.path}` }));

/** Values that look like secrets: each named by its JSON Pointer, never shown. */
export const secretValueRefused = (findings: readonly Finding[]) =>
  new DomainError<Code>(
    'SecretValueRefused',
    `Configuration holds no secret values: setting '${findings[0]?.path}' ${findings[0]?.reason}` +
      `${findings.length > 1 ? ` (and ${findings.length - 1} more)` : ''}. Keep the secret in a secret binding and reference it as {"secretRef": "<binding name>"}.`,
    `/settings${findings[0]?.path ?? ''}`,
    details('SecretValue', findings),
  );

/** References to secret bindings that do not exist (or are not usable in the environment). */
export const unknownSecretBinding = (names: readonly string[]) =>
  new DomainError<Code>(
    'UnknownSecretBinding',
    `No secret binding usable in this environment is named ${names.slice(0, 20).map((n) => `'${n}'`).join(', ')}${names.length > 20 ? ` (and ${names.length - 20} more)` : ''}.`,
    '/settings',
    names.slice(0, 20).map((n) => ({ code: 'UnknownSecretBinding', message: `No secret binding '${n}'.`, target: n })),
  );

/** A write to an existing configuration without `If-Match`: it could overwrite a change it never saw. */
export const ifMatchRequired = () =>
  new DomainError(
    'PreconditionRequired',
    'The configuration exists: send If-Match with the ETag of the latest version you read (or * to publish over whatever is latest).',
    'If-Match',
  );
