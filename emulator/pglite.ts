/**
 * Embedded PostgreSQL for the local stack and tests: PGlite (PostgreSQL compiled to WASM, in this
 * process) served over the PostgreSQL wire protocol on a TCP port, so the app always talks to it
 * through `pg`, exactly as it talks to Azure Database for PostgreSQL.
 *
 * PGlite is ONE backend session. Many client connections share it through a session lock: a
 * connection takes the session with its first message and keeps it until the backend says it is
 * idle again (`ReadyForQuery` with status `I`), i.e. for a whole extended-protocol batch
 * (Parse/Bind/Execute/.../Sync) or a whole transaction. So transactions from different
 * connections run one after another and never see each other's uncommitted rows.
 *
 * Why not `@electric-sql/pglite-socket`'s `PGLiteSocketServer`: its multiplexer hands the session
 * over per message and only keeps a connection's affinity while a transaction block is open, so
 * two connections' extended-protocol batches interleave as soon as a message arrives in more than
 * one TCP chunk (e.g. a large parameter): one client's Bind then runs against another's Parse
 * ("bind message supplies 2 parameters, but prepared statement "" requires 1"). Reported upstream
 * as electric-sql/pglite#1046; reproduced here with `pg` and 300 kB parameters.
 *
 * What differs from a PostgreSQL server (see docs/local-stack.md):
 * - a connection that sits idle inside a transaction blocks every other connection until it ends;
 * - session state is shared: `SET` (without LOCAL), session advisory locks, temp tables and named
 *   prepared statements are visible to every connection. Use `set_config(..., true)`/`SET LOCAL`
 *   and `pg_advisory_xact_lock`, which the app does anyway;
 * - query cancellation is ignored; authentication is not checked (any user name is accepted).
 */
import { PGlite } from '@electric-sql/pglite';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Options for {@link startPglite}. */
export interface StartPgliteOptions {
  /** Data directory (persistent). Omitted: in memory, gone when stopped. */
  dataDir?: string;
  /**
   * A directory where a freshly initialised data directory is kept (a tar file per PGlite
   * version) and loaded instead of running initdb again: ~0.5 s instead of 3-6 s. In-memory
   * databases only (unpacking into a data directory on disk is no faster than initdb).
   */
  templateCacheDir?: string;
  /** Default `127.0.0.1`. */
  host?: string;
  /** Default 0 (any free port). */
  port?: number;
  /** Most client connections at once. Default 64. */
  maxConnections?: number;
  /** Diagnostics (slow waits for the session); never query text or parameters. */
  log?: (line: string) => void;
}

/** A running embedded database. */
export interface PgliteServer {
  /** `postgres://postgres@127.0.0.1:<port>/postgres` */
  connectionString: string;
  port: number;
  /** The embedded database itself, for in-process use (it shares the one session). */
  db: PGlite;
  /** Closes client connections, the listener and the database. */
  stop(): Promise<void>;
}

/** Starts PGlite and serves it on a TCP port. Rejects with the listen error (e.g. `EADDRINUSE`). */
export async function startPglite(options: StartPgliteOptions = {}): Promise<PgliteServer> {
  const host = options.host ?? '127.0.0.1';
  if (options.dataDir) await mkdir(options.dataDir, { recursive: true });
  const db = await createDatabase(options.dataDir, options.templateCacheDir);
  let wire: WireServer;
  try {
    wire = await serveWire(db, { host, port: options.port ?? 0, maxConnections: options.maxConnections ?? 64, log: options.log });
  } catch (error) {
    await db.close();
    throw error;
  }
  const urlHost = host.includes(':') ? `[${host}]` : host;
  return {
    connectionString: `postgres://postgres@${urlHost}:${wire.port}/postgres`,
    port: wire.port,
    db,
    stop: async () => {
      await wire.stop();
      await db.close();
    },
  };
}

