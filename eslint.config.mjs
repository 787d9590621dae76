import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

const frameworks = {
  paths: [
    {
      name: 'express',
      message: 'Only src/adapters/ may import a framework: the core is framework-free.',
    },
    {
      name: 'koa',
      message: 'Only src/adapters/ may import a framework: the core is framework-free.',
    },
    {
      name: 'http-proxy',
      message:
        'Only src/proxy/forward.ts may import http-proxy: the engine stays behind one module.',
    },
  ],
};

export default tseslint.config(
  {
    ignores: [
      'dist/**',
      '.run/**',
      '.node/**',
      'node_modules/**',
      'coverage/**',
      '**/*.cjs',
      '**/*.mjs',
      '**/*.js',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      globals: { ...globals.node },
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
      '@typescript-eslint/no-explicit-any': 'error',
    },
  },
  { files: ['src/**/*.ts'], rules: { 'no-restricted-imports': ['error', frameworks] } },
  {
    files: ['src/adapters/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { paths: [frameworks.paths[2]] }],
    },
  },
  {
    files: ['src/proxy/forward.ts'],
    rules: { 'no-restricted-imports': ['error', { paths: frameworks.paths.slice(0, 2) }] },
  },
  {
    files: ['test/**/*.ts', 'bench/**/*.ts', 'examples/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/unbound-method': 'off',
    },
  },
);
