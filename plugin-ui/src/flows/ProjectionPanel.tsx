/**
 * What each type would cost at every node's traffic now, with the tuning in the Collector form:
 * the price of a switch before anything changes. The costliest nodes, the total, the sentences
 * that qualify the figures and the basis they stand on (the measured table's date, Open vSwitch
 * version and datapath), as the gateway's dry run (Query.exportProjection) answers.
 */
import { memo, useMemo, useState, type FC } from 'react';
import {
  Content,
  Label,
  List,
  ListItem,
  Stack,
  StackItem,
  Title,
  ToggleGroup,
  ToggleGroupItem,
} from '@patternfly/react-core';
import { ExclamationTriangleIcon } from '@patternfly/react-icons';
import { Table, Tbody, Td, Th, Thead, Tr } from '@patternfly/react-table';
import type { GatewayError } from '../gateway/errors';
import type { FlowType, TrafficRange } from '../gateway/types';
import { useFlowgateTranslation } from '../i18n/useFlowgateTranslation';
import { formatBytesPerSecond, formatCpu } from './exportCosts';
import { FLOW_TYPE_NAMES } from './NodeStateLabel';
import { costliestFirst, formatPackets, type Projections } from './projections';

const TYPES: FlowType[] = ['NETFLOW', 'IPFIX', 'SFLOW'];
/** Nodes listed one by one; the total covers them all. */
export const SHOWN_NODES = 10;

export interface ProjectionPanelProps {
  projections: Projections | null;
  error: GatewayError | null;
  /** The type shown until another is chosen here: the running one, else IPFIX. */
  initialType: FlowType;
  /** False while a tuning field is not a whole number of 1 or more. */
  tuningValid: boolean;
}

/** How a node's rate lies against the measured ones, in words; the same object while the language stays. */
export const useRangeNotes = (): Record<TrafficRange, string | null> => {
  const { t } = useFlowgateTranslation();
  return useMemo(
    () => ({
      MEASURED: null,
      BELOW: t('below the measured rates'),
      ABOVE: t('above the measured rates'),
      UNKNOWN: t('traffic not reported'),
    }),
    [t],
  );
};

// Memoized: typing in the Collector form re-renders the page, and this only changes with an answer.
export const ProjectionPanel: FC<ProjectionPanelProps> = memo(({ projections, error, initialType, tuningValid }) => {
  const { t, i18n } = useFlowgateTranslation();
  const rangeNotes = useRangeNotes();
  const [chosen, setChosen] = useState<FlowType | null>(null);
  const type = chosen ?? initialType;
  const projection = projections?.[type] ?? null;
  const locale = i18n.language;

  let body;
  if (!tuningValid) {
    body = <Content component="small">{t('Enter whole numbers of 1 or more in the tuning to see the projection.')}</Content>;
  } else if (!projection) {
    body = (
      <Content component="small" data-test="projection-unavailable">
        {error ? t('The projection is not available: {{message}}', { message: error.message }) : t('Projecting…')}
      </Content>
    );
  } else {
    const nodes = costliestFirst(projection.nodes);
    const shown = nodes.slice(0, SHOWN_NODES);
    const known = projection.nodes.length - projection.unknownNodes;
    const total = projection.total;
    body = (
      <Stack hasGutter>
        <StackItem>
          <Content component="p" data-test="projection-total">
            {known === 0
              ? t('No node has reported its traffic yet: an agent measures it within a minute of starting.')
              : t(
                  'In all, on {{count}} nodes: {{cpu}} of a core of ovs-vswitchd CPU, {{export}} of export to the collectors, {{records}} records/s.',
                  {
                    count: known,
                    cpu: formatCpu(total.cpuPercentOfCore, total.cpuSpread),
                    export: formatBytesPerSecond(total.exportBytesPerSecond),
                    records: total.recordsPerSecond.toLocaleString(locale, { maximumSignificantDigits: 3 }),
                  },
                )}
          </Content>
          {projection.confirmation && (
            <Label color="orange" icon={<ExclamationTriangleIcon />} data-test="projection-confirm">
              {t('Switching to this asks for confirmation')}
            </Label>
          )}
        </StackItem>
        <StackItem>
          <Table aria-label={t('Projected cost per node')} variant="compact" data-test="projection-nodes">
            <Thead>
              <Tr>
                <Th>{t('Node')}</Th>
                <Th>{t('Packets/s')}</Th>
                <Th>{t('ovs-vswitchd CPU')}</Th>
                <Th>{t('Export')}</Th>
                <Th>{t('Records/s')}</Th>
                <Th>{t('Note')}</Th>
              </Tr>
            </Thead>
            <Tbody>
              {shown.map((node) => (
                <Tr key={node.node} data-test={`projection-${node.node}`}>
                  <Td dataLabel={t('Node')}>{node.node}</Td>
                  <Td dataLabel={t('Packets/s')}>
                    {typeof node.packetsPerSecond === 'number' ? formatPackets(node.packetsPerSecond, locale) : '—'}
                  </Td>
                  <Td dataLabel={t('ovs-vswitchd CPU')}>
                    {node.cost ? formatCpu(node.cost.cpuPercentOfCore, node.cost.cpuSpread) : '—'}
                  </Td>
                  <Td dataLabel={t('Export')}>{node.cost ? formatBytesPerSecond(node.cost.exportBytesPerSecond) : '—'}</Td>
                  <Td dataLabel={t('Records/s')}>
                    {node.cost ? node.cost.recordsPerSecond.toLocaleString(locale, { maximumSignificantDigits: 3 }) : '—'}
                  </Td>
                  <Td dataLabel={t('Note')}>{rangeNotes[node.range] ?? ''}</Td>
                </Tr>
              ))}
            </Tbody>
          </Table>
          {nodes.length > shown.length && (
            <Content component="small">
              {t('…and {{count}} more nodes, in the total above', { count: nodes.length - shown.length })}
            </Content>
          )}
        </StackItem>
        {projection.notes.length > 0 && (
          <StackItem>
            <List isPlain data-test="projection-notes">
              {projection.notes.map((note) => (
                <ListItem key={note}>
                  <Content component="small">{note}</Content>
                </ListItem>
              ))}
            </List>
          </StackItem>
        )}
        <StackItem>
          <Content component="small" data-test="projection-basis">
            {t('Projected from each node’s traffic now, with {{basis}}.', {
              basis: projection.basis.description,
              interpolation: { escapeValue: false },
            })}
          </Content>
        </StackItem>
      </Stack>
    );
  }

  return (
    <Stack hasGutter data-test="projection">
      <StackItem>
        <Title headingLevel="h2" size="md">
          {t('Projected cost at each node’s traffic now')}
        </Title>
        <Content component="small">
          {t('What each type would cost with the settings in Collector; nothing changes until you switch.')}
        </Content>
      </StackItem>
      <StackItem>
        <ToggleGroup aria-label={t('Project the cost of')}>
          {TYPES.map((item) => (
            <ToggleGroupItem
              key={item}
              text={FLOW_TYPE_NAMES[item]}
              buttonId={`flowgate-projection-${item.toLowerCase()}`}
              isSelected={item === type}
              onChange={() => {
                setChosen(item);
              }}
            />
          ))}
        </ToggleGroup>
      </StackItem>
      <StackItem>{body}</StackItem>
    </Stack>
  );
});
ProjectionPanel.displayName = 'ProjectionPanel';
