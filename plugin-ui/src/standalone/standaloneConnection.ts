import { sameOriginWebSocketUrl, type GatewayConnection } from '../gateway/connection';
import { createHttpFetch } from '../gateway/request';
import { bearer } from './token';

/** GraphQL on the page's own origin, at `/graphql`. */
export const GRAPHQL_PATH = '/graphql';

/**
 * The standalone page's connection: `Authorization: Bearer …` on HTTP and
 * `{"authorization": "Bearer …"}` in connection_init, when there is a token.
 */
export const createStandaloneConnection = (
  token: string | null,
  onUnauthenticated?: () => void,
): GatewayConnection => {
  const headers = (): Record<string, string> => (token ? { Authorization: bearer(token) } : {});
  return {
    httpUrl: GRAPHQL_PATH,
    wsUrl: sameOriginWebSocketUrl(GRAPHQL_PATH),
    fetch: createHttpFetch(GRAPHQL_PATH, headers),
    connectionParams: () => (token ? { authorization: bearer(token) } : undefined),
    onUnauthenticated,
  };
};
