/**
 * Azure SDK clients, each built once and lazily from settings. In Azure they authenticate with
 * `DefaultAzureCredential` (managed identity); connection strings and keys are accepted only for
 * the local stand-ins. Handlers never construct clients: they get them from the kernel.
 */
import type { TokenCredential } from '@azure/identity';
import type { BlobServiceClient } from '@azure/storage-blob';
import type { QueueClient } from '@azure/storage-queue';
import type { CosmosClient } from '@azure/cosmos';
import type { HttpClient } from '@azure/core-rest-pipeline';
import type { SecretClient } from '@azure/keyvault-secrets';
import type { Settings } from './settings.js';
import type { CloudEvent, EventSink } from './events/outbox.js';
import { traceHttpCall } from './tracing.js';

/**
 * A credential for the local stand-ins, which do not verify tokens. Used only when not in Azure and
 * the endpoint is on the loopback interface.
 */
const localCredential: TokenCredential = {
  getToken: async () => ({ token: 'local-stand-in', expiresOnTimestamp: Date.now() + 3_600_000 }),
};

const isLoopback = (url: string | undefined): boolean =>
  !!url && ['localhost', '127.0.0.1', '[::1]'].includes(new URL(url).hostname);

/**
 * The Cosmos DB client's HTTP client, each request a dependency of the invocation making it
 * (shared/tracing.ts): `@azure/cosmos` 4.x creates no spans itself, unlike the other Azure SDKs.
 */
async function tracedCosmosHttpClient(): Promise<HttpClient> {
  const { createDefaultHttpClient } = await import('@azure/core-rest-pipeline');
  const inner = createDefaultHttpClient();
  return {
    sendRequest: (request) =>
      traceHttpCall({ method: request.method, url: request.url, namespace: 'Microsoft.DocumentDB' }, () => inner.sendRequest(request), (r) => r.status),
  };
}

/** Lazily built SDK clients. SDK modules are imported on first use to keep cold start light. */
export class AzureClients {
  private cache = new Map<string, Promise<unknown>>();
  private credential: TokenCredential | undefined;

  constructor(private readonly settings: Settings) {}

  /** `DefaultAzureCredential`, built once. */
  async azureCredential(): Promise<TokenCredential> {
    if (!this.credential) {
      const { DefaultAzureCredential } = await import('@azure/identity');
      this.credential = new DefaultAzureCredential();
    }
    return this.credential;
  }

  /** Blob service (deployment artifacts). */
  blob(): Promise<BlobServiceClient> {
    return this.once('blob', async () => {
      const { BlobServiceClient } = await import('@azure/storage-blob');
      const s = this.settings.storage;
      // A request waits for Blob storage a few seconds at most, then answers 503 (the client retries),
      // instead of the SDK's default of four tries over two minutes.
      const options = { retryOptions: { maxTries: 3, retryDelayInMs: 300, maxRetryDelayInMs: 3000, tryTimeoutInMs: 60_000 } };
      if (s.connectionString) return BlobServiceClient.fromConnectionString(s.connectionString, options);
      if (!s.blobUrl) throw new Error('STORAGE_BLOB_URL is not set');
      return new BlobServiceClient(s.blobUrl, await this.azureCredential(), options);
    });
  }

  /** The events queue. */
  eventsQueue(): Promise<QueueClient> {
    return this.once('queue', async () => {
      const { QueueServiceClient } = await import('@azure/storage-queue');
      const s = this.settings.storage;
      const svc = s.connectionString
        ? QueueServiceClient.fromConnectionString(s.connectionString)
        : new QueueServiceClient(s.queueUrl ?? '', await this.azureCredential());
      return svc.getQueueClient(s.eventsQueue);
    });
  }

  /** Cosmos DB (drift snapshots). */
  cosmos(): Promise<CosmosClient> {
    return this.once('cosmos', async () => {
      const { CosmosClient } = await import('@azure/cosmos');
      const c = this.settings.cosmos;
      if (!c.endpoint) throw new Error('COSMOS_ENDPOINT is not set');
      const httpClient = await tracedCosmosHttpClient();
      if (c.key && !this.settings.inAzure) return new CosmosClient({ endpoint: c.endpoint, key: c.key, httpClient });
      return new CosmosClient({ endpoint: c.endpoint, aadCredentials: await this.azureCredential(), httpClient });
    });
  }

  /** Key Vault secrets (secret material; the app never logs or stores values). */
  secrets(): Promise<SecretClient> {
    return this.once('secrets', async () => {
      const { SecretClient } = await import('@azure/keyvault-secrets');
      const url = this.settings.keyVault.url;
      if (!url) throw new Error('KEYVAULT_URL is not set');
      const local = !this.settings.inAzure && isLoopback(url);
      return new SecretClient(url, local ? localCredential : await this.azureCredential(), {
        disableChallengeResourceVerification: local,
      });
    });
  }

  /** The events queue as an {@link EventSink}: CloudEvents JSON, base64 as Functions queue triggers expect. */
  eventSink(): EventSink {
    return {
      send: async (event: CloudEvent) => {
        const q = await this.eventsQueue();
        await q.sendMessage(Buffer.from(JSON.stringify(event), 'utf8').toString('base64'));
      },
    };
  }

  private once<T>(key: string, build: () => Promise<T>): Promise<T> {
    let p = this.cache.get(key) as Promise<T> | undefined;
    if (!p) {
      p = build();
      p.catch(() => this.cache.delete(key));
      this.cache.set(key, p);
    }
    return p;
  }
}
