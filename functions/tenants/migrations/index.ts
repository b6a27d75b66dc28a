/** The tenants service's migrations, in order. */
import type { Migration } from 'kysely';
import * as m0001 from './0001_init.js';
import * as m0002 from './0002_principal_scope.js';
import * as m0003 from './0003_principal_policy_function.js';

export const migrations: Record<string, Migration> = { '0001_init': m0001, '0002_principal_scope': m0002, '0003_principal_policy_function': m0003 };
