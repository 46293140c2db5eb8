/** One jest run over every workspace; TypeScript is stripped by swc (type checks: npm run typecheck). */
module.exports = {
  testEnvironment: '<rootDir>/jest.environment.js',
  testMatch: ['<rootDir>/libs/*/test/**/*.test.ts', '<rootDir>/services/*/test/**/*.test.ts', '<rootDir>/test/**/*.test.ts'],
  transform: {
    '^.+\\.ts$': [
      '@swc/jest',
      { jsc: { parser: { syntax: 'typescript' }, target: 'es2022' }, module: { type: 'commonjs' } },
    ],
  },
  testTimeout: 60_000,
};
