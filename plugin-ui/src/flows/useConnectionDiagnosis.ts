import { useEffect, useState } from 'react';
import type { ConnectionTrouble, GatewayConnection } from '../gateway/connection';
import { toGatewayError, type GatewayError } from '../gateway/errors';
import { requestData } from '../gateway/request';
import { VIEWER_QUERY } from '../graphql/operations';

/** Failed attempts in a row after which the page explains, instead of only "Reconnecting…". */
export const REFUSALS_BEFORE_EXPLAINING = 3;

export interface ConnectionDiagnosis {
  trouble: ConnectionTrouble;
  /**
   * What the gateway answered over HTTP, asked after the refusals: null when it answered (only
   * the live connection fails), undefined while the answer is awaited. A browser is never told
   * why a WebSocket was refused, so the same route over HTTP is the way to learn it.
   */
  http: GatewayError | null | undefined;
}

interface Probe {
  round: number;
  http: GatewayError | null;
}

/** Asks the gateway over HTTP once the live connection failed REFUSALS_BEFORE_EXPLAINING times in
 * a row, and again after as many more; null while the connection is fine. */
export const useConnectionDiagnosis = (
  connection: GatewayConnection,
  trouble: ConnectionTrouble | null,
): ConnectionDiagnosis | null => {
  const [probe, setProbe] = useState<Probe | null>(null);
  const round = trouble ? Math.floor(trouble.refusals / REFUSALS_BEFORE_EXPLAINING) : 0;
  useEffect(() => {
    if (round === 0) {
      return undefined;
    }
    let current = true;
    requestData(connection, { query: VIEWER_QUERY, operationName: 'Viewer' }).then(
      () => {
        if (current) {
          setProbe({ round, http: null });
        }
      },
      (error: unknown) => {
        if (current) {
          setProbe({ round, http: toGatewayError(error) });
        }
      },
    );
    return () => {
      current = false;
    };
  }, [connection, round]);
  if (!trouble || round === 0) {
    return null;
  }
  // The previous round's answer stands until the new one comes.
  return { trouble, http: probe ? probe.http : undefined };
};
