/** The health service's migrations, in order. */
import type { Migration } from 'kysely';
import * as m0001 from './0001_init.js';
import * as m0002 from './0002_latest_status_before.js';

export const migrations: Record<string, Migration> = { '0001_init': m0001, '0002_latest_status_before': m0002 };
