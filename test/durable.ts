/**
 * Durable Functions in-process, for `startTestApp`: the local host's task hub
 * (emulator/host/durable), which runs orchestrators through durable-functions' own replay engine,
 * and its HTTP API on a loopback port, so the app's durable client (`df.getClient(context)`)
 * starts and queries instances exactly as under `npm start`. The orchestrators and activities it
 * runs are the app's registrations, built by the registrar as the Functions host would invoke them.
 */
import azureFunctions from '@azure/functions';
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { clientInputData, durableWebhookPath, type OrchestrationClientInputData } from '../emulator/host/durable/client-binding.js';
import { handleDurableRequest } from '../emulator/host/durable/http-api.js';
import { LocalTaskHub } from '../emulator/host/durable/task-hub.js';
import type { RegisteredFunction } from '../emulator/host/functions-core.js';
import { Registrar, type App, type FunctionEntry } from '../shared/registrar.js';

const { InvocationContext } = azureFunctions;
type Build = Parameters<Registrar['add']>[1];
type Handler = Awaited<ReturnType<Build>>;

/** A registrar that also keeps each function's builder, so the tests can invoke any function. */
export class TestRegistrar extends Registrar {
  readonly builders = new Map<string, { entry: FunctionEntry; build: Build; handler?: Promise<Handler> }>();

  override add(entry: FunctionEntry, build: Build, register: Parameters<Registrar['add']>[2]): void {
    this.builders.set(entry.name, { entry, build });
    super.add(entry, build, register);
  }

  /** The function's handler, built once (as the host builds it on first invocation). */
  handler(name: string): Promise<Handler> {
    const b = this.builders.get(name);
    if (!b) throw new Error(`No function named '${name}'`);
    b.handler ??= this.getApp().then((app: App) => b.build(app));
    return b.handler;
  }
}

/** The in-process task hub and the binding data of its durable client. */
export interface InProcessDurable {
  hub: LocalTaskHub;
  clientData: OrchestrationClientInputData;
  /** Resolves once every instance started so far has finished (activities included). */
  settle(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

/** Starts the task hub over `registrar`'s orchestrators and activities. */
export async function startInProcessDurable(registrar: TestRegistrar): Promise<InProcessDurable> {
  const fnOf = (name: string): RegisteredFunction | undefined => {
    const b = registrar.builders.get(name);
    if (!b || (b.entry.trigger !== 'orchestration' && b.entry.trigger !== 'activity')) return undefined;
    const trigger = { type: `${b.entry.trigger}Trigger`, direction: 'in', name: 'context' };
    return { name, functionId: name, bindings: { context: trigger }, trigger, callback: () => undefined } as unknown as RegisteredFunction;
  };
  const hub = new LocalTaskHub(
    {
      getFunction: fnOf,
      listFunctions: () => [...registrar.builders.keys()].map(fnOf).filter((f): f is RegisteredFunction => f !== undefined),
      run: async (fn, request) => {
        const text = request.inputData?.[0]?.data?.string;
        const input: unknown = text === undefined || text === null ? undefined : JSON.parse(text);
        const context = new InvocationContext({ functionName: fn.name, invocationId: randomUUID(), logHandler: () => undefined });
        const result = await (await registrar.handler(fn.name))(input, context);
        return { returnValue: { json: JSON.stringify(result ?? null) } };
      },
      log: (message) => console.error(message),
    },
    { hubName: 'testhub' },
  );
  const started = new Set<string>();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', `http://${req.headers.host}`);
      handleDurableRequest(hub, 'Storage', {
        method: req.method ?? 'GET',
        path: url.pathname.slice(durableWebhookPath.length),
        query: url.searchParams,
        contentType: req.headers['content-type'],
        body: Buffer.concat(chunks),
        origin: url.origin,
        url: url.toString(),
      })
        .then((r) => {
          if (r.status === 202 && url.pathname.includes('/orchestrators/') && r.body) started.add((JSON.parse(r.body) as { id: string }).id);
          res.writeHead(r.status, r.headers);
          res.end(r.body);
        })
        .catch((e: unknown) => {
          res.writeHead(500);
          res.end(String(e));
        });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    hub,
    clientData: clientInputData({ publicOrigin: origin, rpcOrigin: origin, taskHubName: 'testhub', connectionName: 'Storage' }),
    async settle(timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      const busy = () => [...started].some((id) => ['Pending', 'Running'].includes(hub.get(id)?.status ?? ''));
      while (busy()) {
        if (Date.now() > deadline) throw new Error('Orchestrations did not finish in time');
        await new Promise((r) => setTimeout(r, 10));
      }
    },
    async stop() {
      hub.stop();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
