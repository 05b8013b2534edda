/**
 * Subscriptions over graphql-ws (graphql-transport-ws): one lazily opened socket that retries
 * forever with capped, randomised exponential backoff, and a keep-alive ping that closes a socket
 * whose pong does not come back, so a dead connection is noticed and retried. A gateway that goes
 * away (1001: a replica stopping in a rolling update) is left at once: the page comes back after a
 * random delay within RECONNECT_SPREAD_MS, so that thousands of pages spread over the other
 * replicas, and the new subscription's snapshot brings whatever changed meanwhile.
 */
import { createClient, type Client } from 'graphql-ws';
import type {
  ConnectionStatus,
  ConnectionTrouble,
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

/** The close code of a gateway shutting down (RFC 6455 Going Away). */
export const GOING_AWAY = 1001;
/** Pages told to go away come back within this window, each at a random moment in it. */
export const RECONNECT_SPREAD_MS = 2_000;

/** The wait before the next attempt: at once (within the spread) after 1001, else the backoff. */
export const reconnectDelayMs = (
  lastCloseCode: number | undefined,
  retries: number,
  maxMs = 30_000,
  random: () => number = Math.random,
): number =>
  lastCloseCode === GOING_AWAY ? Math.round(random() * RECONNECT_SPREAD_MS) : retryDelayMs(retries, maxMs, random);

export const createWsTransport = (
  connection: Pick<GatewayConnection, 'wsUrl' | 'connectionParams'>,
  options: WsTransportOptions = {},
): SubscriptionTransport => {
  const { keepAliveMs = 10_000, pongTimeoutMs = 5_000, maxRetryDelayMs = 30_000, webSocketImpl } = options;
  let client: Client | null = null;
  let status: ConnectionStatus = 'connecting';
  let trouble: ConnectionTrouble | null = null;
  let active = 0;
  const listeners = new Set<() => void>();
  const notify = () => {
    listeners.forEach((listener) => {
      listener();
    });
  };

  const setStatus = (next: ConnectionStatus) => {
    if (status !== next) {
      status = next;
      notify();
    }
  };

  const open = (): Client => {
    let socket: WebSocket | null = null;
    let accepted = false;
    let pongTimer: ReturnType<typeof setTimeout> | undefined;
    let lastCloseCode: number | undefined;
    const opened = createClient({
      url: connection.wsUrl,
      connectionParams: () => connection.connectionParams() ?? {},
      lazy: true,
      retryAttempts: Infinity,
      shouldRetry: () => true,
      retryWait: (retries) =>
        new Promise((resolve) => {
          const delay = reconnectDelayMs(lastCloseCode, retries, maxRetryDelayMs);
          lastCloseCode = undefined; // a failed attempt after it backs off as usual
          setTimeout(resolve, delay);
        }),
      keepAlive: keepAliveMs,
      ...(webSocketImpl ? { webSocketImpl } : {}),
      on: {
        connecting: (isRetry) => {
          accepted = false;
          if (isRetry) {
            setStatus('reconnecting');
          }
        },
        connected: (connected) => {
          socket = connected as WebSocket;
          accepted = true;
          if (trouble) {
            trouble = null;
            notify();
          }
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
        closed: (event) => {
          lastCloseCode = (event as CloseEvent | undefined)?.code;
          clearTimeout(pongTimer);
          socket = null;
          if (!accepted && client === opened) {
            // Refused, or closed before connection_ack: the page explains after a few in a row.
            const { code, reason } = (event ?? {}) as { code?: unknown; reason?: unknown };
            trouble = {
              refusals: (trouble?.refusals ?? 0) + 1,
              closeCode: typeof code === 'number' ? code : null,
              closeReason: typeof reason === 'string' ? reason : '',
            };
            notify();
          }
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
    getTrouble: () => trouble,
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
      trouble = null;
      void closing?.dispose();
    },
  };
};
