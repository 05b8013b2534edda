import { useTranslation } from 'react-i18next';

/** The plugin's i18next namespace; the console loads locales/<lng>/plugin__flowgate.json. */
export const NAMESPACE = 'plugin__flowgate';

export const useFlowgateTranslation = () => useTranslation(NAMESPACE);
