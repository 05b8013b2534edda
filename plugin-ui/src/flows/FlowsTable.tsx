import { memo, useMemo, useState, type FC } from 'react';
import {
  Bullseye,
  Button,
  Icon,
  Content,
  EmptyState,
  EmptyStateActions,
  EmptyStateBody,
  EmptyStateFooter,
  Pagination,
  SearchInput,
  Spinner,
  ToggleGroup,
  ToggleGroupItem,
  Toolbar,
  ToolbarContent,
  ToolbarItem,
} from '@patternfly/react-core';
import { CheckIcon, CubesIcon, ExclamationTriangleIcon, SearchIcon } from '@patternfly/react-icons';
import { Table, Tbody, Td, Th, Thead, Tr, type ThProps } from '@patternfly/react-table';
import type { FlowDelivery, NodeChoice, NodeFlowState, NodeFlowStatus, TrafficRange } from '../gateway/types';
import { useFlowgateTranslation } from '../i18n/useFlowgateTranslation';
import { DeliveryCell, formatRate, useDeliveryNames } from './DeliveryCell';
import { formatBytesPerSecond } from './exportCosts';
import type { FlowsTableSnapshot, RatePoint } from './flowsTableStore';
import { FLOW_TYPE_NAMES, NodeStateIcon, NodeStateLabel, useNodeStateNames } from './NodeStateLabel';
import { useRangeNotes } from './ProjectionPanel';
import { formatPackets } from './projections';
import {
  countStates,
  formatAge,
  NODE_STATES,
  selectRows,
  shownMessage,
  type SortColumn,
  type SortDirection,
} from './rows';

const COLUMNS: SortColumn[] = [
  'name',
  'status',
  'type',
  'endpoint',
  'traffic',
  'received',
  'projected',
  'message',
  'changed',
];
// While export runs on chosen nodes only, which ones: a column after the name.
const COLUMNS_WITH_SELECTED: SortColumn[] = ['name', 'selected', ...COLUMNS.slice(1)];
// Short columns keep their width (header and cells on one line); the message takes what is left
// and wraps, so a long sentence never squeezes the other headers down to an ellipsis.
const FIT = 'fitContent';
const MODIFIERS: Record<SortColumn, 'fitContent' | 'wrap'> = {
  name: FIT,
  selected: FIT,
  status: FIT,
  type: FIT,
  endpoint: FIT,
  traffic: FIT,
  received: FIT,
  projected: FIT,
  message: 'wrap',
  changed: FIT,
};
export const PER_PAGE_OPTIONS = [20, 50, 100, 200];

interface RowProps {
  row: NodeFlowStatus;
  rangeNotes: Record<TrafficRange, string | null>;
  points: readonly RatePoint[];
  now: number;
  stateName: string;
  deliveryNames: Record<FlowDelivery, string>;
  locale: string;
  labels: Record<SortColumn, string>;
  /** The Selected column's cell: shown while export runs on chosen nodes only. */
  selectedText: { yes: string; no: string } | null;
}

const NO_POINTS: readonly RatePoint[] = [];

// Rows whose data did not change keep their object (and their rate history), so memo skips them.
const Row = memo<RowProps>(({ row, rangeNotes, points, now, stateName, deliveryNames, locale, labels, selectedText }) => (
  <Tr data-test={`row-${row.node}`}>
    <Td dataLabel={labels.name} modifier={MODIFIERS.name}>
      {row.node}
    </Td>
    {selectedText && (
      <Td dataLabel={labels.selected} modifier={MODIFIERS.selected} data-test="selected-cell">
        {row.selected === false ? (
          selectedText.no
        ) : (
          <>
            <Icon isInline status="success">
              <CheckIcon />
            </Icon>{' '}
            {selectedText.yes}
          </>
        )}
      </Td>
    )}
    <Td dataLabel={labels.status} modifier={MODIFIERS.status}>
      <NodeStateLabel state={row.state} name={stateName} />
    </Td>
    <Td dataLabel={labels.type} modifier={MODIFIERS.type}>
      {row.type ? FLOW_TYPE_NAMES[row.type] : '—'}
    </Td>
    <Td dataLabel={labels.endpoint} modifier={MODIFIERS.endpoint}>
      {row.endpoint ?? '—'}
    </Td>
    <Td dataLabel={labels.traffic} modifier={MODIFIERS.traffic}>
      {typeof row.packetsPerSecond === 'number' ? formatPackets(row.packetsPerSecond, locale) : '—'}
    </Td>
    <Td dataLabel={labels.received} modifier={MODIFIERS.received}>
      <DeliveryCell row={row} points={points} now={now} names={deliveryNames} locale={locale} />
    </Td>
    <Td dataLabel={labels.projected} modifier={MODIFIERS.projected}>
      <ProjectedCell row={row} rangeNotes={rangeNotes} locale={locale} />
    </Td>
    <Td dataLabel={labels.message} modifier={MODIFIERS.message} className="flowgate__message">
      {shownMessage(row)}
    </Td>
    <Td dataLabel={labels.changed} modifier={MODIFIERS.changed}>
      <span title={row.updatedAt ?? undefined}>{formatAge(row.updatedAt, now, locale) ?? '—'}</span>
    </Td>
  </Tr>
));
Row.displayName = 'FlowsTableRow';

