/**
 * How a new secret value is produced: random values from the platform's CSPRNG over a fixed
 * alphabet, or a value from an external provider behind the {@link ValueProvider} port. The value
 * goes from here to the vault and nowhere else (no log, no return value of an activity).
 */
import { randomInt } from 'node:crypto';
import { unknownValueProvider } from './errors.js';
import type { GeneratorDto } from './schemas.js';

const ALPHABETS = {
  alphanumeric: 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789',
  hex: '0123456789abcdef',
  base64url: 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_',
  printable: Array.from({ length: 0x7e - 0x21 + 1 }, (_, i) => String.fromCharCode(0x21 + i)).join(''),
} as const;

/** What a generator is asked for: which binding, so a provider can keep its own records. */
export interface ValueRequest {
  tenantId: string;
  bindingId: string;
  secretName: string;
}

/**
 * Port: an external source of secret values (a database that sets its own password, a partner
 * API issuing keys). Returns the new value; must not log it.
 */
export type ValueProvider = (request: ValueRequest) => Promise<string>;

/** The value providers of one app instance, by name. */
export class ValueProviders {
  private readonly providers = new Map<string, ValueProvider>();

  /** Registers a provider; one per name. */
  add(name: string, provider: ValueProvider): void {
    if (this.providers.has(name)) throw new Error(`A value provider named '${name}' is already registered`);
    this.providers.set(name, provider);
  }

  /** Refuses a policy whose provider is not registered (400 UnknownValueProvider). */
  check(generator: GeneratorDto): void {
    if (generator.kind === 'external' && !this.providers.has(generator.provider)) throw unknownValueProvider(generator.provider);
  }

  /** A new value for the binding, from its generator. */
  async generate(generator: GeneratorDto, request: ValueRequest): Promise<string> {
    if (generator.kind === 'random') return randomValue(generator.length, ALPHABETS[generator.alphabet]);
    const provider = this.providers.get(generator.provider);
    if (!provider) throw unknownValueProvider(generator.provider);
    const value = await provider(request);
    if (typeof value !== 'string' || value.length === 0) throw new Error(`Value provider '${generator.provider}' returned no value`);
    return value;
  }
}

/** `length` characters drawn uniformly from `alphabet` (rejection sampling inside randomInt). */
export function randomValue(length: number, alphabet: string): string {
  let out = '';
  for (let i = 0; i < length; i++) out += alphabet[randomInt(alphabet.length)];
  return out;
}
