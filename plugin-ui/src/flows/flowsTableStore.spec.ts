import { appendRate, FlowsTableStore, RATE_HISTORY_MS, RATE_HISTORY_POINTS } from './flowsTableStore';
import { change, FakeTransport, gqlError, ManualScheduler, node, snapshot, state } from '../testing/fakeTransport';

const setup = (options: { onUnauthenticated?: () => void; now?: () => number } = {}) => {
  const transport = new FakeTransport();
  const scheduler = new ManualScheduler();
  const store = new FlowsTableStore(transport, { scheduler, resubscribeDelayMs: () => 1000, ...options });
  const published = jest.fn();
  store.subscribe(published);
  const stop = store.start();
  return { transport, scheduler, store, published, stop };
};

const names = (store: FlowsTableStore) => store.getSnapshot().names;

describe('FlowsTableStore', () => {
  afterEach(() => {
    jest.useRealTimers();
  });

  it('subscribes to flowsTable once started and stops with the returned function', () => {
    const { transport, stop } = setup();
    expect(transport.subscriptions).toHaveLength(1);
    expect(transport.subscriptions[0].request.operationName).toBe('FlowsTable');
    expect(transport.subscriptions[0].request.query).toContain('flowsTable');
    stop();
    expect(transport.subscriptions).toHaveLength(0);
  });

  it('publishes once per frame however many messages arrived', () => {
    const { transport, scheduler, store, published } = setup();
    transport.emit(snapshot([node('node-1'), node('node-2')]));
    for (let i = 0; i < 500; i += 1) {
      transport.emit(change([node(`node-${String((i % 2) + 1)}`, { state: i % 2 ? 'ERROR' : 'PENDING' })]));
    }
    expect(published).not.toHaveBeenCalled();
    expect(store.getSnapshot().loaded).toBe(false);
    expect(scheduler.pending).toBe(1);

    scheduler.runFrame();

    expect(published).toHaveBeenCalledTimes(1);
    const table = store.getSnapshot();
    expect(table.loaded).toBe(true);
    expect(table.rows.get('node-1')?.state).toBe('PENDING');
    expect(table.rows.get('node-2')?.state).toBe('ERROR');
  });

  it('keeps rows that did not change as the same objects', () => {
    const { transport, scheduler, store } = setup();
    transport.emit(snapshot([node('node-1'), node('node-2')]));
    scheduler.runFrame();
    const before = store.getSnapshot();
    transport.emit(change([node('node-2', { state: 'ERROR' })]));
    scheduler.runFrame();
    const after = store.getSnapshot();
    expect(after.rows).not.toBe(before.rows);
    expect(after.rows.get('node-1')).toBe(before.rows.get('node-1'));
    expect(after.names).toBe(before.names);
  });

  it('orders names naturally and removes the removed', () => {
    const { transport, scheduler, store } = setup();
    transport.emit(snapshot([node('node-10'), node('node-2'), node('node-1')]));
    scheduler.runFrame();
    expect(names(store)).toEqual(['node-1', 'node-2', 'node-10']);
    transport.emit(change([node('node-3')], ['node-10']));
    scheduler.runFrame();
    expect(names(store)).toEqual(['node-1', 'node-2', 'node-3']);
    expect(store.getSnapshot().rows.has('node-10')).toBe(false);
  });

  it('lets removal win over a change in the same message, and a later change win over removal', () => {
    const { transport, scheduler, store } = setup();
    transport.emit(snapshot([node('node-1'), node('node-2')]));
    transport.emit(change([node('node-1', { state: 'ERROR' })], ['node-1']));
    transport.emit(change([], ['node-2']));
    transport.emit(change([node('node-2', { state: 'PENDING' })]));
    scheduler.runFrame();
    expect(names(store)).toEqual(['node-2']);
    expect(store.getSnapshot().rows.get('node-2')?.state).toBe('PENDING');
  });

  it('replaces the whole table on a snapshot, dropping what came before it', () => {
    const { transport, scheduler, store } = setup();
    transport.emit(snapshot([node('node-1'), node('node-2'), node('node-3')]));
    scheduler.runFrame();
    transport.emit(change([node('node-4')]));
    transport.emit(snapshot([node('node-2', { state: 'DISABLED' })]));
    transport.emit(change([node('node-5')]));
    scheduler.runFrame();
    expect(names(store)).toEqual(['node-2', 'node-5']);
    expect(store.getSnapshot().rows.get('node-2')?.state).toBe('DISABLED');
  });

  it('keeps one pending entry per node however long frames do not come', () => {
    const { transport, scheduler, store } = setup();
    transport.emit(snapshot([node('node-1')]));
    for (let i = 0; i < 10_000; i += 1) {
      transport.emit(change([node('node-1', { message: String(i) })]));
    }
    expect((store as unknown as { pending: Map<string, unknown> }).pending.size).toBe(1);
    scheduler.runFrame();
    expect(store.getSnapshot().rows.get('node-1')?.message).toBe('9999');
  });

  it('takes the cluster state from messages and mutations, never going back a generation', () => {
    const { transport, scheduler, store } = setup();
    transport.emit(snapshot([], { generation: 4, type: 'NETFLOW' }));
    scheduler.runFrame();
    store.applyState(state({ generation: 5, type: 'IPFIX' }));
    expect(store.getSnapshot().state?.type).toBe('IPFIX');
    // A message sent before the switch arrives late.
    transport.emit(change([], [], { generation: 4, type: 'NETFLOW' }));
    scheduler.runFrame();
    expect(store.getSnapshot().state?.type).toBe('IPFIX');
    store.applyState(state({ generation: 3, type: 'SFLOW' }));
    expect(store.getSnapshot().state?.type).toBe('IPFIX');
    // A new snapshot is the truth whatever its generation (FlowExport recreated).
    transport.emit(snapshot([], { generation: 1, enabled: false, type: null }));
    scheduler.runFrame();
    expect(store.getSnapshot().state?.enabled).toBe(false);
  });

  it('subscribes again after a connection failure or an UNAVAILABLE error, with backoff', () => {
    jest.useFakeTimers();
    const { transport, store } = setup();
    transport.fail(new Error('socket closed'));
    expect(store.getSnapshot().error?.code).toBe('NETWORK');
    expect(transport.subscriptions).toHaveLength(0);
    jest.advanceTimersByTime(1000);
    expect(transport.subscriptions).toHaveLength(1);

    transport.fail([gqlError('The API server is unreachable.', 'UNAVAILABLE')]);
    expect(store.getSnapshot().error?.message).toBe('The API server is unreachable.');
    jest.advanceTimersByTime(1000);
    expect(transport.subscriptions).toHaveLength(1);
  });

  it('subscribes again when the server completes the subscription', () => {
    jest.useFakeTimers();
    const { transport } = setup();
    transport.subscriptions.splice(0)[0].sink.complete();
    jest.advanceTimersByTime(1000);
    expect(transport.subscriptions).toHaveLength(1);
  });

  it('waits for the user after FORBIDDEN, and reports UNAUTHENTICATED', () => {
    jest.useFakeTimers();
    const onUnauthenticated = jest.fn();
    const { transport, store } = setup({ onUnauthenticated });
    transport.fail([gqlError('You may not list flows.', 'FORBIDDEN')]);
    jest.advanceTimersByTime(60_000);
    expect(transport.subscriptions).toHaveLength(0);
    store.retry();
    expect(transport.subscriptions).toHaveLength(1);
    expect(store.getSnapshot().error).toBeNull();

    transport.fail([gqlError('No bearer token was sent.', 'UNAUTHENTICATED')]);
    expect(onUnauthenticated).toHaveBeenCalledTimes(1);
  });

  it('shows GraphQL errors in a message without ending the subscription', () => {
    const { transport, store } = setup();
    transport.subscriptions[0].sink.next({ data: null, errors: [gqlError('Flow cache is warming up.', 'UNAVAILABLE')] });
    expect(store.getSnapshot().error?.message).toBe('Flow cache is warming up.');
    expect(transport.subscriptions).toHaveLength(1);
  });

  it('cancels a waiting frame when stopped', () => {
    const { transport, scheduler, stop } = setup();
    transport.emit(snapshot([node('node-1')]));
    expect(scheduler.pending).toBe(1);
    stop();
    expect(scheduler.pending).toBe(0);
  });

  it('keeps each node a bounded history of its records per second, new only when the rate changed', () => {
    let clock = 1_000_000;
    const { transport, scheduler, store } = setup({ now: () => clock });
    const rated = (name: string, rate: number | null, extra = {}) =>
      node(name, { delivery: 'CONFIRMED', recordsPerSecond: rate, ...extra });
    transport.emit(snapshot([rated('node-1', 20), rated('node-2', 5)]));
    scheduler.runFrame();
    expect(store.getSnapshot().rates.get('node-1')).toEqual([{ at: 1_000_000, rate: 20 }]);

    clock += 60_000;
    transport.emit(change([rated('node-1', 40), rated('node-2', 5, { message: 'other change' })]));
    scheduler.runFrame();
    const first = store.getSnapshot();
    expect(first.rates.get('node-1')).toEqual([
      { at: 1_000_000, rate: 20 },
      { at: 1_060_000, rate: 40 },
    ]);

    clock += 60_000;
    transport.emit(change([rated('node-1', 40, { message: 'same rate' })]));
    scheduler.runFrame();
    const second = store.getSnapshot();
    expect(second.rates.get('node-1')).toBe(first.rates.get('node-1')); // unchanged rate: same array
    expect(second.rates.get('node-2')).toBe(first.rates.get('node-2'));

    transport.emit(change([], ['node-2']));
    scheduler.runFrame();
    expect(store.getSnapshot().rates.has('node-2')).toBe(false);

    // A new snapshot (after reconnecting) continues the line of nodes that are still there.
    transport.emit(snapshot([rated('node-1', 40), node('node-3', { state: 'DISABLED' })]));
    scheduler.runFrame();
    expect(store.getSnapshot().rates.get('node-1')).toHaveLength(2);
    expect(store.getSnapshot().rates.get('node-3')).toEqual([{ at: clock, rate: null }]);
  });

  it('bounds the history in time and in points', () => {
    let history = appendRate(undefined, 1, 0);
    for (let i = 1; i <= 100; i += 1) {
      history = appendRate(history, i % 2 ? 2 : 1, i * 1000);
    }
    expect(history).toHaveLength(RATE_HISTORY_POINTS);
    history = appendRate(history, 7, 100_000 + RATE_HISTORY_MS + 1);
    history = appendRate(history, 8, 100_000 + 2 * RATE_HISTORY_MS);
    // Points older than the window go, but for one, so the line has a value at its left edge.
    expect(history.map((point) => point.rate)).toEqual([1, 7, 8]);
  });
});
