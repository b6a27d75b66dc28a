/** The secret detection rules and the references a scan collects (unit tests, no database). */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { diffSettings } from './diff.js';
import { ANYWHERE, canonicalJson, entropy, isHighEntropy, lastWord, scanSettings, secretPattern } from './scan.js';

const JWT = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZGEiLCJpYXQiOjE3MDAwMDAwMDB9.c2lnbmF0dXJlLXBhcnQtb2YtdGhlLWp3dA';
const PEM = '-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA0Z3VS5JJcds3xfn/ygWyF8PbnGy0AHB7MhgHcTz6sE2I2yPB\n-----END RSA PRIVATE KEY-----';

/** The paths a scan refuses as secrets. */
const refused = (settings: Record<string, unknown>) => scanSettings(settings).secrets.map((f) => f.path);

describe('secret detection', () => {
  it.each([
    ['a SQL connection string with a password', { db: { conn: 'Server=tcp:sql.example.net;Database=orders;User ID=app;Password=Sup3r-s3cret;' } }, '/db/conn'],
    ['a storage connection string with an account key', { storage: 'DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=q8Jv0b9G6pDk1xE2wZ+u7a==;EndpointSuffix=core.windows.net' }, '/storage'],
    ['a Service Bus connection string', { bus: 'Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=send;SharedAccessKey=abcdEFGH1234ijkl5678MNOP=' }, '/bus'],
    ['a SAS URL', { blob: 'https://acct.blob.core.windows.net/c?sv=2022-11-02&ss=b&sig=Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MA%3D' }, '/blob'],
    ['a PEM private key', { tls: { key: PEM } }, '/tls/key'],
    ['a JWT in a list', { tokens: ['a', JWT] }, '/tokens/1'],
    ['a bearer token', { headers: { Authorization: 'Bearer abc123DEF456ghi789' } }, '/headers/Authorization'],
    ['a URL with a password', { upstream: 'postgres://app:hunter22@db.internal:5432/orders' }, '/upstream'],
    ['a GitHub token', { ci: 'ghp_0123456789abcdefghijABCDEFGHIJ0123456789' }, '/ci'],
    ['a fine-grained GitHub token', { ci: 'github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz' }, '/ci'],
    ['an AWS access key id', { aws: 'AKIAIOSFODNN7EXAMPLE' }, '/aws'],
    ['any value under a password name', { smtp: { password: 'hunter2' } }, '/smtp/password'],
    ['a number under a password name', { dbPwd: 123456 }, '/dbPwd'],
    ['a high-entropy value under a key name', { apiKey: 'q8Jv0b9G6pDk1xE2wZu7aLm3' }, '/apiKey'],
    ['a hex token under a token name', { 'auth-token': '3f9a1c07d2b84e653f9a1c07d2b84e65' }, '/auth-token'],
    ['a client secret', { oauth: { client_secret: 'Xy7~kQ9.pR2_vT5-wZ8aB1cD' } }, '/oauth/client_secret'],
  ])('refuses %s, naming its path', (_what, settings, path) => {
    expect(refused(settings)).toEqual([path]);
  });

  it.each([
    ['plain settings', { logLevel: 'info', port: 8080, enabled: true, ratio: 0.5, nothing: null }],
    ['a secret reference under a password name', { db: { password: { secretRef: 'orders-db-password' } } }],
    ['a connection string without a secret (managed identity)', { db: 'Server=tcp:sql.example.net;Database=orders;Authentication=Active Directory Managed Identity' }],
    ['low-entropy values under key-ish names', { cacheKey: 'orders:by-customer', partitionKey: '/tenantId', keyVaultName: 'kv-orders-prod', tokenLifetime: '3600' }],
    ['an empty password', { password: '' }],
    ['words under a secret name', { secretName: 'orders-db-password', secret: 'see-the-runbook-for-this' }],
    ['a URL without a password', { endpoint: 'https://user@example.com:8443/path' }],
    ['an image digest', { image: 'sha256:3f9a1c07d2b84e653f9a1c07d2b84e653f9a1c07d2b84e653f9a1c07d2b84e65' }],
  ])('accepts %s', (_what, settings) => {
    expect(refused(settings)).toEqual([]);
    expect(scanSettings(settings).malformed).toEqual([]);
  });

  it('finds what the patterns alone find: the cheap hints tested first lose nothing', () => {
    // Values made of the pieces the patterns look for, in any order, and arbitrary text.
    const piece = fc.constantFrom(
      '-----BEGIN ', 'RSA ', 'PRIVATE KEY', '-----', 'eyJ', 'hbGci', '.', 'Bearer', ' ', '\t', 'password', 'Pwd', 'AccountKey', '=', ';', '?', '&',
      'sig=', 'https://', 'user', ':', 'p4ss', '@', 'host', 'ghp_', 'github_pat_', 'AKIA', 'xoxb-', 'sk_live_', 'AIza', 'A1b2C3d4E5f6G7h8I9j0', '0123456789abcdef',
    );
    const byPatterns = (v: string) => (v.length < 8 ? undefined : ANYWHERE.find((p) => p.re.test(v))?.what);
    fc.assert(
      fc.property(fc.oneof(fc.array(piece, { maxLength: 12 }).map((xs) => xs.join('')), fc.string({ maxLength: 80 })), (v) => {
        expect(secretPattern(v)).toBe(byPatterns(v));
      }),
      { numRuns: 5000 },
    );
  });

  it('refuses a setting name that is itself a secret, without naming it', () => {
    const r = scanSettings({ headers: { [JWT]: true } });
    expect(r.secrets).toEqual([{ path: '/headers', reason: 'a setting name here looks like a JWT' }]);
    expect(JSON.stringify(r)).not.toContain(JWT);
  });

  it('never puts a value in a finding', () => {
    const secret = 'Password=Sup3r-s3cret';
    const r = scanSettings({ a: `Server=x;${secret}`, b: { pass: 'p@ss' } });
    expect(r.secrets.map((f) => f.path)).toEqual(['/a', '/b/pass']);
    expect(JSON.stringify(r)).not.toMatch(/Sup3r|p@ss/);
  });

  it('splits names into words and measures entropy', () => {
    expect(['dbPassword', 'DB_PASSWORD', 'smtp.pass', 'ConnectionStrings:ApiKey', 'API_KEY', 'client-secret'].map(lastWord)).toEqual(['password', 'password', 'pass', 'key', 'key', 'secret']);
    expect(entropy('aaaa')).toBe(0);
    expect(entropy('abcd')).toBe(2);
    expect(isHighEntropy('my-service-key-name')).toBe(false);
    expect(isHighEntropy('abc123abc123abc123')).toBe(false);
    expect(isHighEntropy('q8Jv0b9G6pDk1xE2')).toBe(true);
  });
});

