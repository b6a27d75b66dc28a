/**
 * Before any test file runs: the local stand-ins' TLS certificate (the one `npm start` uses, kept
 * in `.local/certs`), trusted by every test worker through `NODE_EXTRA_CA_CERTS`, which Node reads
 * once at process start — so it is set here, in the main process, before the workers are forked.
 * `startTestApp` serves its Key Vault stand-in with this certificate, and the app's own
 * `SecretClient` trusts it exactly as it does under `npm start`: no TLS option in the app's code.
 */
import { join } from 'node:path';
import { ensureLocalCert } from '../emulator/certs.js';

export default async function setup(): Promise<void> {
  const cert = await ensureLocalCert(join(process.cwd(), '.local', 'certs'));
  process.env.NODE_EXTRA_CA_CERTS = cert.certFile;
  process.env.TEST_LOCAL_CERT_DIR = join(process.cwd(), '.local', 'certs');
}
