/** An i18next instance with the bundled English strings, for the standalone page and tests. */
import i18next, { type i18n } from 'i18next';
import { initReactI18next } from 'react-i18next';
import en from '../../locales/en/plugin__flowgate.json';
import { NAMESPACE } from './useFlowgateTranslation';

export const createI18n = (): i18n => {
  const instance = i18next.createInstance();
  void instance.use(initReactI18next).init({
    lng: 'en',
    fallbackLng: 'en',
    ns: [NAMESPACE],
    defaultNS: NAMESPACE,
    resources: { en: { [NAMESPACE]: en } },
    // Keys are the English sentences, as in the console: no key or namespace separators in them.
    keySeparator: false,
    nsSeparator: '~',
    interpolation: { escapeValue: false },
    initAsync: false,
    returnNull: false,
    showSupportNotice: false,
  });
  return instance;
};
