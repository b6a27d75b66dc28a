/**
 * A local stand-in for Cosmos DB (NoSQL API): `@vercel/cosmosdb-server`, an in-process HTTPS
 * server that the real `@azure/cosmos` 4.x client talks to. It serves the stack's own
 * certificate instead of the one bundled with the package.
 *
 * What it does and does not do (see docs/local-stack.md): databases, containers (their
 * `defaultTtl` is stored and returned), items, parameterised SQL queries, ETags (`IfMatch` with a
 * stale ETag gets 412). It does NOT expire items by TTL, and it keeps everything in memory: its
 * data is gone when the stack stops, and the stack creates the database again on every start.
 */
import { createHttpsServer } from '@vercel/cosmosdb-server';
import type { Server } from 'node:https';

/** The Cosmos DB emulator's well-known account key (public, local use only). */
export const COSMOS_EMULATOR_KEY = 'C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw==';

/** Options for {@link startCosmos}. */
export interface CosmosServerOptions {
  /** TLS certificate and key (PEM). */
  tls: { cert: string; key: string };
  /** Default `127.0.0.1`. */
  host?: string;
  /** Default 0 (any free port). */
  port?: number;
}

/** A running Cosmos DB stand-in. */
export interface CosmosServer {
  /** Account endpoint, e.g. `https://127.0.0.1:8081/`. */
  endpoint: string;
  port: number;
  /** The key to give `CosmosClient` (the stand-in accepts any). */
  key: string;
  stop(): Promise<void>;
}

/** Starts the Cosmos DB stand-in. Rejects with the listen error (e.g. `EADDRINUSE`). */
export async function startCosmos(options: CosmosServerOptions): Promise<CosmosServer> {
  const host = options.host ?? '127.0.0.1';
  const server: Server = createHttpsServer({
    cert: options.tls.cert,
    key: options.tls.key,
    minVersion: 'TLSv1.2',
    // Answer with keep-alive instead of `connection: close`, so clients reuse TLS connections.
    keepAlive: true,
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const urlHost = host.includes(':') ? `[${host}]` : host;
  return {
    // The server advertises the address it listens on as the account's read/write location, so
    // the endpoint uses the same host for the SDK's endpoint discovery to agree with it.
    endpoint: `https://${urlHost}:${port}/`,
    port,
    key: COSMOS_EMULATOR_KEY,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
