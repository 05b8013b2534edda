/**
 * The live table behind the page: one `flowsTable` subscription whose messages are merged into a
 * bounded buffer (one slot per node) and applied once per animation frame, so thousands of nodes
 * changing hundreds of times a second cost one React update per frame, not one per message.
 */
import type { SubscriptionTransport } from '../gateway/connection';
import { GatewayError, toGatewayError } from '../gateway/errors';
import { retryDelayMs } from '../gateway/wsTransport';
import type { FlowsState, FlowsTableUpdate, NodeFlowStatus } from '../gateway/types';
import { FLOWS_TABLE_SUBSCRIPTION } from '../graphql/operations';

/** A node's records-per-second as the table learnt it at `at` (ms); null when not known. */
export interface RatePoint {
  readonly at: number;
  readonly rate: number | null;
}

/** How far back the per-node rate history reaches, and how many changes it keeps at most. */
export const RATE_HISTORY_MS = 10 * 60 * 1000;
export const RATE_HISTORY_POINTS = 32;

export interface FlowsTableSnapshot {
  /** True once the first snapshot has been applied. */
  readonly loaded: boolean;
  readonly rows: ReadonlyMap<string, NodeFlowStatus>;
  /**
   * Each node's recent records-per-second, oldest first: a point whenever the rate its status
   * reports changed, bounded in time and count. Unchanged nodes keep the same array.
   */
  readonly rates: ReadonlyMap<string, readonly RatePoint[]>;
  /** Every node name in natural order (node-2 before node-10). */
  readonly names: readonly string[];
  readonly state: FlowsState | null;
  readonly error: GatewayError | null;
  /** Counts published snapshots. */
  readonly version: number;
}

export interface FrameScheduler {
  request: (callback: () => void) => number;
  cancel: (handle: number) => void;
}

export const animationFrameScheduler: FrameScheduler = {
  request: (callback) => window.requestAnimationFrame(callback),
  cancel: (handle) => {
    window.cancelAnimationFrame(handle);
  },
};

export interface FlowsTableStoreOptions {
  scheduler?: FrameScheduler;
  /** The clock for the rate history (tests give their own). */
  now?: () => number;
  onUnauthenticated?: () => void;
  /** Wait before subscribing again after the subscription ended (attempt counts from 0). */
  resubscribeDelayMs?: (attempt: number) => number;
}

/** Errors after which subscribing again would only get the same answer; the user retries. */
const FINAL_CODES = new Set(['UNAUTHENTICATED', 'FORBIDDEN', 'INVALID_ARGUMENT']);

export const nodeNameCollator = new Intl.Collator(undefined, { numeric: true, sensitivity: 'base' });

const sortedNames = (rows: ReadonlyMap<string, NodeFlowStatus>): string[] =>
  Array.from(rows.keys()).sort(nodeNameCollator.compare);

const rateOf = (row: NodeFlowStatus): number | null =>
  row.state === 'EMITTING' && typeof row.recordsPerSecond === 'number' ? row.recordsPerSecond : null;

/** The history with `rate` appended at `at` (the same array when the rate did not change). */
export const appendRate = (
  history: readonly RatePoint[] | undefined,
  rate: number | null,
  at: number,
): readonly RatePoint[] => {
  if (history?.length && history[history.length - 1].rate === rate) {
    return history;
  }
  const points = [...(history ?? []), { at, rate }];
  // Keep one point from before the window, so the line starts at its left edge.
  let first = Math.max(0, points.length - RATE_HISTORY_POINTS);
  while (first + 1 < points.length && points[first + 1].at <= at - RATE_HISTORY_MS) {
    first += 1;
  }
  return first > 0 ? points.slice(first) : points;
};

const EMPTY: FlowsTableSnapshot = {
  loaded: false,
  rows: new Map(),
  rates: new Map(),
  names: [],
  state: null,
  error: null,
  version: 0,
};

export class FlowsTableStore {
  private snapshot: FlowsTableSnapshot = EMPTY;
  private readonly listeners = new Set<() => void>();
  private readonly scheduler: FrameScheduler;
  private readonly options: FlowsTableStoreOptions;

  // Messages received since the last frame, merged: a node's latest row, or null once removed.
  private pending = new Map<string, NodeFlowStatus | null>();
  private pendingReplace = false;
  private pendingState: FlowsState | null = null;
  private pendingStateIsSnapshot = false;
  private frame: number | null = null;

  private unsubscribe: (() => void) | null = null;
  private resubscribeTimer: ReturnType<typeof setTimeout> | null = null;
  private attempt = 0;
  private running = false;

  constructor(
    private readonly transport: SubscriptionTransport,
    options: FlowsTableStoreOptions = {},
  ) {
    this.options = options;
    this.scheduler = options.scheduler ?? animationFrameScheduler;
  }

