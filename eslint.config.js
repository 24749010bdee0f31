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
              group: ['../activities/*', '../lib/*', '../db/*'],
              message: 'Workflows import activity TYPES only (import type).',
              allowTypeImports: true,
            },
          ],
        },
      ],
    },
  },
);
