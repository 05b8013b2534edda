/** Filtering, sorting and counting the table's rows; all linear except one sort of the filtered rows. */
import type { FlowDelivery, NodeFlowState, NodeFlowStatus } from '../gateway/types';

export const NODE_STATES: readonly NodeFlowState[] = ['EMITTING', 'PENDING', 'ERROR', 'DISABLED'];

export type SortColumn =
  | 'name'
  | 'selected'
  | 'status'
  | 'type'
  | 'endpoint'
  | 'traffic'
  | 'received'
  | 'projected'
  | 'message'
  | 'changed';
export type SortDirection = 'asc' | 'desc';

export interface RowQuery {
  /** Only these states; empty means all. */
  states: ReadonlySet<NodeFlowState>;
  /** Case-insensitive substring of the node name. */
  name: string;
  sortBy: SortColumn;
  direction: SortDirection;
}

export type StateCounts = Record<NodeFlowState, number> & { total: number; notReceived: number; selected: number };

export const countStates = (rows: ReadonlyMap<string, NodeFlowStatus>): StateCounts => {
  const counts: StateCounts = { total: 0, EMITTING: 0, PENDING: 0, ERROR: 0, DISABLED: 0, notReceived: 0, selected: 0 };
  for (const row of rows.values()) {
    counts.total += 1;
    counts[row.state] += 1;
    if (row.selected !== false) {
      counts.selected += 1;
    }
    if (row.state === 'EMITTING' && row.delivery === 'NOT_RECEIVED') {
      counts.notReceived += 1;
    }
  }
  return counts;
};

/** What the Message column shows: the node's own message, else why its records are not (yet) confirmed. */
export const shownMessage = (row: NodeFlowStatus): string =>
  row.message ??
  (row.state === 'EMITTING' && (row.delivery === 'WAITING' || row.delivery === 'NOT_RECEIVED')
    ? (row.deliveryMessage ?? '')
    : '');

// Problems first when sorting by status.
const STATE_RANK: Record<NodeFlowState, number> = { ERROR: 0, PENDING: 1, EMITTING: 2, DISABLED: 3 };
// Records not arriving first when sorting by what was received, then the busiest.
const DELIVERY_RANK: Record<FlowDelivery, number> = { NOT_RECEIVED: 0, WAITING: 1, CONFIRMED: 2, UNKNOWN: 3 };

const receivedKey = (row: NodeFlowStatus): number => {
  const rank = row.state === 'EMITTING' ? DELIVERY_RANK[row.delivery ?? 'UNKNOWN'] : 4;
  return rank * 1e9 - Math.min(row.recordsPerSecond ?? 0, 1e9 - 1);
};

const timestamp = (value: string | null | undefined): number => {
  const parsed = value ? Date.parse(value) : NaN;
  return Number.isNaN(parsed) ? -Infinity : parsed;
};

/** Compares like a person reads: case-insensitive, numbers by value (10.0.0.2 before 10.0.0.10). */
const naturalKey = (value: string | null | undefined): string =>
  (value ?? '').toLowerCase().replace(/\d+/g, (digits) => digits.padStart(12, '0'));

const sortKey = (row: NodeFlowStatus, column: Exclude<SortColumn, 'name'>): string | number => {
  switch (column) {
    case 'selected':
      return row.selected === false ? 1 : 0; // chosen nodes first
    case 'status':
      return STATE_RANK[row.state];
    case 'type':
      return row.type ?? '';
    case 'endpoint':
      return naturalKey(row.endpoint);
    case 'traffic':
      return row.packetsPerSecond ?? -1;
    case 'received':
      return receivedKey(row);
    case 'projected':
      return row.projectedRecordsPerSecond ?? -1;
    case 'message':
      return naturalKey(shownMessage(row));
    case 'changed':
      return timestamp(row.updatedAt);
  }
};

/**
 * The rows to show, in order. `names` is already in natural name order, so sorting by name is
 * free and every other sort is stable with the name as tie-breaker.
 */
export const selectRows = (
  rows: ReadonlyMap<string, NodeFlowStatus>,
  names: readonly string[],
  query: RowQuery,
): NodeFlowStatus[] => {
  const needle = query.name.trim().toLowerCase();
  const filterStates = query.states.size > 0;
  const selected: NodeFlowStatus[] = [];
  for (const name of names) {
    const row = rows.get(name);
    if (
      row &&
      (!filterStates || query.states.has(row.state)) &&
      (!needle || name.toLowerCase().includes(needle))
    ) {
      selected.push(row);
    }
  }
  const sign = query.direction === 'asc' ? 1 : -1;
  const column = query.sortBy;
  if (column === 'name') {
    return sign > 0 ? selected : selected.reverse();
  }
  const keyed = selected.map((row) => ({ row, key: sortKey(row, column) }));
  keyed.sort((a, b) => (a.key < b.key ? -sign : a.key > b.key ? sign : 0));
  return keyed.map((entry) => entry.row);
};

const formats = new Map<string, Intl.RelativeTimeFormat>();
const relativeTimeFormat = (locale: string | undefined): Intl.RelativeTimeFormat => {
  const key = locale ?? '';
  let format = formats.get(key);
  if (!format) {
    format = new Intl.RelativeTimeFormat(locale, { style: 'narrow', numeric: 'always' });
    formats.set(key, format);
  }
  return format;
};

/** "5s ago", "3m ago", "2h ago" in the given locale; null when there is no time. */
export const formatAge = (updatedAt: string | null | undefined, now: number, locale?: string): string | null => {
  const then = timestamp(updatedAt);
  if (!Number.isFinite(then)) {
    return null;
  }
  const seconds = Math.max(0, Math.round((now - then) / 1000));
  const format = relativeTimeFormat(locale);
  if (seconds < 60) {
    return format.format(-seconds, 'second');
  }
  if (seconds < 3600) {
    return format.format(-Math.floor(seconds / 60), 'minute');
  }
  if (seconds < 86400) {
    return format.format(-Math.floor(seconds / 3600), 'hour');
  }
  return format.format(-Math.floor(seconds / 86400), 'day');
};
