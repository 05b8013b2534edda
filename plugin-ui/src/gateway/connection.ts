/**
 * How the page reaches the gateway. The console entry and the standalone entry each build one;
 * the page itself never knows which it runs in.
 */
import type { GraphQLErrorPayload } from './errors';

export interface GraphQLRequest {
  query: string;
  variables?: Record<string, unknown>;
  operationName?: string;
}

export interface GraphQLResponse<T> {
  data?: T | null;
  errors?: GraphQLErrorPayload[];
}

/** Sends one query or mutation over HTTP and resolves with the GraphQL response body. */
export type GraphQLFetch = <T>(request: GraphQLRequest) => Promise<GraphQLResponse<T>>;

export type ConnectionStatus = 'connecting' | 'connected' | 'reconnecting';

export interface SubscriptionSink<T> {
  next: (result: GraphQLResponse<T>) => void;
  /** The subscription ended with an error: GraphQL errors, or a connection that gave up. */
  error: (error: unknown) => void;
  complete: () => void;
}

/** Connection attempts in a row that ended before the gateway accepted them. */
export interface ConnectionTrouble {
  readonly refusals: number;
  /** How the last attempt closed, as the browser saw it (1006: no reason given, e.g. refused). */
  readonly closeCode: number | null;
  readonly closeReason: string;
}

/** Subscriptions over one (re)connecting WebSocket. */
export interface SubscriptionTransport {
  /** Starts a subscription; the returned function ends it. */
  subscribe: <T>(request: GraphQLRequest, sink: SubscriptionSink<T>) => () => void;
  /** The WebSocket's state, for useSyncExternalStore. */
  getStatus: () => ConnectionStatus;
  onStatus: (listener: () => void) => () => void;
  /** Failed attempts since the socket was last accepted, or null (for useSyncExternalStore, with onStatus). */
  getTrouble?: () => ConnectionTrouble | null;
  /** Closes the socket; a later subscribe opens a new one. */
  dispose: () => void;
}

export interface GatewayConnection {
  /** GraphQL over HTTP, e.g. `/graphql`. */
  httpUrl: string;
  /** GraphQL over WebSocket (graphql-transport-ws), e.g. `wss://host/graphql`. */
  wsUrl: string;
  /** Queries and mutations. */
  fetch: GraphQLFetch;
  /** The connection_init payload, read on every (re)connect. */
  connectionParams: () => Record<string, unknown> | undefined;
  /** Subscriptions; the page opens a graphql-ws transport on wsUrl when this is absent. */
  createTransport?: () => SubscriptionTransport;
  /** Called when the gateway answers UNAUTHENTICATED (the standalone entry asks for a token again). */
  onUnauthenticated?: () => void;
}

/** The WebSocket URL for an HTTP path on the page's own host (ws: under http:, wss: under https:). */
export const sameOriginWebSocketUrl = (path: string, location: Pick<Location, 'protocol' | 'host'> = window.location): string =>
  `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}${path}`;
