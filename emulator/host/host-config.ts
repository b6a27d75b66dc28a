/**
 * What the local host reads from host.json and local.settings.json, as the Functions host and Core
 * Tools do: the HTTP route prefix, the Durable task hub settings, `%NAME%` app-setting references,
 * and local.settings.json `Values` (which never override variables already in the environment).
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

/** The host settings the local host uses. */
export interface HostConfig {
  /** `extensions.http.routePrefix`; `api` by default, `''` for none. */
  routePrefix: string;
  durable: {
    hubName: string;
    connectionName: string;
    overridableExistingInstanceStates: 'NonRunningStates' | 'AnyState';
  };
  /**
   * host.json `functionTimeout` in milliseconds; undefined when unbounded (`-1`). Default 30 minutes,
   * the Flex Consumption (and Premium/Dedicated) default (MicrosoftDocs/azure-docs,
   * includes/functions-timeout-duration.md).
   */
  functionTimeoutMs: number | undefined;
  /** Problems worth telling the developer (unresolved settings, ...). */
  warnings: string[];
}

/** The default `functionTimeout` of the Flex Consumption plan: 30 minutes. */
export const defaultFunctionTimeoutMs = 30 * 60_000;

/**
 * Parses a .NET TimeSpan as host.json writes it (`hh:mm:ss`, `d.hh:mm:ss`, optional fraction);
 * `-1` (or any negative span) means unbounded. Returns undefined for unbounded, throws for text that
 * is not a TimeSpan.
 */
export function parseTimeSpanMs(text: string): number | undefined {
  const trimmed = text.trim();
  if (/^-/.test(trimmed)) return undefined;
  const m = /^(?:(\d+)\.)?(\d{1,2}):(\d{1,2}):(\d{1,2})(?:\.(\d{1,7}))?$/.exec(trimmed);
  if (!m) throw new Error(`"${text}" is not a TimeSpan (hh:mm:ss)`);
  const fraction = m[5] ? Number(`0.${m[5]}`) : 0;
  return (((Number(m[1] ?? 0) * 24 + Number(m[2])) * 60 + Number(m[3])) * 60 + Number(m[4]) + fraction) * 1000;
}

type Env = Record<string, string | undefined>;

function readJson(file: string): Record<string, unknown> | undefined {
  if (!existsSync(file)) return undefined;
  const text = readFileSync(file, 'utf8').replace(/^\uFEFF/, '');
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch {
    // host.json may carry comments and trailing commas, as .NET configuration files may.
    const relaxed = text.replace(/\/\*[\s\S]*?\*\/|(^|[^:"'])\/\/.*$/gm, '$1').replace(/,(\s*[}\]])/g, '$1');
    return JSON.parse(relaxed) as Record<string, unknown>;
  }
}

function objectAt(value: unknown, ...keys: string[]): Record<string, unknown> | undefined {
  let current = value;
  for (const key of keys) {
    if (!current || typeof current !== 'object') return undefined;
    const entry = Object.entries(current as Record<string, unknown>).find(([k]) => k.toLowerCase() === key.toLowerCase());
    current = entry?.[1];
  }
  return current && typeof current === 'object' ? (current as Record<string, unknown>) : undefined;
}

function stringAt(obj: Record<string, unknown> | undefined, key: string): string | undefined {
  const entry = Object.entries(obj ?? {}).find(([k]) => k.toLowerCase() === key.toLowerCase());
  return typeof entry?.[1] === 'string' ? entry[1] : undefined;
}

/** Replaces `%NAME%` with the app setting NAME. Returns undefined when a setting is missing. */
export function resolveSettingRefs(text: string, env: Env): string | undefined {
  let missing = false;
  const out = text.replace(/%([^%]+)%/g, (_m, name: string) => {
    const value = env[name];
    if (value === undefined) missing = true;
    return value ?? '';
  });
  return missing ? undefined : out;
}

/** Reads host.json from the function app directory. */
export function readHostConfig(functionAppDirectory: string, env: Env): HostConfig {
  const hostJson = readJson(path.join(functionAppDirectory, 'host.json')) ?? {};
  const warnings: string[] = [];
  const http = objectAt(hostJson, 'extensions', 'http');
  const prefixRaw = stringAt(http, 'routePrefix');
  const routePrefix = (prefixRaw ?? 'api').replace(/^\/+|\/+$/g, '');

  const durableTask = objectAt(hostJson, 'extensions', 'durableTask');
  const hubRaw = stringAt(durableTask, 'hubName');
  let hubName = 'TestHubName';
  if (hubRaw) {
    const resolved = resolveSettingRefs(hubRaw, env);
    if (resolved) hubName = resolved;
    else warnings.push(`host.json durableTask.hubName "${hubRaw}" names a setting that is not set; using "${hubName}"`);
  }
  const storageProvider = objectAt(durableTask, 'storageProvider');
  const connectionName = stringAt(storageProvider, 'connectionName') ?? stringAt(storageProvider, 'connectionStringName') ?? 'Storage';
  const overridable = stringAt(durableTask, 'overridableExistingInstanceStates');
  let functionTimeoutMs: number | undefined = defaultFunctionTimeoutMs;
  const timeoutRaw = stringAt(hostJson, 'functionTimeout');
  if (timeoutRaw !== undefined) {
    try {
      functionTimeoutMs = parseTimeSpanMs(timeoutRaw);
    } catch (error) {
      warnings.push(`host.json functionTimeout: ${(error as Error).message}; using the default of 30 minutes`);
    }
  }
  return {
    routePrefix,
    functionTimeoutMs,
    durable: {
      hubName,
      connectionName: connectionName === 'AzureWebJobsStorage' ? 'Storage' : connectionName,
      overridableExistingInstanceStates: overridable?.toLowerCase() === 'anystate' ? 'AnyState' : 'NonRunningStates',
    },
    warnings,
  };
}

/** local.settings.json `Values` and `Host` sections, if the file exists. */
export function readLocalSettings(functionAppDirectory: string): { values: Record<string, string>; localHttpPort: number | undefined } {
  const json = readJson(path.join(functionAppDirectory, 'local.settings.json'));
  const values: Record<string, string> = {};
  for (const [key, value] of Object.entries(objectAt(json, 'Values') ?? {})) {
    if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') values[key] = String(value);
  }
  const port = objectAt(json, 'Host')?.LocalHttpPort;
  return { values, localHttpPort: typeof port === 'number' ? port : typeof port === 'string' ? Number(port) || undefined : undefined };
}

/** True when the app setting `AzureWebJobs.<name>.Disabled` turns the function off. */
export function isFunctionDisabled(name: string, env: Env): boolean {
  const key = Object.keys(env).find((k) => k.toLowerCase() === `azurewebjobs.${name.toLowerCase()}.disabled`);
  const value = key ? env[key] : undefined;
  return value !== undefined && /^(true|1)$/i.test(value.trim());
}
