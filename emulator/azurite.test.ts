/**
 * Azurite driven by the real Storage SDKs, on free ports, in memory.
 */
import { BlobServiceClient } from '@azure/storage-blob';
import { QueueServiceClient } from '@azure/storage-queue';
import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAzurite, type AzuriteServer } from './azurite.js';

let azurite: AzuriteServer;

beforeAll(async () => {
  azurite = await startAzurite({ blobPort: 0, queuePort: 0, tablePort: 0 });
});

afterAll(async () => {
  await azurite?.stop();
});

describe('Azurite', () => {
  it('gives a development-storage connection string for the ports it got', () => {
    expect(azurite.blobPort).toBeGreaterThan(0);
    expect(azurite.connectionString).toContain(`BlobEndpoint=http://127.0.0.1:${azurite.blobPort}/devstoreaccount1;`);
    expect(azurite.connectionString).toContain(`QueueEndpoint=http://127.0.0.1:${azurite.queuePort}/devstoreaccount1;`);
    expect(azurite.connectionString).toContain(`TableEndpoint=http://127.0.0.1:${azurite.tablePort}/devstoreaccount1;`);
  });

  it('stores blobs: upload, download, tags, access tier', async () => {
    const service = BlobServiceClient.fromConnectionString(azurite.connectionString);
    const container = service.getContainerClient('deployment-artifacts');
    await container.createIfNotExists();
    const blob = container.getBlockBlobClient('t1/d1/build.log');
    await blob.upload('hello', 5, { tags: { tenant: 't1' }, blobHTTPHeaders: { blobContentType: 'text/plain' } });

    const body = await blob.downloadToBuffer();
    expect(body.toString('utf8')).toBe('hello');
    expect((await blob.getTags()).tags).toEqual({ tenant: 't1' });

    await blob.setAccessTier('Cool');
    const props = await blob.getProperties();
    expect(props.accessTier).toBe('Cool');
    expect(props.contentType).toBe('text/plain');
  });

  it('queues messages: send, receive, delete', async () => {
    const queue = QueueServiceClient.fromConnectionString(azurite.connectionString).getQueueClient('runtime-events');
    await queue.createIfNotExists();
    await queue.sendMessage(Buffer.from('{"type":"Test"}').toString('base64'));
    const { receivedMessageItems } = await queue.receiveMessages({ numberOfMessages: 1 });
    const [message] = receivedMessageItems;
    expect(Buffer.from(message?.messageText ?? '', 'base64').toString('utf8')).toBe('{"type":"Test"}');
    await queue.deleteMessage(message?.messageId ?? '', message?.popReceipt ?? '');
    expect((await queue.getProperties()).approximateMessagesCount).toBe(0);
  });

  it('fails with EADDRINUSE, naming the port, when a port is taken', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as { port: number }).port;
    try {
      await expect(startAzurite({ blobPort: port, queuePort: 0, tablePort: 0 })).rejects.toMatchObject({
        code: 'EADDRINUSE',
        port,
      });
    } finally {
      blocker.close();
    }
  });
});