  readonly subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  };

  readonly getSnapshot = (): FlowsTableSnapshot => this.snapshot;

  /** Starts the subscription; the returned function stops it (for useEffect). */
  start(): () => void {
    this.running = true;
    this.open();
    return () => {
      this.stop();
    };
  }

  stop(): void {
    this.running = false;
    this.close();
    if (this.frame !== null) {
      this.scheduler.cancel(this.frame);
      this.frame = null;
    }
  }

  /** Subscribes again now, after an error the store does not retry by itself. */
  retry(): void {
    if (!this.running) {
      return;
    }
    this.close();
    this.attempt = 0;
    this.publish({ error: null });
    this.open();
  }

  /** Takes the cluster-level state a mutation answered with, unless a newer one is already shown. */
  applyState(state: FlowsState): void {
    const current = this.pendingState ?? this.snapshot.state;
    if (current && state.generation < current.generation) {
      return;
    }
    this.pendingState = null;
    this.publish({ state });
  }

  private open(): void {
    this.unsubscribe = this.transport.subscribe<{ flowsTable: FlowsTableUpdate }>(
      { query: FLOWS_TABLE_SUBSCRIPTION, operationName: 'FlowsTable' },
      {
        next: (result) => {
          if (result.errors?.length) {
            this.fail(GatewayError.fromGraphQLErrors(result.errors), false);
            return;
          }
          const update = result.data?.flowsTable;
          if (update) {
            this.receive(update);
          }
        },
        error: (error) => {
          this.unsubscribe = null;
          this.fail(toGatewayError(error), true);
        },
        complete: () => {
          this.unsubscribe = null;
          this.scheduleResubscribe();
        },
      },
    );
  }

  private close(): void {
    if (this.resubscribeTimer !== null) {
      clearTimeout(this.resubscribeTimer);
      this.resubscribeTimer = null;
    }
    const unsubscribe = this.unsubscribe;
    this.unsubscribe = null;
    unsubscribe?.();
  }

  private receive(update: FlowsTableUpdate): void {
    this.attempt = 0;
    if (update.snapshot) {
      this.pending.clear();
      this.pendingReplace = true;
    }
    for (const row of update.changed) {
      this.pending.set(row.node, row);
    }
    for (const name of update.removed) {
      this.pending.set(name, null);
    }
    this.pendingState = update.state;
    this.pendingStateIsSnapshot = this.pendingStateIsSnapshot || update.snapshot;
    this.frame ??= this.scheduler.request(this.flush);
  }

  private readonly flush = (): void => {
    this.frame = null;
    const previous = this.snapshot;
    const replace = this.pendingReplace;
    const rows = replace ? new Map<string, NodeFlowStatus>() : new Map(previous.rows);
    const rates = new Map(previous.rates);
    const at = (this.options.now ?? Date.now)();
    let namesChanged = replace;
    for (const [name, row] of this.pending) {
      if (row) {
        if (!rows.has(name)) {
          namesChanged = true;
        }
        rows.set(name, row);
        rates.set(name, appendRate(rates.get(name), rateOf(row), at));
      } else if (rows.delete(name)) {
        namesChanged = true;
      }
    }
    if (replace || namesChanged) {
      for (const name of rates.keys()) {
        if (!rows.has(name)) {
          rates.delete(name);
        }
      }
    }
    let state = previous.state;
    const incoming = this.pendingState;
    if (incoming && (this.pendingStateIsSnapshot || !state || incoming.generation >= state.generation)) {
      state = incoming;
    }
    this.pending = new Map();
    this.pendingReplace = false;
    this.pendingState = null;
    this.pendingStateIsSnapshot = false;
    this.publish({
      loaded: previous.loaded || replace,
      rows,
      rates,
      names: namesChanged ? sortedNames(rows) : previous.names,
      state,
      error: null,
    });
  };

  private fail(error: GatewayError, ended: boolean): void {
    if (error.code === 'UNAUTHENTICATED') {
      this.options.onUnauthenticated?.();
    }
    this.publish({ error });
    if (ended && !FINAL_CODES.has(error.code ?? '')) {
      this.scheduleResubscribe();
    }
  }

  private scheduleResubscribe(): void {
    if (!this.running || this.resubscribeTimer !== null) {
      return;
    }
    const delay = (this.options.resubscribeDelayMs ?? retryDelayMs)(this.attempt);
    this.attempt += 1;
    this.resubscribeTimer = setTimeout(() => {
      this.resubscribeTimer = null;
      if (this.running && !this.unsubscribe) {
        this.open();
      }
    }, delay);
  }

  private publish(change: Partial<Omit<FlowsTableSnapshot, 'version'>>): void {
    this.snapshot = { ...this.snapshot, ...change, version: this.snapshot.version + 1 };
    this.listeners.forEach((listener) => {
      listener();
    });
  }
}