describe('references and shape', () => {
  it('collects secret references and service ids, and counts settings', () => {
    const r = scanSettings(
      {
        db: { password: { secretRef: 'db-pass' }, replica: { password: { secretRef: 'db-pass' } } },
        upstream: 'svc_0123456789abcdef',
        self: 'svc_ffffffffffffffff',
        list: [1, 2, { secretRef: 'api-key' }],
      },
      'svc_ffffffffffffffff',
    );
    expect(r.secretRefs).toEqual(['api-key', 'db-pass']);
    expect(r.serviceRefs).toEqual(['svc_0123456789abcdef']);
    expect(r.settingCount).toBe(7);
  });

  it('refuses malformed references and setting names', () => {
    expect(scanSettings({ a: { secretRef: 'Not A Name' } }).malformed.map((m) => m.path)).toEqual(['/a']);
    expect(scanSettings({ a: { secretRef: 'ok', version: '1' } }).malformed.map((m) => m.path)).toEqual(['/a']);
    expect(scanSettings({ a: { 'b/c': 1 } }).malformed.map((m) => m.path)).toEqual(['/a']);
    expect(scanSettings({ '': 1 }).malformed.map((m) => m.path)).toEqual(['/']);
  });

  it('writes content, not key order', () => {
    expect(canonicalJson({ a: 1, b: { c: [1, 2], d: null } })).toBe(canonicalJson({ b: { d: null, c: [1, 2] }, a: 1 }));
    expect(canonicalJson({ a: 1 })).not.toBe(canonicalJson({ a: '1' }));
    expect(canonicalJson(JSON.parse('{"__proto__": {"a": 1}}'))).not.toBe(canonicalJson({}));
    expect(canonicalJson({ b: 1, a: [{ d: 1, c: 2 }] })).toBe('{"a":[{"c":2,"d":1}],"b":1}');
  });

  it('writes the same canonical text (so the same hashes) as the first, replacer-based version', () => {
    // The diff compares values by this text: a rewrite must not change what counts as equal.
    const byReplacer = (v: unknown) =>
      JSON.stringify(v, (_key, x: unknown) => {
        if (x === null || typeof x !== 'object' || Array.isArray(x)) return x;
        const sorted = Object.create(null) as Record<string, unknown>;
        for (const k of Object.keys(x).sort()) sorted[k] = (x as Record<string, unknown>)[k];
        return sorted;
      });
    fc.assert(
      fc.property(fc.oneof(fc.jsonValue(), fc.jsonValue({ stringUnit: 'binary' }), fc.jsonValue({ stringUnit: fc.constantFrom('a', '"', '\\', '\n', '\u0000', '\u001f', '\ud800', '\udc00', '\u2028', 'é', '9', '0') })), (v) => {
        const parsed: unknown = JSON.parse(JSON.stringify(v));
        expect(canonicalJson(parsed)).toBe(byReplacer(parsed));
      }),
      { numRuns: 1500 },
    );
    expect(canonicalJson(JSON.parse('{"b":1,"10":2,"9":3,"__proto__":{"a":1}}'))).toBe(byReplacer(JSON.parse('{"b":1,"10":2,"9":3,"__proto__":{"a":1}}')));
  });

  it('finds the last word of any name as splitting the whole name into words does', () => {
    const bySplitting = (name: string) =>
      (
        name
          .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
          .split(/[\s_.:$-]+/)
          .filter(Boolean)
          .at(-1) ?? ''
      ).toLowerCase();
    const part = fc.constantFrom('db', 'Password', 'API', 'KEY', '_', '-', '.', ':', '$', ' ', '9', 'x', 'Z', 'secret', 'Token', '');
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.array(part, { maxLength: 8 }).map((xs) => xs.join(''))), (name) => {
        expect(lastWord(name)).toBe(bySplitting(name));
      }),
      { numRuns: 2000 },
    );
  });
});

describe('diff', () => {
  it('lists added, removed and changed settings as JSON Pointers; arrays compare whole', () => {
    const d = diffSettings(
      { logLevel: 'info', db: { host: 'a', port: 5432, password: { secretRef: 'old' } }, hosts: ['a', 'b'], gone: 1 },
      { logLevel: 'debug', db: { host: 'a', port: 5432, password: { secretRef: 'new' }, pool: 10 }, hosts: ['a', 'c'], 'a/b': true },
    );
    expect(d).toEqual({
      added: [{ path: '/a~1b', value: true }, { path: '/db/pool', value: 10 }],
      removed: [{ path: '/gone', value: 1 }],
      changed: [
        { path: '/db/password/secretRef', from: 'old', to: 'new' },
        { path: '/hosts', from: ['a', 'b'], to: ['a', 'c'] },
        { path: '/logLevel', from: 'info', to: 'debug' },
      ],
    });
    expect(diffSettings({ a: { b: 1 } }, { a: { b: 1 } })).toEqual({ added: [], removed: [], changed: [] });
    expect(diffSettings({ a: { b: 1 } }, { a: 2 }).changed).toEqual([{ path: '/a', from: { b: 1 }, to: 2 }]);
  });
});