/** What the running setting is projected to send from this node, beside what its collector counts. */
const ProjectedCell: FC<{ row: NodeFlowStatus; rangeNotes: Record<TrafficRange, string | null>; locale: string }> = ({
  row,
  rangeNotes,
  locale,
}) => {
  if (typeof row.projectedRecordsPerSecond !== 'number' || typeof row.projectedExportBytesPerSecond !== 'number') {
    return <>—</>;
  }
  const note = row.projectionRange ? rangeNotes[row.projectionRange] : null;
  return (
    <span className="flowgate__delivery" data-test={`projected-${row.node}`}>
      ≈ {formatRate(row.projectedRecordsPerSecond, locale)}
      <span className="flowgate__rate"> {formatBytesPerSecond(row.projectedExportBytesPerSecond)}</span>
      {note && <span className="flowgate__rate"> ({note})</span>}
    </span>
  );
};

export interface FlowsTableProps {
  table: FlowsTableSnapshot;
  now: number;
  defaultPerPage?: number;
  /** What the Projected column stands on (the measured table's date, OVS version, datapath), for its header. */
  projectionBasis?: string | null;
  /** The running export's choice of nodes: a Selected column unless it is every node. */
  nodeChoice?: NodeChoice | null;
}

/** Every node's export state: filter by status and name, sort by any column, one page at a time. */
export const FlowsTable: FC<FlowsTableProps> = ({ table, now, defaultPerPage = 50, projectionBasis, nodeChoice }) => {
  const { t, i18n } = useFlowgateTranslation();
  const rangeNotes = useRangeNotes();
  const stateNames = useNodeStateNames();
  const deliveryNames = useDeliveryNames();
  const [states, setStates] = useState<ReadonlySet<NodeFlowState>>(new Set());
  const [name, setName] = useState('');
  const [sortBy, setSortBy] = useState<SortColumn>('name');
  const [direction, setDirection] = useState<SortDirection>('asc');
  const [page, setPage] = useState(1);
  const [perPage, setPerPage] = useState(defaultPerPage);

  const labels: Record<SortColumn, string> = useMemo(
    () => ({
      name: t('Name'),
      selected: t('Selected'),
      status: t('Status'),
      type: t('Type'),
      endpoint: t('Endpoint'),
      traffic: t('Packets/s'),
      received: t('Received'),
      projected: t('Projected'),
      message: t('Message'),
      changed: t('Changed'),
    }),
    [t],
  );

  const counts = useMemo(() => countStates(table.rows), [table.rows]);
  const choosing = nodeChoice != null && nodeChoice.mode !== 'all';
  const columns = choosing ? COLUMNS_WITH_SELECTED : COLUMNS;
  const selectedText = useMemo(() => (choosing ? { yes: t('Yes'), no: t('No') } : null), [choosing, t]);
  const rows = useMemo(
    () => selectRows(table.rows, table.names, { states, name, sortBy, direction }),
    [table.rows, table.names, states, name, sortBy, direction],
  );

  const lastPage = Math.max(1, Math.ceil(rows.length / perPage));
  const shownPage = Math.min(page, lastPage);
  const pageRows = rows.slice((shownPage - 1) * perPage, shownPage * perPage);

  const clearFilters = () => {
    setStates(new Set());
    setName('');
    setPage(1);
  };

  const sortParams = (column: SortColumn): ThProps['sort'] => ({
    sortBy: { index: columns.indexOf(sortBy), direction },
    onSort: (_event, index, nextDirection) => {
      setSortBy(columns[index]);
      setDirection(nextDirection);
    },
    columnIndex: columns.indexOf(column),
  });

  const pagination = (position: 'top' | 'bottom') => (
    <Pagination
      widgetId={`flowgate-pagination-${position}`}
      itemCount={rows.length}
      page={shownPage}
      perPage={perPage}
      perPageOptions={PER_PAGE_OPTIONS.map((value) => ({ title: String(value), value }))}
      onSetPage={(_event, next) => {
        setPage(next);
      }}
      onPerPageSelect={(_event, next, nextPage) => {
        setPerPage(next);
        setPage(nextPage);
      }}
      isCompact={position === 'top'}
      variant={position}
      // Two navigation landmarks on one page need names of their own.
      titles={{ paginationAriaLabel: position === 'top' ? t('Pages of nodes, above') : t('Pages of nodes, below') }}
    />
  );

  let body;
  if (!table.loaded) {
    body = (
      <Tr>
        <Td colSpan={columns.length}>
          <Bullseye>
            <Spinner size="lg" aria-label={t('Loading nodes')} />
          </Bullseye>
        </Td>
      </Tr>
    );
  } else if (pageRows.length === 0) {
    body = (
      <Tr>
        <Td colSpan={columns.length}>
          {counts.total === 0 ? (
            <EmptyState headingLevel="h2" icon={CubesIcon} titleText={t('No nodes')}>
              <EmptyStateBody>{t('The gateway reports no nodes in this cluster.')}</EmptyStateBody>
            </EmptyState>
          ) : (
            <EmptyState headingLevel="h2" icon={SearchIcon} titleText={t('No nodes match the filters')}>
              <EmptyStateBody>{t('Clear the filters to show all nodes.')}</EmptyStateBody>
              <EmptyStateFooter>
                <EmptyStateActions>
                  <Button variant="link" onClick={clearFilters}>
                    {t('Clear all filters')}
                  </Button>
                </EmptyStateActions>
              </EmptyStateFooter>
            </EmptyState>
          )}
        </Td>
      </Tr>
    );
  } else {
    body = pageRows.map((row) => (
      <Row
        key={row.node}
        row={row}
        rangeNotes={rangeNotes}
        points={table.rates.get(row.node) ?? NO_POINTS}
        now={now}
        stateName={stateNames[row.state]}
        deliveryNames={deliveryNames}
        locale={i18n.language}
        labels={labels}
        selectedText={selectedText}
      />
    ));
  }

  return (
    <>
      <Content component="p" data-test="flows-summary">
        {table.loaded
          ? t('{{count}} nodes: {{emitting}} emitting, {{pending}} pending, {{error}} error, {{disabled}} disabled', {
              count: counts.total,
              emitting: counts.EMITTING,
              pending: counts.PENDING,
              error: counts.ERROR,
              disabled: counts.DISABLED,
            })
          : t('Loading nodes…')}
      </Content>
      {table.loaded && choosing && (
        <Content component="p" data-test="flows-selected">
          {t('Export runs on {{selected}} of {{total}} nodes ({{description}}).', {
            selected: counts.selected,
            total: counts.total,
            description: nodeChoice.description,
          })}
        </Content>
      )}
      {counts.notReceived > 0 && (
        <Content component="p" data-test="flows-not-received">
          <Icon isInline status="warning">
            <ExclamationTriangleIcon />
          </Icon>{' '}
          {t("{{count}} nodes' records are not reaching their collector", { count: counts.notReceived })}
        </Content>
      )}
      <Toolbar clearAllFilters={clearFilters}>
        <ToolbarContent>
          <ToolbarItem>
            <SearchInput
              aria-label={t('Filter by name')}
              placeholder={t('Filter by name')}
              value={name}
              onChange={(_event, value) => {
                setName(value);
                setPage(1);
              }}
              onClear={() => {
                setName('');
                setPage(1);
              }}
            />
          </ToolbarItem>
          <ToolbarItem>
            <ToggleGroup aria-label={t('Filter by status')}>
              {NODE_STATES.map((state) => (
                <ToggleGroupItem
                  key={state}
                  icon={<NodeStateIcon state={state} />}
                  text={stateNames[state]}
                  buttonId={`flowgate-filter-${state.toLowerCase()}`}
                  isSelected={states.has(state)}
                  onChange={(_event, selected) => {
                    const next = new Set(states);
                    if (selected) {
                      next.add(state);
                    } else {
                      next.delete(state);
                    }
                    setStates(next);
                    setPage(1);
                  }}
                />
              ))}
            </ToggleGroup>
          </ToolbarItem>
          <ToolbarItem variant="pagination" align={{ default: 'alignEnd' }}>
            {pagination('top')}
          </ToolbarItem>
        </ToolbarContent>
      </Toolbar>
      <Table aria-label={t('Nodes')} variant="compact">
        <Thead>
          <Tr>
            {columns.map((column) => (
              <Th
                key={column}
                sort={sortParams(column)}
                modifier={MODIFIERS[column]}
                info={column === 'projected' && projectionBasis ? { tooltip: projectionBasis } : undefined}
              >
                {labels[column]}
              </Th>
            ))}
          </Tr>
        </Thead>
        <Tbody>{body}</Tbody>
      </Table>
      {pagination('bottom')}
    </>
  );
};
