import type { ReactElement } from 'react';
import { render, type RenderResult } from '@testing-library/react';
import { I18nextProvider } from 'react-i18next';
import { createI18n } from '../i18n/createI18n';

const i18n = createI18n();

/** Renders with the real English strings. */
export const renderWithI18n = (ui: ReactElement): RenderResult =>
  render(<I18nextProvider i18n={i18n}>{ui}</I18nextProvider>, {
    wrapper: undefined,
  });