/** Opens the data directory, or makes an in-memory database (from the cached template if any). */
async function createDatabase(dataDir: string | undefined, cacheDir: string | undefined): Promise<PGlite> {
  if (dataDir) return PGlite.create({ dataDir });
  if (!cacheDir) return PGlite.create();
  const file = join(cacheDir, `pglite-template-${await pgliteVersion()}.tar`);
  const template = await readFile(file).catch(() => undefined);
  if (template) {
    try {
      return await PGlite.create({ loadDataDir: new Blob([template]) });
    } catch {
      // A damaged template: run initdb and replace it.
    }
  }
  const db = await PGlite.create();
  try {
    const dump = Buffer.from(await (await db.dumpDataDir('none')).arrayBuffer());
    await mkdir(cacheDir, { recursive: true });
    const scratch = `${file}.${randomBytes(4).toString('hex')}.tmp`;
    await writeFile(scratch, dump);
    await rename(scratch, file);
  } catch {
    // Only a cache: without it the next start runs initdb again.
  }
  return db;
}

async function pgliteVersion(): Promise<string> {
  const entry = fileURLToPath(import.meta.resolve('@electric-sql/pglite'));
  const pkg = JSON.parse(await readFile(join(entry, '..', '..', 'package.json'), 'utf8')) as { version?: string };
  return pkg.version ?? 'unknown';
}

// ---- Wire protocol front ---------------------------------------------------------------------------

interface WireServer {
  port: number;
  stop(): Promise<void>;
}

interface WireOptions {
  host: string;
  port: number;
  maxConnections: number;
  log: ((line: string) => void) | undefined;
}

const PROTOCOL_3 = 196_608;
const SSL_REQUEST = 80_877_103;
const GSSENC_REQUEST = 80_877_104;
const CANCEL_REQUEST = 80_877_102;
const SYNC = Uint8Array.from([0x53, 0, 0, 0, 4]);
const ROLLBACK = simpleQuery('ROLLBACK');
const SLOW_WAIT_MS = 5_000;

/**
 * Hands the single backend session to one connection at a time. The owner keeps it until the
 * backend reports idle; others wait in arrival order.
 */
class SessionLock {
  owner: Connection | undefined;
  private waiting: { conn: Connection; resolve: () => void; reject: (e: Error) => void }[] = [];

  acquire(conn: Connection): Promise<void> {
    if (this.owner === conn) return Promise.resolve();
    if (!this.owner) {
      this.owner = conn;
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => this.waiting.push({ conn, resolve, reject }));
  }

  release(conn: Connection): void {
    if (this.owner !== conn) return;
    const next = this.waiting.shift();
    this.owner = next?.conn;
    next?.resolve();
  }

  /** Drops a closed connection's place in the queue. */
  abandon(conn: Connection): void {
    const mine = this.waiting.filter((w) => w.conn === conn);
    this.waiting = this.waiting.filter((w) => w.conn !== conn);
    for (const w of mine) w.reject(new Error('connection closed'));
  }
}

let nextConnectionId = 1;

/** One client connection: frames its messages and runs them against the shared session in order. */
class Connection {
  readonly id = nextConnectionId++;
  private buffer: Buffer = Buffer.alloc(0);
  private started = false;
  private closed = false;
  private busy = false;
  /** True after a message was run whose batch has not yet ended with ReadyForQuery. */
  private midBatch = false;
  private done: Promise<void> = Promise.resolve();

