import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/', 'data/', 'db/migrations/', '.venv/', 'models/**/*.py'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // Workflows run in Temporal's deterministic sandbox: no Node APIs, no activity implementations.
    files: ['workflows/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['node:*', 'fs', 'path', 'child_process', 'os'],
              message: 'Workflows must stay deterministic.',
            },
            {
              // lib/errors.ts has no imports (the cause-chain unwrapper): safe in the bundle.
              group: ['../activities/*', '../lib/*', '!../lib/errors.ts', '../db/*'],
              message: 'Workflows import activity TYPES only (import type).',
              allowTypeImports: true,
            },
            {
              group: ['../local/*', '../cli/*', '../workers/*'],
              message: 'Workflows share only workflows/contract.ts with the rest.',
            },
          ],
        },
      ],
    },
  },
  {
    // The dashboard's script runs in the browser (no build step, no bundler).
    files: ['monitor/public/**/*.js'],
    languageOptions: {
      sourceType: 'module',
      globals: Object.fromEntries(
        ['document', 'window', 'location', 'fetch', 'sessionStorage', 'prompt', 'alert', 'Node']
          .concat(['URLSearchParams', 'setInterval'])
          .map((name) => [name, 'readonly']),
      ),
    },
  },
  {
    // lib/config.ts is the only reader of the environment: settings are validated in one place
    // and documented in the README. Tests and benchmarks may read it (to pass the CI's settings on to the
    // programs they start) and build environments for child processes, so test/ is exempt.
    files: ['**/*.{ts,js,mjs}'],
    ignores: ['lib/config.ts', 'test/**', 'bench/**'],
    rules: {
      'no-restricted-properties': [
        'error',
        {
          object: 'process',
          property: 'env',
          message: 'Read settings from Config (lib/config.ts); child processes get inheritedEnv().',
        },
      ],
    },
  },
);
