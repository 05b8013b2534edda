import type { GatewayConnection, GraphQLRequest, GraphQLResponse } from './connection';
import { GatewayError, toGatewayError } from './errors';

/** Runs a query or mutation and returns its data, or throws a GatewayError. */
export const requestData = async <T>(connection: GatewayConnection, request: GraphQLRequest): Promise<T> => {
  let response;
  try {
    response = await connection.fetch<T>(request);
  } catch (error) {
    throw toGatewayError(error);
  }
  if (response.errors?.length) {
    const error = GatewayError.fromGraphQLErrors(response.errors);
    if (error.code === 'UNAUTHENTICATED') {
      connection.onUnauthenticated?.();
    }
    throw error;
  }
  if (response.data == null) {
    throw new GatewayError('The gateway answered without data.');
  }
  return response.data;
};

/**
 * A GraphQLFetch over window.fetch with extra headers (the standalone entry's bearer token).
 * A non-2xx answer that still carries GraphQL errors resolves with them.
 */
export const createHttpFetch =
  (url: string, headers: () => Record<string, string> = () => ({})) =>
  async <T>(request: GraphQLRequest): Promise<GraphQLResponse<T>> => {
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json', ...headers() },
      body: JSON.stringify(request),
      credentials: 'same-origin',
    });
    const text = await response.text().catch(() => '');
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    if (body && typeof body === 'object' && ('data' in body || 'errors' in body)) {
      return body as GraphQLResponse<T>;
    }
    throw new GatewayError(httpFailure(response.status, response.statusText, text), 'NETWORK', [], response.status);
  };

/**
 * "The request to the gateway was answered HTTP 502 Bad Gateway: <the first line of the body>"
 * (a proxy on the way may have answered, not the gateway).
 */
export const httpFailure = (status: number, statusText: string, body: string): string => {
  const said = body.trim().split('\n')[0].slice(0, 300);
  const answered = `The request to the gateway was answered HTTP ${String(status)} ${statusText}`.trim();
  return said && said !== statusText ? `${answered}: ${said}` : `${answered}.`;
};
