/**
 * Subscriptions over graphql-ws (graphql-transport-ws): one lazily opened socket that retries
 * forever with capped, randomised exponential backoff, and a keep-alive ping that closes a socket
 * whose pong does not come back, so a dead connection is noticed and retried.
 */
import { createClient, type Client } from 'graphql-ws';
import type {
  ConnectionStatus,
  GatewayConnection,
  GraphQLRequest,
  GraphQLResponse,
  SubscriptionSink,
  SubscriptionTransport,
} from './connection';

export interface WsTransportOptions {
  keepAliveMs?: number;
  pongTimeoutMs?: number;
  maxRetryDelayMs?: number;
  webSocketImpl?: unknown;
}

/** 1 s, 2 s, 4 s … up to the cap, each between half and all of that. */
export const retryDelayMs = (retries: number, maxMs = 30_000, random: () => number = Math.random): number =>
  Math.round(Math.min(maxMs, 1000 * 2 ** Math.min(retries, 16)) * (0.5 + random() / 2));

export const createWsTransport = (
  connection: Pick<GatewayConnection, 'wsUrl' | 'connectionParams'>,
  options: WsTransportOptions = {},
): SubscriptionTransport => {
  const { keepAliveMs = 10_000, pongTimeoutMs = 5_000, maxRetryDelayMs = 30_000, webSocketImpl } = options;
  let client: Client | null = null;
  let status: ConnectionStatus = 'connecting';
  let active = 0;
  const listeners = new Set<() => void>();

  const setStatus = (next: ConnectionStatus) => {
    if (status !== next) {
      status = next;
      listeners.forEach((listener) => {
        listener();
      });
    }
  };

  const open = (): Client => {
    let socket: WebSocket | null = null;
    let pongTimer: ReturnType<typeof setTimeout> | undefined;
    const opened = createClient({
      url: connection.wsUrl,
      connectionParams: () => connection.connectionParams() ?? {},
      lazy: true,
      retryAttempts: Infinity,
      shouldRetry: () => true,
      retryWait: (retries) =>
        new Promise((resolve) => {
          setTimeout(resolve, retryDelayMs(retries, maxRetryDelayMs));
        }),
      keepAlive: keepAliveMs,
      ...(webSocketImpl ? { webSocketImpl } : {}),
      on: {
        connecting: (isRetry) => {
          if (isRetry) {
            setStatus('reconnecting');
          }
        },
        connected: (connected) => {
          socket = connected as WebSocket;
          setStatus('connected');
        },
        ping: (received) => {
          if (!received && pongTimeoutMs > 0) {
            clearTimeout(pongTimer);
            pongTimer = setTimeout(() => {
              if (socket?.readyState === WebSocket.OPEN) {
                socket.close(4408, 'Request Timeout');
              }
            }, pongTimeoutMs);
          }
        },
        pong: (received) => {
          if (received) {
            clearTimeout(pongTimer);
          }
        },
        closed: () => {
          clearTimeout(pongTimer);
          socket = null;
          if (client === opened && active > 0) {
            setStatus('reconnecting');
          }
        },
      },
    });
    return opened;
  };

  return {
    subscribe: <T>(request: GraphQLRequest, sink: SubscriptionSink<T>) => {
      client ??= open();
      active += 1;
      let done = false;
      const finish = () => {
        if (!done) {
          done = true;
          active -= 1;
        }
      };
      const unsubscribe = client.subscribe<T>(
        { query: request.query, variables: request.variables, operationName: request.operationName },
        {
          next: (result) => {
            sink.next(result as GraphQLResponse<T>);
          },
          error: (error) => {
            finish();
            sink.error(error);
          },
          complete: () => {
            finish();
            sink.complete();
          },
        },
      );
      return () => {
        finish();
        unsubscribe();
      };
    },
    getStatus: () => status,
    onStatus: (listener) => {
      listeners.add(listener);
      return () => {
        listeners.delete(listener);
      };
    },
    dispose: () => {
      const closing = client;
      client = null;
      active = 0;
      status = 'connecting';
      void closing?.dispose();
    },
  };
};
