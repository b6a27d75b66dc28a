/**
 * Artifacts and logs in Blob storage (the kernel's `BlobServiceClient`: managed identity in Azure,
 * Azurite locally), under `<tenantId>/<deploymentId>/…` in the `ARTIFACTS_CONTAINER` container,
 * each blob tagged (blob index tags) with its tenant and deployment.
 *
 * A whole write up to {@link SINGLE_PUT_BYTES} is one Put Blob with the request body piped straight
 * through (what a raw `BlockBlobClient` upload of a buffer does, without holding the buffer);
 * larger ones, and appends, are block lists: the body is read as a stream and staged in blocks of
 * {@link BLOCK_BYTES} (a few in flight at once, so memory stays bounded whatever the size), and
 * committed only once every byte the client declared has been staged. A failed or short upload
 * commits nothing.
 * Appending to a log stages the new blocks and commits the blob's committed list plus them,
 * conditional on the blob's ETag (retried when another append came first), so a reader never sees
 * half an append. Every upload of a whole artifact goes to a new blob name; the caller points its
 * record at it after the commit and deletes the old one, so no record ever names a missing blob.
 *
 * Failures of the store surface as `UnavailableError` (503 with Retry-After).
 */
import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import type { BlobServiceClient, BlockBlobClient, ContainerClient } from '@azure/storage-blob';
import { UnavailableError } from '../../shared/errors.js';

/** Staged block size: Azure's sweet spot for throughput; at most {@link IN_FLIGHT} buffered at once. */
export const BLOCK_BYTES = 4 * 1024 * 1024;
const IN_FLIGHT = 4;
/** How long a download link is valid. */
export const LINK_TTL_MS = 15 * 60 * 1000;

/** A body as the handler gets it. */
export type BodyStream = ReadableStream<Uint8Array> | AsyncIterable<Uint8Array>;

/** The client declared `declared` bytes and sent `received`: nothing was committed. */
export class ShortBodyError extends Error {
  override name = 'ShortBodyError';
  constructor(
    readonly declared: number,
    readonly received: number,
  ) {
    super(`The body has ${received} bytes; Content-Length said ${declared}.`);
  }
}

/** What the deployments service asks of Blob storage. */
export interface ArtifactBlobs {
  /** Writes a new blob from `body` (exactly `length` bytes). */
  write(blobName: string, body: BodyStream, length: number, contentType: string, tags: Record<string, string>): Promise<{ bytes: number }>;
  /** Appends `body` to an existing blob; answers its new size. */
  append(blobName: string, body: BodyStream, length: number): Promise<{ bytes: number }>;
  /** The blob's bytes as a stream, whatever its access tier. */
  read(blobName: string): Promise<{ body: AsyncIterable<Uint8Array>; length: number }>;
  /** A short-lived read-only URL of the blob. */
  link(blobName: string, now: Date): Promise<{ url: string; expiresOn: Date }>;
  /** Deletes one blob, if it exists. */
  delete(blobName: string): Promise<void>;
  /** Deletes every blob under `prefix`; answers how many. */
  deletePrefix(prefix: string): Promise<number>;
  /** The blob's access tier and tags (for tests and operations). */
  describe(blobName: string): Promise<{ tier: string | undefined; tags: Record<string, string> }>;
}

/** The blob name prefix of one deployment. */
export const deploymentPrefix = (tenantId: string, deploymentId: string) => `${tenantId}/${deploymentId}/`;

const unavailable = (e: unknown): Error => {
  if (e instanceof ShortBodyError || e instanceof UnavailableError) return e;
  return new UnavailableError('Blob storage is unavailable; retry later.', 5);
};

async function guard<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw unavailable(e);
  }
}

function toAsyncIterable(body: BodyStream): AsyncIterable<Uint8Array> {
  return Symbol.asyncIterator in body ? (body as AsyncIterable<Uint8Array>) : Readable.fromWeb(body as WebReadableStream<Uint8Array>);
}

