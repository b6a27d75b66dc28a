/**
 * The Functions host tries HTTP routes in registration order and takes the first match, so two
 * routes of one method that can match the same path answer differently in Azure than under any
 * local rule: the local host refuses to start with such a pair, naming both functions.
 */
import { describe, expect, it } from 'vitest';
import { httpRoutes } from './dispatch.js';
import type { RegisteredFunction } from './functions-core.js';

// Only the fields httpRoutes reads: a stand-in for what the core stand-in records at registration.
const fn = (name: string, route: string, methods?: string[]) =>
  ({ name, trigger: { type: 'httpTrigger', name: 'request', direction: 'in', route, ...(methods ? { methods } : {}) } }) as unknown as RegisteredFunction;

describe('HTTP routes the local host accepts', () => {
  it('refuses two routes one path can match with one method, naming both functions', () => {
    expect(() => httpRoutes([fn('itemById', 'items/{id}', ['GET']), fn('itemSpecial', 'items/special', ['GET'])])).toThrow(/'itemById'.*'itemSpecial'/);
    // A route with no methods takes every method.
    expect(() => httpRoutes([fn('anyMethod', 'things/{id}'), fn('getThing', 'things/one', ['GET'])])).toThrow(/'anyMethod'.*'getThing'/);
  });

  it('accepts overlapping templates of different methods, and templates no path can match both of', () => {
    expect(httpRoutes([fn('read', 'items/{id}', ['GET']), fn('make', 'items/special', ['POST'])])).toHaveLength(2);
    expect(httpRoutes([fn('one', 'items/{id}', ['GET']), fn('two', 'items/{id}/parts', ['GET'])])).toHaveLength(2);
  });
});
