/**
 * `npm run bench`: every benchmark, each against a baseline measured in the same run. Prints a
 * table of medians and ratios; exits 1 when a target is missed (not a test: run it on purpose).
 * BENCH_DATABASE_URL (or TEST_DATABASE_URL) points the database benchmarks at a PostgreSQL server
 * instead of the embedded PGlite.
 */
import { execFileSync } from 'node:child_process';
import { benchColdImport, benchPointRead } from './pipeline.js';
import { benchInventory } from './inventory.js';
import { benchConfiguration } from './configuration.js';
import { benchPolicyRead, benchRender } from './scaling.js';
import { benchDeployments } from './deployments.js';
import { benchHealth } from './health.js';
import { benchDrift } from './drift.js';
import { report, type BenchResult } from './stats.js';

if (process.env.BENCH_DATABASE_URL) process.env.TEST_DATABASE_URL = process.env.BENCH_DATABASE_URL;
const only = process.argv.slice(2);
const want = (name: string) => only.length === 0 || only.includes(name);

const results: BenchResult[] = [];
if (want('pipeline')) results.push(...(await benchPointRead()));
if (want('inventory')) results.push(...(await benchInventory()));
if (want('configuration')) results.push(...(await benchConfiguration()));
if (want('scaling')) results.push(...(await benchRender()), ...(await benchPolicyRead()));
if (want('deployments')) results.push(...(await benchDeployments()));
if (want('health')) results.push(...(await benchHealth()));
if (want('drift')) results.push(...(await benchDrift()));
if (want('cold')) {
  execFileSync('npm', ['run', '--silent', 'build'], { stdio: 'inherit' });
  results.push(...(await benchColdImport()));
}
const met = report(results);
process.exit(met ? 0 : 1);