/** Whole writes up to this size are one streamed Put Blob (the SDK's own single-shot limit); larger ones staged blocks. */
export const SINGLE_PUT_BYTES = 256 * 1024 * 1024;
const COALESCE_BYTES = 1024 * 1024;

/**
 * `body` as a Node stream that counts what passes; when it is not exactly `length` bytes it ends
 * early and aborts `abort` (the request to Blob storage), so nothing is written.
 */
function counted(body: BodyStream, length: number, counter: { received: number }, abort: AbortController): Readable {
  return Readable.from(
    (async function* () {
      // Socket-sized pieces are gathered into writes of up to COALESCE_BYTES: fewer, larger writes
      // to the outgoing request, memory still bounded.
      let pending: Uint8Array[] = [];
      let size = 0;
      for await (const piece of toAsyncIterable(body)) {
        counter.received += piece.byteLength;
        if (counter.received > length) break;
        pending.push(piece);
        size += piece.byteLength;
        if (size >= COALESCE_BYTES) {
          yield Buffer.concat(pending, size);
          pending = [];
          size = 0;
        }
      }
      if (counter.received !== length) abort.abort();
      else if (size > 0) yield Buffer.concat(pending, size);
    })(),
    { objectMode: false },
  );
}

/** Block ids of one write: equal length (Azure requires it within a blob), unique. */
function blockIds(): () => string {
  const prefix = randomUUID().replace(/-/g, '');
  let n = 0;
  return () => Buffer.from(`${prefix}${String(n++).padStart(8, '0')}`).toString('base64');
}

/**
 * Stages `body` on `blob` in blocks, a bounded number in flight; answers the ids in order. Throws
 * {@link ShortBodyError} when the stream holds other than `length` bytes.
 */
async function stage(blob: BlockBlobClient, body: BodyStream, length: number): Promise<string[]> {
  const nextId = blockIds();
  const ids: string[] = [];
  const pending = new Set<Promise<void>>();
  let failure: unknown;
  let received = 0;
  let buf = Buffer.allocUnsafe(Math.min(BLOCK_BYTES, Math.max(length, 1)));
  let fill = 0;
  const flush = async () => {
    if (fill === 0) return;
    const id = nextId();
    ids.push(id);
    const chunk = buf.subarray(0, fill);
    buf = Buffer.allocUnsafe(BLOCK_BYTES);
    fill = 0;
    const p = blob.stageBlock(id, chunk, chunk.length).then(
      () => void pending.delete(p),
      (e: unknown) => {
        pending.delete(p);
        failure ??= e;
      },
    );
    pending.add(p);
    while (pending.size >= IN_FLIGHT) await Promise.race(pending);
    if (failure) throw unavailable(failure);
  };
  for await (const piece of toAsyncIterable(body)) {
    let off = 0;
    received += piece.byteLength;
    if (received > length) break;
    while (off < piece.byteLength) {
      const n = Math.min(piece.byteLength - off, buf.length - fill);
      buf.set(piece.subarray(off, off + n), fill);
      fill += n;
      off += n;
      if (fill === buf.length) await flush();
    }
  }
  await flush();
  await Promise.all(pending);
  if (failure) throw unavailable(failure);
  if (received !== length) throw new ShortBodyError(length, received);
  return ids;
}

