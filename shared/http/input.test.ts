/** Reading a JSON body: the shortcuts `readJson` takes refuse exactly what a full check refuses (unit tests, no database). */
import { HttpRequest } from '@azure/functions';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MAX_JSON_DEPTH, readJson, rejectUnstorableText } from './input.js';

const post = (text: string) =>
  new HttpRequest({
    method: 'POST',
    url: 'http://127.0.0.1/api/x',
    body: { string: text },
    headers: { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)) },
  });

/** The code `readJson` answers with, or 'ok'. */
async function outcome(text: string): Promise<string> {
  try {
    await readJson(post(text), 1 << 20);
    return 'ok';
  } catch (e) {
    return codeOf(e);
  }
}

/** The code of a refusal (a domain or a kernel error). */
function codeOf(e: unknown): string {
  if (e instanceof Error && 'code' in e && typeof e.code === 'string') return e.code;
  throw e;
}

/** What a full check decides: parse, walk every string and key. */
function fullCheck(value: unknown): string {
  try {
    rejectUnstorableText(value, 'body');
    return 'ok';
  } catch (e) {
    return codeOf(e);
  }
}

describe('readJson', () => {
  it('refuses NUL and unpaired surrogates exactly where a walk of the value would, escaped or not', async () => {
    // Strings of awkward characters, written as JSON both by JSON.stringify (which escapes lone
    // surrogates) and with every character escaped.
    const awkward = fc.string({ unit: fc.constantFrom('a', '\u0000', '\ud800', '\udc00', '\ud83d\ude00', '\\', 'u', '0', 'd', '8', '"', 'é') });
    const escapeAll = (s: string) => `"${[...Array(s.length).keys()].map((i) => `\\u${s.charCodeAt(i).toString(16).padStart(4, '0')}`).join('')}"`;
    await fc.assert(
      fc.asyncProperty(awkward, awkward, fc.boolean(), async (key, value, escaped) => {
        const text = escaped ? `{${escapeAll(key)}:[${escapeAll(value)}]}` : JSON.stringify({ [key]: [value] });
        expect(await outcome(text)).toBe(fullCheck(JSON.parse(text)));
      }),
      { numRuns: 500 },
    );
    expect(await outcome('{"a":"x\\u0000"}')).toBe('InvalidRequest');
    expect(await outcome('{"a":"\\uD800"}')).toBe('InvalidRequest');
    expect(await outcome('{"a":"\\\\u0000"}')).toBe('ok');
  });

  it('reads a body without Content-Length (chunked, as HTTP streaming passes it on), and stops reading at the bound', async () => {
    // A request as the worker builds one with HTTP streaming on: a native Request with a body stream.
    const streamed = (chunks: () => Iterable<Uint8Array>, headers: Record<string, string> = {}) => {
      let pulled = 0;
      const it = chunks()[Symbol.iterator]();
      const body = new ReadableStream<Uint8Array>({
        pull(c) {
          const n = it.next();
          if (n.done) c.close();
          else {
            pulled++;
            c.enqueue(n.value);
          }
        },
      });
      const nativeRequest = new Request('http://127.0.0.1/api/x', { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers }, duplex: 'half' });
      return { request: new HttpRequest({ nativeRequest } as never), pulled: () => pulled };
    };
    const text = new TextEncoder().encode(JSON.stringify({ a: 'x'.repeat(3000) }));
    const ok = streamed(function* () {
      for (let i = 0; i < text.length; i += 1000) yield text.subarray(i, i + 1000);
    });
    expect(await readJson(ok.request, 1 << 20)).toEqual({ a: 'x'.repeat(3000) });
    // Endless, and lying about its length: refused once the bound is passed, the rest never pulled.
    const endless = streamed(
      function* () {
        for (;;) yield new Uint8Array(64 * 1024).fill(0x20);
      },
      { 'content-length': '10' },
    );
    await expect(readJson(endless.request, 1 << 20)).rejects.toMatchObject({ code: 'PayloadTooLarge' });
    expect(endless.pulled()).toBeLessThan(40);
    expect(await outcome('')).toBe('InvalidJson');
  });

  it(`refuses nesting deeper than ${MAX_JSON_DEPTH} levels, counting only brackets outside strings`, async () => {
    const nested = (n: number) => '['.repeat(n) + ']'.repeat(n);
    expect(await outcome(nested(MAX_JSON_DEPTH))).toBe('ok');
    expect(await outcome(nested(MAX_JSON_DEPTH + 1))).toBe('InvalidJson');
    // Many brackets, shallow: a list of empty objects, and brackets inside strings.
    expect(await outcome(JSON.stringify(Array.from({ length: 500 }, () => ({}))))).toBe('ok');
    expect(await outcome(JSON.stringify({ a: '['.repeat(500) }))).toBe('ok');
  });
});
