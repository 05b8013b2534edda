import { useEffect, useState } from 'react';
import type { GatewayConnection } from '../gateway/connection';
import { toGatewayError, type GatewayError } from '../gateway/errors';
import { requestData } from '../gateway/request';
import type { Viewer } from '../gateway/types';
import { VIEWER_QUERY } from '../graphql/operations';

export interface ViewerResult {
  viewer: Viewer | null;
  error: GatewayError | null;
}

/** Who the gateway says the caller is and whether they may switch flow export. */
export const useViewer = (connection: GatewayConnection): ViewerResult => {
  const [result, setResult] = useState<ViewerResult & { connection: GatewayConnection | null }>({
    viewer: null,
    error: null,
    connection: null,
  });
  useEffect(() => {
    let current = true;
    requestData<{ viewer: Viewer }>(connection, { query: VIEWER_QUERY, operationName: 'Viewer' }).then(
      (data) => {
        if (current) {
          setResult({ viewer: data.viewer, error: null, connection });
        }
      },
      (error: unknown) => {
        if (current) {
          setResult({ viewer: null, error: toGatewayError(error), connection });
        }
      },
    );
    return () => {
      current = false;
    };
  }, [connection]);
  return result.connection === connection ? result : { viewer: null, error: null };
};