/** The Blob adapter over the kernel's client. */
export function blobArtifacts(client: () => Promise<BlobServiceClient>, containerName: string): ArtifactBlobs {
  const container = async (): Promise<ContainerClient> => {
    try {
      return (await client()).getContainerClient(containerName);
    } catch (e) {
      throw unavailable(e);
    }
  };
  const block = async (name: string) => (await container()).getBlockBlobClient(name);

  return {
    async write(name, body, length, contentType, tags) {
      const blob = await block(name);
      const options = { blobHTTPHeaders: { blobContentType: contentType }, tags };
      if (length > SINGLE_PUT_BYTES) {
        const ids = await guard(() => stage(blob, body, length));
        await guard(() => blob.commitBlockList(ids, options));
        return { bytes: length };
      }
      // Up to SINGLE_PUT_BYTES: one Put Blob, the request body piped straight through (atomic: the
      // blob exists whole or not at all; a short body fails the request).
      const counter = { received: 0 };
      const abort = new AbortController();
      try {
        await blob.upload(() => counted(body, length, counter, abort), length, { ...options, abortSignal: abort.signal });
      } catch (e) {
        if (counter.received !== length) throw new ShortBodyError(length, counter.received);
        throw unavailable(e);
      }
      return { bytes: length };
    },

    async append(name, body, length) {
      const blob = await block(name);
      const ids = await guard(() => stage(blob, body, length));
      for (let attempt = 0; ; attempt++) {
        const list = await guard(() => blob.getBlockList('committed'));
        let committed = (list.committedBlocks ?? []).map((b) => b.name);
        let before = (list.committedBlocks ?? []).reduce((n, b) => n + b.size, 0);
        if (committed.length === 0) {
          // Written whole by one Put Blob, which leaves no block list: its bytes become blocks first
          // (streamed, once), so the commit below keeps them.
          const current = await guard(() => blob.download(0));
          before = current.contentLength ?? 0;
          if (before > 0) committed = await guard(() => stage(blob, current.readableStreamBody as unknown as AsyncIterable<Uint8Array>, before));
        }
        try {
          await blob.commitBlockList([...committed, ...ids], { conditions: { ifMatch: list.etag ?? '*' } });
          return { bytes: before + length };
        } catch (e) {
          // Another append committed first: commit again on top of it (our blocks stay staged).
          if ((e as { statusCode?: number }).statusCode === 412 && attempt < 5) continue;
          throw unavailable(e);
        }
      }
    },

    async read(name) {
      const blob = await block(name);
      const res = await guard(() => blob.download(0));
      const body = res.readableStreamBody;
      if (!body) throw new UnavailableError('Blob storage answered without a body; retry later.', 5);
      return { body: body as unknown as AsyncIterable<Uint8Array>, length: res.contentLength ?? 0 };
    },

    async link(name, now) {
      const blob = await block(name);
      const expiresOn = new Date(now.getTime() + LINK_TTL_MS);
      const startsOn = new Date(now.getTime() - 5 * 60 * 1000);
      const { BlobSASPermissions, StorageSharedKeyCredential } = await import('@azure/storage-blob');
      const options = { permissions: BlobSASPermissions.parse('r'), startsOn, expiresOn };
      // Azurite (a connection string with the account key, local only): a service SAS signed with
      // the key, as Azurite serves user-delegation keys only with OAuth enabled. In Azure
      // (managed identity, no key): a user-delegation SAS, signed with a key Entra ID vouches for.
      if (blob.credential instanceof StorageSharedKeyCredential) return { url: await guard(() => blob.generateSasUrl(options)), expiresOn };
      const service = await client();
      const key = await guard(() => service.getUserDelegationKey(startsOn, expiresOn));
      return { url: await guard(() => blob.generateUserDelegationSasUrl(options, key)), expiresOn };
    },

    async delete(name) {
      await guard(async () => void (await (await block(name)).deleteIfExists()));
    },

    async deletePrefix(prefix) {
      const c = await container();
      let n = 0;
      await guard(async () => {
        for await (const b of c.listBlobsFlat({ prefix })) {
          await c.deleteBlob(b.name, { deleteSnapshots: 'include' }).catch((e: { statusCode?: number }) => {
            if (e.statusCode !== 404) throw e;
          });
          n++;
        }
      });
      return n;
    },

    async describe(name) {
      const blob = await block(name);
      const [props, tags] = await guard(() => Promise.all([blob.getProperties(), blob.getTags()]));
      return { tier: props.accessTier, tags: tags.tags };
    },
  };
}
