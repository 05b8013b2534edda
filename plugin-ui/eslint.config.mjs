import eslint from '@eslint/js';
import tseslint from 'typescript-eslint';
import react from 'eslint-plugin-react';
import reactHooks from 'eslint-plugin-react-hooks';
import globals from 'globals';

export default tseslint.config(
  {
    ignores: ['dist/', 'dist-standalone/', 'dist-graphiql/', 'node_modules/', 'coverage/'],
  },
  eslint.configs.recommended,
  {
    files: ['src/**/*.{ts,tsx}', '__mocks__/**/*.{ts,tsx}', 'setup-tests.ts'],
    extends: [tseslint.configs.strictTypeChecked, tseslint.configs.stylisticTypeChecked],
    plugins: { react },
    languageOptions: {
      globals: globals.browser,
      parserOptions: {
        projectService: true,
        tsconfigRootDir: import.meta.dirname,
        ecmaFeatures: { jsx: true },
      },
    },
    settings: { react: { version: 'detect' } },
    rules: {
      ...react.configs.recommended.rules,
      ...react.configs['jsx-runtime'].rules,
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true }],
      // TypeScript checks props.
      'react/prop-types': 'off',
    },
  },
  reactHooks.configs.flat['recommended-latest'],
  {
    files: ['src/**/*.spec.{ts,tsx}', 'src/testing/**', '__mocks__/**'],
    languageOptions: { globals: { ...globals.jest, ...globals.node } },
    rules: {
      // Tests reach into mocks and GraphQL variables whose shapes they know.
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/unbound-method': 'off',
      // act(async () => render(…)) flushes effects and promises even without an await inside.
      '@typescript-eslint/require-await': 'off',
    },
  },
  {
    files: ['*.js', 'scripts/**/*.js'],
    languageOptions: { globals: globals.node, sourceType: 'commonjs' },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
);
