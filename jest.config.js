/**
 * Three tiers, one jest run (`npm test` runs them all; `npm run test:unit` only the first):
 * - unit: one process, no sockets, no child processes (real onnxruntime in worker threads is fine);
 * - integration (`*.integration.test.ts`): real servers on loopback, Redis, NATS, OTLP, processes;
 * - e2e (`test/`, `*.e2e.test.ts`): the whole mesh as users run it, and the deployment files.
 * TypeScript is stripped by swc (type checks: npm run typecheck).
 */
const shared = {
  testEnvironment: '<rootDir>/jest.environment.js',
  transform: {
    '^.+\\.ts$': ['@swc/jest', { jsc: { parser: { syntax: 'typescript' }, target: 'es2022' }, module: { type: 'commonjs' } }],
  },
};
const packages = ['<rootDir>/libs/*/test/**/', '<rootDir>/services/*/test/**/'];

module.exports = {
  testTimeout: 60_000,
  projects: [
    {
      ...shared,
      displayName: 'unit',
      testMatch: packages.map((p) => `${p}*.test.ts`),
      testPathIgnorePatterns: ['/node_modules/', '\\.integration\\.test\\.ts$', '\\.e2e\\.test\\.ts$'],
    },
    { ...shared, displayName: 'integration', testMatch: packages.map((p) => `${p}*.integration.test.ts`) },
    { ...shared, displayName: 'e2e', testMatch: ['<rootDir>/test/**/*.test.ts', ...packages.map((p) => `${p}*.e2e.test.ts`)] },
  ],
};
