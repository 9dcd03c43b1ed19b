// Job fixtures are plain JavaScript modules loaded by the zygote, outside the TypeScript project,
// so the type-aware rules of the root config cannot parse them: they get JavaScript's rules only.
import js from '@eslint/js';

const node = ['process', 'console', 'setTimeout', 'setInterval', 'setImmediate', 'clearTimeout', 'Buffer', 'crypto'];

export default [
  js.configs.recommended,
  { languageOptions: { sourceType: 'module', globals: Object.fromEntries(node.map((name) => [name, 'readonly'])) } },
];
