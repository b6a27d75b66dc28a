/** Custom events of the secrets service that alert rules query (infra/src/alerts.ts). */
export const SECRET_ROTATION_FAILED = 'SecretRotationFailed';
