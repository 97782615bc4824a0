// Lint rules for the package: the shipped code (src, conformance-tests) is checked with type
// information (floating promises, unsafe any); tests, benchmarks and scripts with the
// syntactic rules only, which keeps `npm test` quick.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const typed = ['src/**/*.ts', 'conformance-tests/**/*.ts'];

export default tseslint.config(
  { ignores: ['dist/**', 'docs/**', 'node_modules/**', '.cache/**', '**/*.js', '**/*.mjs', '**/*.cjs'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      // `any` is sometimes the honest type at the edges (wire protocols, user JSON)
      '@typescript-eslint/no-explicit-any': 'off',
      'no-constant-condition': ['error', { checkLoops: false }],
      'no-empty': ['error', { allowEmptyCatch: true }],
      // `let x; [x, pos] = read(…)` and handles read by a closure before they are assigned
      'prefer-const': ['error', { destructuring: 'all', ignoreReadBeforeAssign: true }],
    },
  },
  {
    files: typed,
    ignores: ['**/*.test.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false } }],
      '@typescript-eslint/no-unsafe-assignment': 'error',
      '@typescript-eslint/no-unsafe-call': 'error',
      '@typescript-eslint/no-unsafe-member-access': 'error',
      '@typescript-eslint/no-unsafe-return': 'error',
      '@typescript-eslint/await-thenable': 'error',
    },
  },
);
