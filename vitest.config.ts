import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['functions/**/*.test.ts', 'shared/**/*.test.ts', 'scripts/**/*.test.ts', 'emulator/**/*.test.ts', 'test/**/*.test.ts', 'infra/**/*.test.ts'],
    // Each test file shares one database (PGlite takes ~3 s to start); files run in parallel
    // across the machine's two cores.
    pool: 'forks',
    // The stand-ins' certificate, trusted by the workers from their start (see the file).
    globalSetup: ['test/global-setup.ts'],
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 120_000,
    // Outside the Functions host, @azure/functions runs in test mode and warns once per registration.
    onConsoleLog: (log) => !/test mode|Failed to detect the Azure Functions runtime/.test(log),
  },
});
