// A small rule set: what catches real mistakes (typescript-eslint's recommended set, without the
// type-aware rules, so lint stays fast) plus a few house rules. Formatting is not linted.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', 'data/**', 'test/fixtures/openapi-client/generated/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { ecmaVersion: 2023, sourceType: 'module' },
    rules: {
      eqeqeq: ['error', 'always', { null: 'ignore' }],
      'no-console': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      '@typescript-eslint/no-explicit-any': 'error',
      // Decorator and class-validator signatures are typed with Function.
      '@typescript-eslint/no-unsafe-function-type': 'off',
      // Flags defensive initial values (`let x = null` before a try) more than mistakes.
      'no-useless-assignment': 'off',
    },
  },
  {
    // Tests and benches load built code and native modules with require() on purpose, and pin
    // aligned text with literal spaces.
    files: ['test/**', 'src/**/*.spec.ts'],
    rules: { '@typescript-eslint/no-require-imports': 'off', 'no-regex-spaces': 'off' },
  },
  {
    files: ['**/*.js', '**/*.cjs'],
    languageOptions: { sourceType: 'commonjs', globals: { require: 'readonly', module: 'writable', __dirname: 'readonly', __filename: 'readonly', process: 'readonly', console: 'readonly' } },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
);
