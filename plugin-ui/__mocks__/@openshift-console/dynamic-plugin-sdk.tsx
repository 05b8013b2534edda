/*
 * The console provides the SDK at run time through module federation; tests get these stubs.
 * consoleFetchJSON is a jest mock so a test can answer for the gateway.
 */
import type { FC, ReactNode } from 'react';

export const consoleFetchJSON = Object.assign(jest.fn(), {
  post: jest.fn(),
  put: jest.fn(),
  patch: jest.fn(),
  delete: jest.fn(),
});

export const consoleFetch = jest.fn();

export const DocumentTitle: FC<{ children?: ReactNode }> = () => null;
