/**
 * Conversions between a real HTTP exchange and the RPC http data the host and worker exchange,
 * following the host's GrpcMessageConversionExtensions.ToRpcHttp with the capabilities the
 * Node.js worker announces (RawHttpBodyBytes, RpcHttpBodyOnly, UseNullableValueDictionaryForHttp):
 * header names lower-cased, repeated headers and query keys joined with ",", route values as
 * params, the body as raw bytes.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RpcHttpCookie, RpcHttpData, RpcNullableString } from './core-types.js';

/** Builds the RPC http data of a request (`url` is the full URL, body already read). */
export function toRpcHttp(req: IncomingMessage, url: URL, body: Buffer, params: Record<string, string>): RpcHttpData {
  const nullableHeaders: Record<string, RpcNullableString> = {};
  for (const [name, values] of Object.entries(req.headersDistinct)) {
    if (values) nullableHeaders[name.toLowerCase()] = { value: values.join(',') };
  }

  // ASP.NET's query collection is case-insensitive; repeated keys become one comma-joined value.
  const query = new Map<string, { key: string; values: string[] }>();
  for (const [key, value] of url.searchParams) {
    const entry = query.get(key.toLowerCase());
    if (entry) entry.values.push(value);
    else query.set(key.toLowerCase(), { key, values: [value] });
  }
  const nullableQuery: Record<string, RpcNullableString> = {};
  for (const { key, values } of query.values()) nullableQuery[key] = { value: values.join(',') };

  const nullableParams: Record<string, RpcNullableString> = {};
  for (const [key, value] of Object.entries(params)) nullableParams[key] = { value };

  return {
    method: req.method ?? 'GET',
    url: url.href,
    nullableHeaders,
    nullableQuery,
    nullableParams,
    ...(body.length > 0 ? { body: { bytes: body } } : {}),
  };
}

/** Headers of a request as a plain record (for the trigger metadata of a streamed invocation). */
export function headerRecord(req: IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, values] of Object.entries(req.headersDistinct)) if (values) out[name] = values.join(',');
  return out;
}

function serializeCookie(cookie: RpcHttpCookie): string {
  let text = `${cookie.name ?? ''}=${encodeURIComponent(cookie.value ?? '')}`;
  if (cookie.domain?.value) text += `; domain=${cookie.domain.value}`;
  if (cookie.path?.value) text += `; path=${cookie.path.value}`;
  const expires = cookie.expires?.value;
  if (expires && typeof expires.seconds === 'number') {
    text += `; expires=${new Date(expires.seconds * 1000 + Math.floor((expires.nanos ?? 0) / 1e6)).toUTCString()}`;
  }
  if (typeof cookie.maxAge?.value === 'number') text += `; max-age=${cookie.maxAge.value}`;
  if (cookie.secure?.value) text += '; secure';
  if (cookie.sameSite === 'lax') text += '; samesite=lax';
  else if (cookie.sameSite === 'strict') text += '; samesite=strict';
  else if (cookie.sameSite === 'explicitNone') text += '; samesite=none';
  if (cookie.httpOnly?.value) text += '; httponly';
  return text;
}

/** Writes an RPC http response (status, headers, cookies, raw body bytes). */
export function writeRpcHttp(res: ServerResponse, http: RpcHttpData, method: string): void {
  const status = Number(http.statusCode ?? 200) || 200;
  const setCookies: string[] = [];
  for (const [name, value] of Object.entries(http.headers ?? {})) {
    const lower = name.toLowerCase();
    if (lower === 'content-length' || lower === 'transfer-encoding' || lower === 'connection') continue;
    if (lower === 'set-cookie') setCookies.push(value);
    else res.setHeader(name, value);
  }
  for (const cookie of http.cookies ?? []) setCookies.push(serializeCookie(cookie));
  if (setCookies.length > 0) res.setHeader('set-cookie', setCookies);

  const data = http.body;
  let body: Buffer = Buffer.alloc(0);
  if (data?.bytes) body = Buffer.from(data.bytes);
  else if (data?.stream) body = Buffer.from(data.stream);
  else if (typeof data?.string === 'string') body = Buffer.from(data.string, 'utf8');
  else if (typeof data?.json === 'string') body = Buffer.from(data.json, 'utf8');

  res.statusCode = status;
  const noBody = status === 204 || status === 304 || (status >= 100 && status < 200);
  if (noBody) {
    res.end();
    return;
  }
  res.setHeader('content-length', body.length);
  res.end(method === 'HEAD' ? undefined : body);
}
