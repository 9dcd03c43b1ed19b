// Lint rules for the whole repository: typescript-eslint's type-aware recommended set.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'test/cluster/bin/', 'test/cluster/.work/', '**/*.cjs', 'test/fixtures/jobs/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: { allowDefaultProject: ['eslint.config.js'] }, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      // node:test's describe/it return promises the runner itself awaits.
      '@typescript-eslint/no-floating-promises': ['error', {
        allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['describe', 'it', 'test', 'suite'] }],
      }],
      'no-console': 'error',
    },
  },
  {
    // Entry points, tests and scripts may talk to the terminal; library code logs through pino.
    files: ['test/**', 'scripts/**', '**/bin.ts', 'cli/**'],
    rules: { 'no-console': 'off' },
  },
);
