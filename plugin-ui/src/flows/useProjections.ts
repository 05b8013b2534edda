import { useEffect, useRef, useState } from 'react';
import type { GatewayConnection } from '../gateway/connection';
import { toGatewayError, type GatewayError } from '../gateway/errors';
import { requestData } from '../gateway/request';
import type { ExportProjection, FlowType } from '../gateway/types';
import { EXPORT_PROJECTIONS_QUERY } from '../graphql/operations';
import type { Projections, ProjectionTuning } from './projections';

/** Typing in the form asks again after this pause. */
export const TUNING_DELAY_MS = 300;
/** New traffic asks again at most this often (agents rewrite a rate at most once a minute). */
export const TRAFFIC_REFRESH_MS = 15_000;

export interface ProjectionsResult {
  projections: Projections | null;
  error: GatewayError | null;
}

/**
 * What each type would cost with the form's tuning, at every node's traffic now (a dry run: the
 * gateway changes nothing). Asked again when the tuning changes and, throttled, when the nodes'
 * traffic does; null while there is no answer, and the page works without one.
 */
export const useProjections = (
  connection: GatewayConnection,
  tuning: ProjectionTuning | null,
  traffic: string,
): ProjectionsResult => {
  const [result, setResult] = useState<ProjectionsResult & { key: string | null }>({
    projections: null,
    error: null,
    key: null,
  });
  const asked = useRef<{ tuning: string; at: number } | null>(null);
  const tuningKey = tuning ? JSON.stringify(tuning) : null;

  useEffect(() => {
    if (tuning === null || tuningKey === null) {
      return undefined;
    }
    let current = true;
    const last = asked.current;
    const delay =
      last === null
        ? 0
        : last.tuning !== tuningKey
          ? TUNING_DELAY_MS
          : Math.max(0, last.at + TRAFFIC_REFRESH_MS - Date.now());
    const timer = setTimeout(() => {
      asked.current = { tuning: tuningKey, at: Date.now() };
      requestData<Record<FlowType, ExportProjection>>(connection, {
        query: EXPORT_PROJECTIONS_QUERY,
        operationName: 'ExportProjections',
        variables: { ...tuning },
      }).then(
        (data) => {
          if (current) {
            // Only what the answer holds: a field the gateway refused is null, with its error.
            const answered = Object.fromEntries(
              Object.entries(data as Partial<Record<FlowType, ExportProjection | null>>).filter(([, projection]) =>
                Boolean(projection?.total),
              ),
            ) as Projections;
            setResult({ projections: answered, error: null, key: tuningKey });
          }
        },
        (error: unknown) => {
          if (current) {
            setResult((previous) => ({ ...previous, error: toGatewayError(error), key: tuningKey }));
          }
        },
      );
    }, delay);
    return () => {
      current = false;
      clearTimeout(timer);
    };
    // `tuning` is represented by tuningKey.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [connection, tuningKey, traffic]);

  if (tuning === null) {
    return { projections: null, error: null };
  }
  return { projections: result.projections, error: result.error };
};
