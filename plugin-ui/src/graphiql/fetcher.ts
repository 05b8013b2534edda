/**
 * GraphiQL's fetcher for the gateway: HTTP POST to /graphql, subscriptions over graphql-ws on
 * ws(s)://<host>/graphql. The header editor's Authorization value goes with every HTTP request
 * and, for subscriptions, into the connection_init payload as {"authorization": "Bearer …"}: one
 * WebSocket client per distinct value, the previous one closed when the value changes.
 */
import { createGraphiQLFetcher, type Fetcher, type FetcherOpts, type FetcherParams } from '@graphiql/toolkit';
import { createClient, type Client } from 'graphql-ws';
import { Kind, OperationTypeNode, parse, type DocumentNode, type OperationDefinitionNode } from 'graphql';
import { retryDelayMs } from '../gateway/wsTransport';

export const isSubscription = (document: DocumentNode | undefined, operationName: string | null | undefined): boolean => {
  const operations = (document?.definitions ?? []).filter(
    (definition): definition is OperationDefinitionNode => definition.kind === Kind.OPERATION_DEFINITION,
  );
  const operation = operationName
    ? operations.find((definition) => definition.name?.value === operationName)
    : operations.length === 1
      ? operations[0]
      : undefined;
  return operation?.operation === OperationTypeNode.SUBSCRIPTION;
};

/** The document of a query text; undefined when it does not parse (the gateway then says why). */
const documentOf = (query: string): DocumentNode | undefined => {
  try {
    return parse(query);
  } catch {
    return undefined;
  }
};

/** The Authorization header from the header editor, whatever its case. */
export const authorizationOf = (headers: Record<string, unknown> | undefined): string | undefined => {
  for (const [key, value] of Object.entries(headers ?? {})) {
    if (key.toLowerCase() === 'authorization' && typeof value === 'string' && value.trim()) {
      return value.trim();
    }
  }
  return undefined;
};

export interface FlowgateFetcherOptions {
  url: string;
  subscriptionUrl: string;
  createWsClient?: (connectionParams: Record<string, unknown>) => Client;
}

export const createFlowgateFetcher = ({ url, subscriptionUrl, createWsClient }: FlowgateFetcherOptions): Fetcher => {
  const http = createGraphiQLFetcher({ url });
  const newClient =
    createWsClient ??
    ((connectionParams: Record<string, unknown>) =>
      createClient({
        url: subscriptionUrl,
        connectionParams,
        retryAttempts: 5,
        retryWait: (retries) =>
          new Promise((resolve) => {
            setTimeout(resolve, retryDelayMs(retries));
          }),
      }));
  let socket: { authorization: string | undefined; fetcher: Fetcher; client: Client } | null = null;

  const subscriptionFetcher = (authorization: string | undefined): Fetcher => {
    if (socket && socket.authorization === authorization) {
      return socket.fetcher;
    }
    void socket?.client.dispose();
    const client = newClient(authorization ? { authorization } : {});
    const fetcher = createGraphiQLFetcher({ url, wsClient: client });
    socket = { authorization, client, fetcher };
    return fetcher;
  };

  return (params: FetcherParams, options?: FetcherOpts) => {
    // The text being sent decides, not GraphiQL's documentAST: that is parsed from the editor a
    // moment after each edit, so a run right after typing would go the previous document's way
    // (a new subscription over HTTP). The toolkit's fetcher looks at documentAST too.
    const document = documentOf(params.query);
    if (isSubscription(document, params.operationName)) {
      return subscriptionFetcher(authorizationOf(options?.headers))(params, { ...options, documentAST: document });
    }
    return http(params, options);
  };
};
