// @ts-check
/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'jsdom',
  testRegex: 'src/.*\\.spec\\.(ts|tsx)$',
  moduleNameMapper: {
    '\\.css$': '<rootDir>/__mocks__/styleMock.ts',
  },
  transform: {
    '^.+\\.(t|j)sx?$': [
      '@swc/jest',
      {
        jsc: {
          parser: { syntax: 'typescript', tsx: true },
          transform: { react: { runtime: 'automatic' } },
          target: 'es2021',
        },
        module: { type: 'commonjs' },
      },
    ],
  },
  // graphql-ws ships ESM only.
  transformIgnorePatterns: ['/node_modules/(?!graphql-ws/)'],
  setupFilesAfterEnv: ['<rootDir>/setup-tests.ts'],
  // A bound only a hang breaks: a test that types into a form takes a few seconds on a busy
  // machine, which jest's default of 5 s does not allow.
  testTimeout: 30_000,
};
