/**
 * Lint that holds the layout: a service never reaches into another service (shared code lives in
 * libs/), imports stay sorted, lines stay readable. A small rule set on purpose: each rule here
 * passes today, so a finding is always news. `npm run lint` runs this and knip (knip.json).
 */
const path = require('node:path');
const tseslint = require('typescript-eslint');
const simpleImportSort = require('eslint-plugin-simple-import-sort');

const SERVICES = ['feedback', 'gateway', 'inference', 'router', 'supervisor', 'tokenizer'];
const SERVICE_PACKAGES = SERVICES.map((s) => (s === 'tokenizer' ? '@tokenmesh/tokenizer-service' : `@tokenmesh/${s}`));
const servicesDir = path.join(__dirname, 'services');

/** A relative import that leaves its own service for another one (package names are caught below). */
const noCrossServicePath = {
  meta: { type: 'problem', schema: [], messages: { cross: "'{{source}}' reaches into services/{{other}}: move the shared code to libs/." } },
  create(context) {
    const own = path.relative(servicesDir, context.filename).split(path.sep)[0];
    const check = (node) => {
      const source = node.source && node.source.value;
      if (typeof source !== 'string' || !source.startsWith('.')) return;
      const target = path.relative(servicesDir, path.resolve(path.dirname(context.filename), source));
      const other = target.split(path.sep)[0];
      if (!target.startsWith('..') && other !== own) context.report({ node: node.source, messageId: 'cross', data: { source, other } });
    };
    return { ImportDeclaration: check, ExportNamedDeclaration: check, ExportAllDeclaration: check, ImportExpression: check };
  },
};

const noServicePackages = {
  'no-restricted-imports': [
    'error',
    {
      paths: SERVICE_PACKAGES.map((name) => ({ name, message: 'a service never imports another service: move the shared code to libs/.' })),
      patterns: [{ group: SERVICE_PACKAGES.map((p) => `${p}/*`), message: 'a service never imports another service.' }],
    },
  ],
};

module.exports = tseslint.config(
  { ignores: ['**/node_modules/**', 'build/**', 'models/**', 'libs/proto/src/gen/**', 'deploy/**', 'docs/**'] },
  {
    files: ['libs/*/src/**/*.ts', 'libs/*/test/**/*.ts', 'services/*/src/**/*.ts', 'services/*/test/**/*.ts', 'test/**/*.ts', 'scripts/**/*.ts'],
    languageOptions: { parser: tseslint.parser, ecmaVersion: 2022, sourceType: 'module' },
    plugins: {
      '@typescript-eslint': tseslint.plugin,
      'simple-import-sort': simpleImportSort,
      tokenmesh: { rules: { 'no-cross-service-path': noCrossServicePath } },
    },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      'require-yield': 'error',
      'comma-spacing': 'error', // simple-import-sort's fix joins a moved specifier with a bare comma
      // The default groups, after one of its own: a main's ./telemetry must load before grpc-js and http do.
      'simple-import-sort/imports': ['error', { groups: [['^\\./(caller-)?telemetry$'], ['^\\u0000'], ['^node:'], ['^@?\\w'], ['^'], ['^\\.']] }],
      'simple-import-sort/exports': 'error',
      'no-duplicate-imports': ['error', { includeExports: false, allowSeparateTypeImports: true }],
      'max-len': [
        'error',
        { code: 160, ignoreUrls: true, ignoreStrings: true, ignoreTemplateLiterals: true, ignoreRegExpLiterals: true, ignoreComments: false },
      ],
      '@typescript-eslint/no-unused-vars': [
        'error',
        { args: 'after-used', argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none', ignoreRestSiblings: true },
      ],
    },
  },
  // Production code of a service, and libs: no other service. The supervisor composes the services.
  {
    files: ['libs/*/src/**/*.ts', 'services/*/src/**/*.ts', 'services/*/test/**/*.ts'],
    ignores: ['services/supervisor/src/**'],
    rules: { ...noServicePackages, 'tokenmesh/no-cross-service-path': 'error' },
  },
  // Tests that run the gateway against the real services in one process (they were written so).
  {
    files: [
      'services/gateway/test/in-memory-mesh.ts',
      'services/gateway/test/pipeline/generate-text.integration.test.ts',
      'services/gateway/test/pipeline/local-tokenizer.test.ts',
    ],
    rules: { 'no-restricted-imports': 'off' },
  },
);
