/** The standalone entry: the page without the console, as `flowgate serve` shows it at `/`. */
import '@patternfly/react-core/dist/styles/base.css';
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { I18nextProvider } from 'react-i18next';
import { createI18n } from '../i18n/createI18n';
import { StandaloneApp } from './StandaloneApp';

const root = document.getElementById('root');
if (root) {
  createRoot(root).render(
    <StrictMode>
      <I18nextProvider i18n={createI18n()}>
        <StandaloneApp />
      </I18nextProvider>
    </StrictMode>,
  );
}