  constructor(
    private readonly socket: Socket,
    private readonly db: PGlite,
    private readonly lock: SessionLock,
    private readonly log: ((line: string) => void) | undefined,
  ) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
      if (!this.busy) this.done = this.drain();
    });
    socket.on('error', () => void this.close());
    socket.on('close', () => void this.close());
  }

  /** Closes the connection; if it held the session, ends its batch and transaction first. */
  close(): Promise<void> {
    if (this.closed) return this.done;
    this.closed = true;
    this.lock.abandon(this);
    this.socket.destroy();
    this.done = this.done.then(() => this.cleanUp());
    return this.done;
  }

  private async drain(): Promise<void> {
    this.busy = true;
    try {
      for (;;) {
        if (this.closed) return;
        const message = this.nextMessage();
        if (!message) return;
        await this.handle(message);
      }
    } catch (error) {
      if (!this.closed) this.log?.(`pglite: connection #${this.id} failed: ${(error as Error).message}`);
      void this.close();
    } finally {
      this.busy = false;
    }
  }

  /** Cuts the next complete message off the buffer, or returns undefined if it is incomplete. */
  private nextMessage(): Buffer | undefined {
    const b = this.buffer;
    // Before start-up, messages have no type byte: int32 length, then int32 code.
    const length = this.started ? (b.length >= 5 ? 1 + b.readInt32BE(1) : 0) : b.length >= 4 ? b.readInt32BE(0) : 0;
    if (length === 0 || b.length < length) return undefined;
    this.buffer = b.subarray(length);
    return b.subarray(0, length);
  }

  private async handle(message: Buffer): Promise<void> {
    if (!this.started) {
      const code = message.length >= 8 ? message.readInt32BE(4) : 0;
      if (code === SSL_REQUEST || code === GSSENC_REQUEST) {
        this.socket.write('N'); // no TLS on the loopback stand-in; the client goes on in clear
        return;
      }
      if (code === CANCEL_REQUEST) {
        void this.close(); // PGlite cannot cancel a running statement
        return;
      }
      if (code !== PROTOCOL_3) throw new Error(`unsupported protocol ${code}`);
      this.started = true;
    } else if (message[0] === 0x58 /* Terminate */) {
      void this.close();
      return;
    }
    await this.run(message);
  }

  /** Runs one message with the session held; lets go once the backend reports idle. */
  private async run(message: Uint8Array): Promise<void> {
    await this.acquireSession();
    let tail = Buffer.alloc(0);
    await this.db.runExclusive(() =>
      this.db.execProtocolRawStream(message, {
        onRawData: (data) => {
          const copy = Buffer.from(data);
          tail = copy.length >= 6 ? copy.subarray(copy.length - 6) : Buffer.concat([tail, copy]).subarray(-6);
          if (!this.closed) this.socket.write(copy);
        },
      }),
    );
    const status = readyStatus(tail);
    this.midBatch = status === undefined;
    if (status === 'I') this.lock.release(this);
  }

  private async acquireSession(): Promise<void> {
    if (this.lock.owner === this || !this.lock.owner) return this.lock.acquire(this);
    const holder = this.lock.owner;
    const timer = setTimeout(() => {
      this.log?.(
        `pglite: connection #${this.id} has waited ${SLOW_WAIT_MS / 1000}s for the database: connection ` +
          `#${holder.id} holds it (an open transaction?). PGlite runs one transaction at a time.`,
      );
    }, SLOW_WAIT_MS);
    timer.unref();
    try {
      await this.lock.acquire(this);
    } finally {
      clearTimeout(timer);
    }
  }

  private async cleanUp(): Promise<void> {
    if (this.lock.owner !== this) return;
    try {
      const discard = { onRawData: () => undefined };
      await this.db.runExclusive(async () => {
        if (this.midBatch) await this.db.execProtocolRawStream(SYNC, discard);
        if (this.db.isInTransaction()) await this.db.execProtocolRawStream(ROLLBACK, discard);
      });
    } catch (error) {
      this.log?.(`pglite: cleaning up connection #${this.id} failed: ${(error as Error).message}`);
    } finally {
      this.lock.release(this);
    }
  }
}

async function serveWire(db: PGlite, options: WireOptions): Promise<WireServer> {
  const lock = new SessionLock();
  const connections = new Set<Connection>();
  const server: Server = createServer((socket) => {
    const conn = new Connection(socket, db, lock, options.log);
    connections.add(conn);
    socket.once('close', () => connections.delete(conn));
  });
  server.maxConnections = options.maxConnections;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  return {
    port,
    stop: async () => {
      const closing = new Promise<void>((resolve) => server.close(() => resolve()));
      await Promise.all([...connections].map((c) => c.close()));
      await closing;
    },
  };
}

/** The status byte of a ReadyForQuery message ending `tail`, if it ends with one. */
function readyStatus(tail: Buffer): 'I' | 'T' | 'E' | undefined {
  if (tail.length < 6 || tail[0] !== 0x5a /* Z */ || tail.readInt32BE(1) !== 5) return undefined;
  const status = String.fromCharCode(tail[5] ?? 0);
  return status === 'I' || status === 'T' || status === 'E' ? status : undefined;
}

function simpleQuery(sql: string): Uint8Array {
  const text = Buffer.from(`${sql}\0`, 'utf8');
  const message = Buffer.alloc(5 + text.length);
  message.write('Q', 0, 'latin1');
  message.writeInt32BE(4 + text.length, 1);
  text.copy(message, 5);
  return message;
}
