/**
 * The console entry: the Network Flows page inside the OpenShift console. Queries and mutations
 * go through the SDK's consoleFetchJSON (it adds the CSRF header the console checks) to the
 * console's proxy for the plugin's `gateway` service, which adds the user's bearer token; the
 * WebSocket goes to the same proxy path. Only this module and the access flag import the SDK.
 */
import { useMemo, type FC } from 'react';
import { consoleFetchJSON, DocumentTitle } from '@openshift-console/dynamic-plugin-sdk';
import { sameOriginWebSocketUrl, type GatewayConnection, type GraphQLRequest, type GraphQLResponse } from '../gateway/connection';
import { GatewayError } from '../gateway/errors';
import { httpFailure } from '../gateway/request';
import { FlowsPage } from '../flows/FlowsPage';
import { useFlowgateTranslation } from '../i18n/useFlowgateTranslation';

export const CONSOLE_GATEWAY_PATH = '/api/proxy/plugin/flowgate/gateway/graphql';

const hasGraphQLBody = (value: unknown): value is GraphQLResponse<unknown> =>
  typeof value === 'object' && value !== null && ('errors' in value || 'data' in value);

/**
 * consoleFetch's HttpError (code: the HTTP status) as a GatewayError that says what answered: the
 * console's proxy answers 502 with "Failed to dial backend: …" when the gateway cannot be reached.
 */
const fromHttpError = async (error: unknown): Promise<unknown> => {
  const { code, response } = (error ?? {}) as { code?: unknown; response?: Partial<Response> };
  if (typeof code !== 'number' || typeof response?.text !== 'function') {
    return error;
  }
  const body = response.bodyUsed ? '' : await response.text().catch(() => '');
  return new GatewayError(httpFailure(code, response.statusText ?? '', body), 'NETWORK', [], code);
};

export const createConsoleConnection = (): GatewayConnection => ({
  httpUrl: CONSOLE_GATEWAY_PATH,
  wsUrl: sameOriginWebSocketUrl(CONSOLE_GATEWAY_PATH),
  fetch: async <T,>(request: GraphQLRequest): Promise<GraphQLResponse<T>> => {
    try {
      return (await consoleFetchJSON.post(CONSOLE_GATEWAY_PATH, request)) as GraphQLResponse<T>;
    } catch (error) {
      // A non-2xx answer that still carries GraphQL errors is an answer, not a failure.
      const body: unknown = (error as { json?: unknown } | null)?.json;
      if (hasGraphQLBody(body)) {
        return body as GraphQLResponse<T>;
      }
      throw await fromHttpError(error);
    }
  },
  // The console's proxy authenticates the socket; nothing to send in connection_init.
  connectionParams: () => undefined,
});

const NetworkFlowsPage: FC = () => {
  const { t } = useFlowgateTranslation();
  const connection = useMemo(() => createConsoleConnection(), []);
  return (
    <>
      <DocumentTitle>{t('Network Flows')}</DocumentTitle>
      <FlowsPage connection={connection} />
    </>
  );
};

export default NetworkFlowsPage;
