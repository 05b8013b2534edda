import { useEffect, useState } from 'react';
import type { GatewayConnection } from '../gateway/connection';
import { requestData } from '../gateway/request';
import type { ExportCostTable } from '../gateway/types';
import { EXPORT_COSTS_QUERY } from '../graphql/operations';

/**
 * The cost table the gateway ships (measured on Open vSwitch by flowgate's benchmark); null until
 * it answers, and when it cannot: the page works without it.
 */
export const useExportCosts = (connection: GatewayConnection): ExportCostTable | null => {
  const [result, setResult] = useState<{ table: ExportCostTable | null; connection: GatewayConnection | null }>({
    table: null,
    connection: null,
  });
  useEffect(() => {
    let current = true;
    requestData<{ exportCosts: ExportCostTable }>(connection, {
      query: EXPORT_COSTS_QUERY,
      operationName: 'ExportCosts',
    }).then(
      (data) => {
        if (current) {
          setResult({ table: data.exportCosts, connection });
        }
      },
      () => {
        if (current) {
          setResult({ table: null, connection });
        }
      },
    );
    return () => {
      current = false;
    };
  }, [connection]);
  return result.connection === connection ? result.table : null;
};
