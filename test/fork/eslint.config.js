// The root config, plus: the job fixtures are plain JavaScript modules loaded by the zygote, outside
// the TypeScript project, so they (and this file) are linted without type information.
import tseslint from 'typescript-eslint';
import root from '../../eslint.config.js';

const readonly = (names) => Object.fromEntries(names.map((name) => [name, 'readonly']));
const node = readonly(['process', 'console', 'setTimeout', 'setInterval', 'setImmediate', 'clearTimeout', 'Buffer', 'crypto', 'URL']);

export default tseslint.config(
  ...root,
  // The root's own exception for tests, whose patterns are relative to the root.
  { rules: { 'no-console': 'off' } },
  {
    files: ['jobs/**/*.js', 'jobs/**/*.mjs', 'jobs/**/*.cjs', 'eslint.config.js'],
    extends: [tseslint.configs.disableTypeChecked],
    languageOptions: { sourceType: 'module', globals: node },
  },
  {
    files: ['jobs/**/*.cjs'],
    languageOptions: { sourceType: 'commonjs', globals: { ...node, ...readonly(['require', 'exports', 'module']) } },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  { ignores: ['!jobs/**/*.cjs'] },
);
