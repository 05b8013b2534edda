import type { FC } from 'react';
import { Alert, Content } from '@patternfly/react-core';
import { useFlowgateTranslation } from '../i18n/useFlowgateTranslation';
import type { ConnectionDiagnosis } from './useConnectionDiagnosis';

const GATEWAY_PODS = 'oc -n flowgate get pods -l app.kubernetes.io/component=gateway';
const GATEWAY_LOG = 'oc -n flowgate logs deployment/flowgate-gateway';

/** Why the live table is not live, once the connection has failed a few times in a row, and what to do. */
export const ConnectionTroubleAlert: FC<{ diagnosis: ConnectionDiagnosis }> = ({ diagnosis }) => {
  const { t } = useFlowgateTranslation();
  const { trouble, http } = diagnosis;
  const close =
    trouble.closeCode === null
      ? t('no close code')
      : trouble.closeReason
        ? `${String(trouble.closeCode)}: ${trouble.closeReason}`
        : String(trouble.closeCode);

  let seen: string;
  let todo: string;
  if (http === undefined) {
    seen = t('Asking the gateway over HTTP why…');
    todo = '';
  } else if (http === null) {
    seen = t('The gateway answers requests, so it runs and lets you in; only its live connection fails.');
    todo = t(
      'A proxy between your browser and the console may block WebSockets, or the gateway refuses the console. An administrator finds the reason in the gateway log: {{command}}',
      { command: GATEWAY_LOG },
    );
  } else {
    if (http.status !== undefined) {
      seen = http.message; // "The request to the gateway was answered HTTP 502 Bad Gateway: …"
    } else if (http.errors.length > 0) {
      seen = t('Asked over HTTP, the gateway answered {{code}}: {{message}}', {
        code: http.code ?? '',
        message: http.message,
      });
    } else {
      seen = t('Asking the gateway over HTTP failed too: {{message}}', { message: http.message });
    }
    if (http.code === 'UNAUTHENTICATED' || http.status === 401) {
      todo = t('Your console session is not accepted: log out of the console and log in again.');
    } else if (http.code === 'FORBIDDEN' || http.status === 403) {
      todo = t('Ask a cluster administrator for the flowgate-viewer role to see flow export, or flowgate-admin to switch it.');
    } else if (http.status === undefined || http.status >= 500) {
      todo = t('The gateway cannot be reached. An administrator can check that its pods run and are ready: {{command}}', {
        command: GATEWAY_PODS,
      });
    } else {
      todo = t('An administrator finds more in the gateway log: {{command}}', { command: GATEWAY_LOG });
    }
  }

  return (
    <Alert
      isInline
      component="h2"
      variant="danger"
      title={t('The live connection to the gateway keeps failing')}
      data-test="connection-trouble"
    >
      <Content component="p">
        {t('{{count}} attempts in a row ended before the gateway accepted them (last close: {{close}}).', {
          count: trouble.refusals,
          close,
        })}
      </Content>
      <Content component="p" data-test="connection-trouble-seen">
        {seen}
      </Content>
      {todo && (
        <Content component="p" data-test="connection-trouble-todo">
          {todo}
        </Content>
      )}
    </Alert>
  );
};
