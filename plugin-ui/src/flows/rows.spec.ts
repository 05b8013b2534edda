import { countStates, formatAge, selectRows, shownMessage, type RowQuery } from './rows';
import { node } from '../testing/fakeTransport';
import type { NodeFlowStatus } from '../gateway/types';

const table = (rows: NodeFlowStatus[]) => new Map(rows.map((row) => [row.node, row]));
const query = (overrides: Partial<RowQuery> = {}): RowQuery => ({
  states: new Set(),
  name: '',
  sortBy: 'name',
  direction: 'asc',
  ...overrides,
});

describe('rows', () => {
  const rows = table([
    node('node-1', { state: 'EMITTING', endpoint: '10.0.0.1:30001', updatedAt: '2026-01-01T00:00:10Z' }),
    node('node-2', { state: 'ERROR', endpoint: null, message: 'b', updatedAt: '2026-01-01T00:00:30Z' }),
    node('node-10', { state: 'PENDING', endpoint: '10.0.0.10:30001', message: 'a', updatedAt: null }),
    node('node-3', { state: 'DISABLED', type: null, endpoint: null, updatedAt: '2026-01-01T00:00:20Z' }),
  ]);
  const names = ['node-1', 'node-2', 'node-3', 'node-10'];
  const order = (q: Partial<RowQuery>) => selectRows(rows, names, query(q)).map((row) => row.node);

  it('keeps name order, reversed for descending', () => {
    expect(order({})).toEqual(names);
    expect(order({ direction: 'desc' })).toEqual([...names].reverse());
  });

  it('sorts by status with problems first, ties by name', () => {
    expect(order({ sortBy: 'status' })).toEqual(['node-2', 'node-10', 'node-1', 'node-3']);
    expect(order({ sortBy: 'status', direction: 'desc' })).toEqual(['node-3', 'node-1', 'node-10', 'node-2']);
  });

  it('sorts by time changed, unknown times first', () => {
    expect(order({ sortBy: 'changed' })).toEqual(['node-10', 'node-1', 'node-3', 'node-2']);
    expect(order({ sortBy: 'changed', direction: 'desc' })).toEqual(['node-2', 'node-3', 'node-1', 'node-10']);
  });

  it('sorts by type, endpoint and message with empty values first', () => {
    expect(order({ sortBy: 'type' })).toEqual(['node-3', 'node-1', 'node-2', 'node-10']);
    expect(order({ sortBy: 'endpoint' })).toEqual(['node-2', 'node-3', 'node-1', 'node-10']);
    expect(order({ sortBy: 'message' })).toEqual(['node-1', 'node-3', 'node-10', 'node-2']);
  });

  it('filters by states and by a case-insensitive part of the name', () => {
    expect(order({ states: new Set(['ERROR', 'PENDING']) })).toEqual(['node-2', 'node-10']);
    expect(order({ name: ' NODE-1' })).toEqual(['node-1', 'node-10']);
    expect(order({ name: 'node-1', states: new Set(['PENDING']) })).toEqual(['node-10']);
  });

  it('counts every state', () => {
    expect(countStates(rows)).toEqual({
      total: 4,
      EMITTING: 1,
      PENDING: 1,
      ERROR: 1,
      DISABLED: 1,
      notReceived: 0,
      selected: 4,
    });
  });

  it('says how long ago', () => {
    const now = Date.parse('2026-01-02T00:00:00Z');
    expect(formatAge('2026-01-01T23:59:55Z', now, 'en')).toBe('5s ago');
    expect(formatAge('2026-01-01T23:57:00Z', now, 'en')).toBe('3m ago');
    expect(formatAge('2026-01-01T21:00:00Z', now, 'en')).toBe('3h ago');
    expect(formatAge('2025-12-30T00:00:00Z', now, 'en')).toBe('3d ago');
    expect(formatAge('2026-01-02T00:00:05Z', now, 'en')).toBe('0s ago');
    expect(formatAge(null, now, 'en')).toBeNull();
    expect(formatAge('yesterday', now, 'en')).toBeNull();
  });

  it('sorts by what was received: not received first, then waiting, then the busiest', () => {
    const received = table([
      node('a', { delivery: 'CONFIRMED', recordsPerSecond: 2 }),
      node('b', { delivery: 'NOT_RECEIVED', recordsPerSecond: 0 }),
      node('c', { delivery: 'CONFIRMED', recordsPerSecond: 40 }),
      node('d', { state: 'DISABLED', delivery: 'UNKNOWN' }),
      node('e', { delivery: 'WAITING' }),
      node('f', { delivery: 'UNKNOWN' }),
    ]);
    const sorted = selectRows(received, ['a', 'b', 'c', 'd', 'e', 'f'], query({ sortBy: 'received' }));
    expect(sorted.map((row) => row.node)).toEqual(['b', 'e', 'c', 'a', 'f', 'd']);
    expect(countStates(received).notReceived).toBe(1);
  });

  it("shows a node's own message, else why its records are not confirmed", () => {
    expect(shownMessage(node('a', { message: 'no collector', delivery: 'NOT_RECEIVED', deliveryMessage: 'x' }))).toBe(
      'no collector',
    );
    expect(shownMessage(node('a', { delivery: 'NOT_RECEIVED', deliveryMessage: 'dropped?' }))).toBe('dropped?');
    expect(shownMessage(node('a', { delivery: 'WAITING', deliveryMessage: 'first within 80 s' }))).toBe(
      'first within 80 s',
    );
    expect(shownMessage(node('a', { delivery: 'UNKNOWN', deliveryMessage: 'no metrics endpoint' }))).toBe('');
    expect(shownMessage(node('a', { state: 'DISABLED', delivery: 'NOT_RECEIVED', deliveryMessage: 'x' }))).toBe('');
  });
});
