// ESLint (flat config): JavaScript's and typescript-eslint's recommended rules over every source
// file; formatting is Prettier's (.prettierrc.json), not ESLint's. Layering is checked by
// test/arch/layers.test.ts.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

export default tseslint.config(
  { ignores: ['node_modules/', 'out/', 'dist/', '.obt-cache/', 'test-results/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node, ...globals.browser } },
    rules: {
      // tsc (noUnusedLocals) reports unused names; `_`-prefixed parameters are intentional
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' },
      ],
      // `import { type A }` leaves an empty import at run time: write `import type { A }`
      '@typescript-eslint/no-import-type-side-effects': 'error',
    },
  },
  {
    // the VS Code extension is CommonJS (VS Code requires it; its package.json has no "type")
    files: ['editors/vscode/**/*.js'],
    languageOptions: { sourceType: 'commonjs' },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
);
