/**
 * The `durableClient` input binding data, shaped as the Durable Functions extension serializes it
 * (BindingHelper.DurableOrchestrationClientToString, legacy out-of-proc protocol), with every URL
 * pointing at the local host. durable-functions' `getClient(context)` reads this and then talks
 * HTTP to `rpcBaseUrl` (it prefers it over the webhook URL templates when present).
 */

/** Where the extension's webhooks live under the host (also used as the local RPC base path). */
export const durableWebhookPath = '/runtime/webhooks/durabletask';

/** The `HttpManagementPayload` of one instance (what `createCheckStatusResponse` returns). */
export interface HttpManagementPayload {
  id: string;
  statusQueryGetUri: string;
  sendEventPostUri: string;
  terminatePostUri: string;
  rewindPostUri: string;
  purgeHistoryDeleteUri: string;
  restartPostUri: string;
  suspendPostUri: string;
  resumePostUri: string;
}

/** The serialized durable client binding value. */
export interface OrchestrationClientInputData {
  taskHubName: string;
  creationUrls: { createNewInstancePostUri: string; createAndWaitOnNewInstancePostUri: string };
  managementUrls: HttpManagementPayload;
  baseUrl: string;
  requiredQueryStringParameters: string;
  rpcBaseUrl: string;
}

/** The placeholder the extension puts where an instance id goes in `managementUrls`. */
export const instanceIdPlaceholder = 'INSTANCEID';

/**
 * Management URLs of an instance under `baseUrl` (e.g. `http://localhost:7071/runtime/webhooks/durabletask`).
 * Locally there is no system key, so no `code=` parameter is added.
 */
export function managementPayload(baseUrl: string, instanceId: string, taskHub: string, connection: string): HttpManagementPayload {
  const prefix = `${baseUrl}/instances/${instanceId === instanceIdPlaceholder ? instanceId : encodeURIComponent(instanceId)}`;
  const query = `taskHub=${encodeURIComponent(taskHub)}&connection=${encodeURIComponent(connection)}`;
  return {
    id: instanceId,
    statusQueryGetUri: `${prefix}?${query}`,
    sendEventPostUri: `${prefix}/raiseEvent/{eventName}?${query}`,
    terminatePostUri: `${prefix}/terminate?reason={text}&${query}`,
    rewindPostUri: `${prefix}/rewind?reason={text}&${query}`,
    purgeHistoryDeleteUri: `${prefix}?${query}`,
    restartPostUri: `${prefix}/restart?${query}`,
    suspendPostUri: `${prefix}/suspend?reason={text}&${query}`,
    resumePostUri: `${prefix}/resume?reason={text}&${query}`,
  };
}

/** Options of {@link clientInputData}. */
export interface ClientBindingOptions {
  /** Origin the app is reached at, e.g. `http://localhost:7071` (from WEBSITE_HOSTNAME when set). */
  publicOrigin: string;
  /** Origin of the local RPC endpoint, e.g. `http://127.0.0.1:7071`. */
  rpcOrigin: string;
  taskHubName: string;
  connectionName: string;
}

/** The binding data a `durableClient` input receives. */
export function clientInputData(options: ClientBindingOptions): OrchestrationClientInputData {
  const baseUrl = `${options.publicOrigin}${durableWebhookPath}`;
  return {
    taskHubName: options.taskHubName,
    creationUrls: {
      createNewInstancePostUri: `${baseUrl}/orchestrators/{functionName}[/{instanceId}]?`,
      createAndWaitOnNewInstancePostUri: `${baseUrl}/orchestrators/{functionName}[/{instanceId}]?timeout={timeoutInSeconds}&pollingInterval={intervalInSeconds}&`,
    },
    managementUrls: managementPayload(baseUrl, instanceIdPlaceholder, options.taskHubName, options.connectionName),
    baseUrl,
    requiredQueryStringParameters: '',
    rpcBaseUrl: `${options.rpcOrigin}${durableWebhookPath}/`,
  };
}
