import { useEffect, useState, type FC } from 'react';
import {
  Alert,
  Content,
  DataList,
  DataListCell,
  DataListItem,
  DataListItemCells,
  DataListItemRow,
  ExpandableSection,
  Label,
} from '@patternfly/react-core';
import type { GatewayConnection } from '../gateway/connection';
import { toGatewayError, type GatewayError } from '../gateway/errors';
import { requestData } from '../gateway/request';
import type { FlowEvent } from '../gateway/types';
import { FLOW_EVENTS_QUERY } from '../graphql/operations';
import { useFlowgateTranslation } from '../i18n/useFlowgateTranslation';
import { formatAge } from './rows';

export const RECENT_EVENTS = 5;

export interface RecentEventsProps {
  connection: GatewayConnection;
  /** Changes whenever the list may have grown (the export's generation, the nodes in error). */
  refreshKey: string;
  now: number;
}

/**
 * The latest Events about flow export, newest first: who started, switched or stopped it, and
 * nodes that turned to Error. Asked again whenever `refreshKey` changes.
 */
export const RecentEvents: FC<RecentEventsProps> = ({ connection, refreshKey, now }) => {
  const { t, i18n } = useFlowgateTranslation();
  const [expanded, setExpanded] = useState(true);
  const [events, setEvents] = useState<FlowEvent[] | null>(null);
  const [error, setError] = useState<GatewayError | null>(null);

  useEffect(() => {
    let current = true;
    requestData<{ events?: FlowEvent[] }>(connection, {
      query: FLOW_EVENTS_QUERY,
      operationName: 'FlowEvents',
      variables: { limit: RECENT_EVENTS },
    }).then(
      (data) => {
        if (current) {
          setEvents(data.events ?? []);
          setError(null);
        }
      },
      (caught: unknown) => {
        if (current) {
          setError(toGatewayError(caught));
        }
      },
    );
    return () => {
      current = false;
    };
  }, [connection, refreshKey]);

  return (
    <ExpandableSection
      toggleText={t('Recent changes and errors')}
      isExpanded={expanded}
      onToggle={(_event, value) => {
        setExpanded(value);
      }}
      data-test="recent-events"
    >
      {error && (
        <Alert isInline isPlain component="h2" variant="warning" title={t('Could not read the recent events')}>
          {error.message}
        </Alert>
      )}
      {events !== null && events.length === 0 && !error && (
        <Content component="p">{t('No flow export changes or node errors recorded recently.')}</Content>
      )}
      {events !== null && events.length > 0 && (
        <DataList aria-label={t('Recent changes and errors')} isCompact>
          {events.map((event) => (
            <DataListItem key={`${event.time}-${event.regarding}-${event.reason}-${event.note}`}>
              <DataListItemRow>
                <DataListItemCells
                  dataListCells={[
                    <DataListCell key="when" width={1}>
                      <span title={event.time}>{formatAge(event.time, now, i18n.language) ?? event.time}</span>
                    </DataListCell>,
                    <DataListCell key="what" width={5} data-test="event-note">
                      {event.type === 'Warning' && (
                        <Label color="orange" isCompact>
                          {event.regarding}
                        </Label>
                      )}{' '}
                      {event.note}
                      {event.count > 1 && ` ${t('({{count}} times)', { count: event.count })}`}
                    </DataListCell>,
                  ]}
                />
              </DataListItemRow>
            </DataListItem>
          ))}
        </DataList>
      )}
    </ExpandableSection>
  );
};
