/**
 * The Key Vault stand-in's state: secrets, each with its versions (oldest first, the last one
 * current) and its soft-delete record. Names are case-insensitive, as in Key Vault. Every change is
 * written through to the state file when there is one (the whole state, mode 0600, replaced
 * atomically); deleted secrets past their purge date disappear when next touched. Secret values
 * are never logged.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { badParameter, deletedConflict, deletedNotFound, notFound, RECOVERABLE_DAYS, VaultError, type SetInput, type UpdateInput } from './wire.js';

/** One version of a secret. Times are Unix seconds. */
export interface StoredVersion {
  version: string;
  value: string;
  contentType?: string;
  tags?: Record<string, string>;
  enabled: boolean;
  nbf?: number;
  exp?: number;
  created: number;
  updated: number;
}

/** A secret: its versions and, once soft-deleted, when it was deleted and when it is purged. */
export interface StoredSecret {
  name: string;
  /** Oldest first; the last one is the current version. */
  versions: StoredVersion[];
  deleted?: { deletedDate: number; scheduledPurgeDate: number };
}

/** What the state file holds. */
export interface VaultState {
  /** Keyed by lower-case name: Key Vault names are case-insensitive. */
  secrets: Record<string, StoredSecret>;
}

/** The vault's secrets, with every change written through to the state file (if any). */
export class VaultStore {
  private writing: Promise<void> = Promise.resolve();

  private constructor(
    private readonly state: VaultState,
    private readonly file: string | undefined,
  ) {}

  static async open(file: string | undefined): Promise<VaultStore> {
    if (!file) return new VaultStore({ secrets: {} }, undefined);
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return new VaultStore({ secrets: {} }, file);
      throw error;
    }
    let state: VaultState;
    try {
      state = JSON.parse(text) as VaultState;
      if (typeof state.secrets !== 'object' || state.secrets === null) throw new Error('no "secrets" object');
    } catch (error) {
      throw new Error(`Key Vault stand-in: cannot read its state file ${file} (${(error as Error).message}); wipe local state to start over`);
    }
    return new VaultStore(state, file);
  }

  active(): StoredSecret[] {
    return this.all().filter((s) => !s.deleted);
  }

  deleted(): StoredSecret[] {
    return this.all().filter((s) => s.deleted);
  }

  getActive(name: string): StoredSecret {
    const secret = this.find(name);
    if (!secret || secret.deleted) throw notFound(name);
    return secret;
  }

  getDeleted(name: string): StoredSecret {
    const secret = this.find(name);
    if (!secret?.deleted) throw deletedNotFound(name);
    return secret;
  }

  async set(name: string, input: SetInput): Promise<StoredSecret> {
    const existing = this.find(name);
    if (existing?.deleted) throw deletedConflict(name);
    const now = nowSeconds();
    const secret = existing ?? { name, versions: [] };
    secret.versions.push({
      version: randomUUID().replaceAll('-', ''),
      value: input.value,
      contentType: input.contentType,
      tags: input.tags,
      enabled: input.enabled ?? true,
      nbf: input.nbf,
      exp: input.exp,
      created: now,
      updated: now,
    });
    this.state.secrets[name.toLowerCase()] = secret;
    await this.save();
    return secret;
  }

  async update(version: StoredVersion, input: UpdateInput): Promise<void> {
    if (input.contentType !== undefined) version.contentType = input.contentType;
    if (input.tags !== undefined) version.tags = input.tags;
    if (input.enabled !== undefined) version.enabled = input.enabled;
    if (input.nbf !== undefined) version.nbf = input.nbf ?? undefined;
    if (input.exp !== undefined) version.exp = input.exp ?? undefined;
    version.updated = nowSeconds();
    await this.save();
  }

  async delete(name: string): Promise<StoredSecret> {
    const secret = this.getActive(name);
    const now = nowSeconds();
    secret.deleted = { deletedDate: now, scheduledPurgeDate: now + RECOVERABLE_DAYS * 86_400 };
    await this.save();
    return secret;
  }

  async purge(name: string): Promise<void> {
    const secret = this.getDeleted(name);
    delete this.state.secrets[secret.name.toLowerCase()];
    await this.save();
  }

  async recover(name: string): Promise<StoredSecret> {
    const secret = this.getDeleted(name);
    delete secret.deleted;
    await this.save();
    return secret;
  }

  /** An opaque backup blob (base64url); only this stand-in can restore it. */
  backup(name: string): string {
    const secret = this.getActive(name);
    return Buffer.from(JSON.stringify({ kind: 'local-keyvault-backup/1', secret }), 'utf8').toString('base64url');
  }

  /** Restores a secret from a {@link backup} blob. */
  async restore(blob: string): Promise<StoredSecret> {
    let secret: StoredSecret;
    try {
      const parsed = JSON.parse(Buffer.from(blob, 'base64url').toString('utf8')) as { kind?: string; secret?: StoredSecret };
      if (parsed.kind !== 'local-keyvault-backup/1' || !parsed.secret) throw new Error('bad blob');
      secret = parsed.secret;
    } catch {
      throw badParameter('The backup blob is not valid.');
    }
    const existing = this.find(secret.name);
    if (existing?.deleted) throw deletedConflict(secret.name);
    if (existing) throw new VaultError(409, 'Conflict', `Secret ${secret.name} already exists.`);
    delete secret.deleted;
    this.state.secrets[secret.name.toLowerCase()] = secret;
    await this.save();
    return secret;
  }

  /** Resolves when every change so far is on disk. */
  flush(): Promise<void> {
    return this.writing;
  }

  private find(name: string): StoredSecret | undefined {
    const secret = this.state.secrets[name.toLowerCase()];
    // Deleted secrets past their purge date are gone, as Key Vault's own purge would make them.
    if (secret?.deleted && secret.deleted.scheduledPurgeDate <= nowSeconds()) {
      delete this.state.secrets[name.toLowerCase()];
      return undefined;
    }
    return secret;
  }

  private all(): StoredSecret[] {
    return Object.keys(this.state.secrets)
      .sort()
      .map((key) => this.find(key))
      .filter((s): s is StoredSecret => s !== undefined);
  }

  /** Writes the whole state (small) to a scratch file and renames it over the old one. */
  private save(): Promise<void> {
    const file = this.file;
    if (!file) return Promise.resolve();
    const text = JSON.stringify(this.state);
    this.writing = this.writing.then(async () => {
      await mkdir(dirname(file), { recursive: true });
      const scratch = `${file}.${randomBytes(4).toString('hex')}.tmp`;
      await writeFile(scratch, text, { mode: 0o600 });
      await rename(scratch, file);
    });
    return this.writing;
  }
}

function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}
