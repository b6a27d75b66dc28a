/**
 * The local stack's TLS certificate: one self-signed certificate for `localhost`, `127.0.0.1` and
 * `::1`, made once and kept under `.local/certs/` so every start (and every process) trusts the same
 * one. There is no separate CA: the certificate is its own trust anchor and is marked `cA: false`,
 * so trusting it cannot make any other certificate valid.
 *
 * Processes the stack starts trust it through `NODE_EXTRA_CA_CERTS` (Node reads it once, at
 * process start); code in an already running process passes the PEM to its client instead (an
 * `https.Agent({ ca })`, or the Azure SDK's `tlsOptions: { ca }`). TLS verification is never
 * turned off.
 */
import { X509Certificate, randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { generate } from 'selfsigned';

/** A certificate and its key, as PEM, with the file that holds the certificate. */
export interface LocalCert {
  /** Certificate (PEM): what clients trust. */
  cert: string;
  /** Private key (PEM): only the stand-in servers read it. */
  key: string;
  /** Absolute path of the certificate's PEM file, the value for `NODE_EXTRA_CA_CERTS`. */
  certFile: string;
}

/** Options for {@link ensureLocalCert}. */
export interface EnsureLocalCertOptions {
  /** Renew when the certificate expires sooner than this. Default: 7 days. */
  renewBeforeInMs?: number;
}

const CERT_FILE = 'cert.pem';
const KEY_FILE = 'key.pem';
const VALIDITY_DAYS = 825;
const DAY_MS = 86_400_000;

/**
 * Returns the certificate kept in `dir` (default `.local/certs`), creating it when it is missing,
 * unreadable or about to expire. Safe to call from several processes at once: a new certificate is
 * written to a scratch directory and moved into place with one rename, and whoever loses the race
 * uses the winner's.
 */
export async function ensureLocalCert(dir = '.local/certs', options: EnsureLocalCertOptions = {}): Promise<LocalCert> {
  const target = resolve(dir);
  const renewBeforeInMs = options.renewBeforeInMs ?? 7 * DAY_MS;
  const existing = await readLocalCert(target);
  if (existing && expiresInMs(existing.cert) > renewBeforeInMs) return existing;
  if (existing) await rm(target, { recursive: true, force: true });

  const pems = await generate([{ name: 'commonName', value: 'localhost' }], {
    keyType: 'rsa',
    keySize: 2048,
    algorithm: 'sha256',
    notBeforeDate: new Date(Date.now() - DAY_MS),
    notAfterDate: new Date(Date.now() + VALIDITY_DAYS * DAY_MS),
    extensions: [
      { name: 'basicConstraints', cA: false, critical: true },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [
          { type: 2, value: 'localhost' },
          { type: 7, ip: '127.0.0.1' },
          { type: 7, ip: '::1' },
        ],
      },
    ],
  });

  const scratch = `${target}.${randomBytes(6).toString('hex')}.tmp`;
  await mkdir(scratch, { recursive: true });
  await writeFile(join(scratch, CERT_FILE), pems.cert);
  await writeFile(join(scratch, KEY_FILE), pems.private, { mode: 0o600 });
  await mkdir(dirname(target), { recursive: true });
  try {
    await rename(scratch, target);
  } catch {
    // Another process moved its certificate into place first: use that one. What is there
    // otherwise is broken (a hand-edited or half-deleted directory): replace it.
    const theirs = await readLocalCert(target);
    if (theirs) {
      await rm(scratch, { recursive: true, force: true });
      return theirs;
    }
    await rm(target, { recursive: true, force: true });
    await rename(scratch, target);
  }
  return { cert: pems.cert, key: pems.private, certFile: join(target, CERT_FILE) };
}

/** Reads the certificate in `dir`, or `undefined` when it is missing or not a valid certificate. */
export async function readLocalCert(dir = '.local/certs'): Promise<LocalCert | undefined> {
  const target = resolve(dir);
  try {
    const [cert, key] = await Promise.all([
      readFile(join(target, CERT_FILE), 'utf8'),
      readFile(join(target, KEY_FILE), 'utf8'),
    ]);
    new X509Certificate(cert);
    return { cert, key, certFile: join(target, CERT_FILE) };
  } catch {
    return undefined;
  }
}

function expiresInMs(certPem: string): number {
  return new Date(new X509Certificate(certPem).validTo).getTime() - Date.now();
}
