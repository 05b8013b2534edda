/** GraphiQL for the gateway, bundled (no CDN); served by the gateway at GET /graphql for browsers. */
import 'graphiql/graphiql.css';
import './graphiql-page.css';
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { GraphiQL } from 'graphiql';
import { sameOriginWebSocketUrl } from '../gateway/connection';
import { bearer, readToken } from '../standalone/token';
import { createFlowgateFetcher } from './fetcher';

const GRAPHQL_PATH = '/graphql';

const DEFAULT_QUERY = `# flowgate's GraphQL API. Put your token in Headers: {"Authorization": "Bearer …"}
# (it is also sent in the WebSocket's connection_init for subscriptions).

query Flows {
  viewer { user canSwitch reason }
  flows {
    enabled
    type
    supported
    unsupportedReason
    collector { description }
    summary { total emitting pending error disabled }
  }
}

subscription Table {
  flowsTable {
    snapshot
    changed { node state type endpoint message updatedAt }
    removed
  }
}
`;

const fetcher = createFlowgateFetcher({ url: GRAPHQL_PATH, subscriptionUrl: sameOriginWebSocketUrl(GRAPHQL_PATH) });
// Signed in on the standalone page in this tab: start with that token in the header editor.
const token = readToken();
const defaultHeaders = token ? JSON.stringify({ Authorization: bearer(token) }, null, 2) : undefined;

const root = document.getElementById('graphiql');
if (root) {
  createRoot(root).render(
    <StrictMode>
      <GraphiQL
        fetcher={fetcher}
        defaultQuery={DEFAULT_QUERY}
        defaultHeaders={defaultHeaders}
        isHeadersEditorEnabled
        shouldPersistHeaders={false}
        defaultEditorToolsVisibility="headers"
      />
    </StrictMode>,
  );
}
