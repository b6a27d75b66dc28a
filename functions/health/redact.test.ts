import { describe, expect, it } from 'vitest';
import { REDACTED } from '../../shared/telemetry-scrub.js';
import { redact } from './redact.js';

describe('redact', () => {
  it('takes bearer and basic credentials, JWTs, URL credentials and secret-named pairs out', () => {
    const jwt = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abcDEF123_-';
    const cases: [string, string][] = [
      [`Authorization: Bearer ${jwt}`, `Authorization: Bearer ${REDACTED}`],
      ['authorization: basic dXNlcjpwYXNz', `authorization: basic ${REDACTED}`],
      [`token in body ${jwt} end`, `token in body ${REDACTED} end`],
      ['Server=db;User ID=app;Password=p@ss;Encrypt=true', `Server=db;User ID=app;Password=${REDACTED};Encrypt=true`],
      ['DefaultEndpointsProtocol=https;AccountName=a;AccountKey=Zm9vYmFy==;EndpointSuffix=core', `DefaultEndpointsProtocol=https;AccountName=a;AccountKey=${REDACTED};EndpointSuffix=core`],
      ['Endpoint=sb://x/;SharedAccessKeyName=root;SharedAccessKey=abc123=', `Endpoint=sb://x/;SharedAccessKeyName=root;SharedAccessKey=${REDACTED}`],
      ['https://a.blob.core.windows.net/c/b?sv=2024&sig=abc%2Bdef&se=1', `https://a.blob.core.windows.net/c/b?sv=2024&sig=${REDACTED}&se=1`],
      ['postgres://app:s3cret@db:5432/x', `postgres://app:${REDACTED}@db:5432/x`],
      ['{"client_secret": "shh", "ok": 1}', `{"client_secret": "${REDACTED}", "ok": 1}`],
      ['login failed, password: hunter2 (user app)', `login failed, password: ${REDACTED} (user app)`],
    ];
    for (const [input, expected] of cases) expect(redact(input), input).toBe(expected);
  });

  it('leaves ordinary failure text alone', () => {
    for (const s of ['connect ETIMEDOUT 10.0.0.5:5432', 'HTTP 503 from /healthz after 5003 ms', 'disk 97% full on /var', 'password policy check passed']) {
      expect(redact(s)).toBe(s);
    }
  });
});
