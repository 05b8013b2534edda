/** Test doubles: a subscription transport fed by the test, a connection around it, a frame scheduler run by hand. */
import type {
  ConnectionStatus,
  ConnectionTrouble,
  GatewayConnection,
  GraphQLRequest,
  GraphQLResponse,
  SubscriptionSink,
  SubscriptionTransport,
} from '../gateway/connection';
import type { GraphQLErrorPayload } from '../gateway/errors';
import type {
  ExportCostTable,
  ExportProjection,
  FlowEvent,
  FlowType,
  FlowsState,
  FlowsTableUpdate,
  NodeFlowStatus,
  Viewer,
} from '../gateway/types';
import type { FrameScheduler } from '../flows/flowsTableStore';

interface Subscription {
  request: GraphQLRequest;
  sink: SubscriptionSink<unknown>;
}

export class FakeTransport implements SubscriptionTransport {
  status: ConnectionStatus = 'connecting';
  trouble: ConnectionTrouble | null = null;
  readonly subscriptions: Subscription[] = [];
  disposed = 0;
  private readonly listeners = new Set<() => void>();

  subscribe = <T>(request: GraphQLRequest, sink: SubscriptionSink<T>) => {
    const subscription = { request, sink: sink as SubscriptionSink<unknown> };
    this.subscriptions.push(subscription);
    return () => {
      const index = this.subscriptions.indexOf(subscription);
      if (index >= 0) {
        this.subscriptions.splice(index, 1);
      }
    };
  };

  getStatus = () => this.status;

  getTrouble = () => this.trouble;

  onStatus = (listener: () => void) => {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  };

  dispose = () => {
    this.disposed += 1;
  };

  setStatus(status: ConnectionStatus): void {
    this.status = status;
    this.listeners.forEach((listener) => {
      listener();
    });
  }

  /** As the WebSocket transport reports attempts that ended before the gateway accepted them. */
  setTrouble(trouble: ConnectionTrouble | null): void {
    this.trouble = trouble;
    this.setStatus(trouble ? 'reconnecting' : this.status);
  }

  /** Sends one flowsTable message to every open subscription. */
  emit(update: FlowsTableUpdate): void {
    for (const { sink } of [...this.subscriptions]) {
      sink.next({ data: { flowsTable: update } });
    }
  }

  /** Ends every open subscription with an error (GraphQL errors or a connection failure). */
  fail(error: unknown): void {
    for (const subscription of this.subscriptions.splice(0)) {
      subscription.sink.error(error);
    }
  }
}

/** A frame scheduler the test advances with runFrame(). */
export class ManualScheduler implements FrameScheduler {
  private callbacks = new Map<number, () => void>();
  private next = 1;

  request = (callback: () => void) => {
    const handle = this.next++;
    this.callbacks.set(handle, callback);
    return handle;
  };

  cancel = (handle: number) => {
    this.callbacks.delete(handle);
  };

  get pending(): number {
    return this.callbacks.size;
  }

  runFrame(): void {
    const callbacks = [...this.callbacks.values()];
    this.callbacks.clear();
    callbacks.forEach((callback) => {
      callback();
    });
  }
}

export const state = (overrides: Partial<FlowsState> = {}): FlowsState => ({
  enabled: true,
  type: 'NETFLOW',
  networkType: 'OVNKubernetes',
  supported: true,
  unsupportedReason: null,
  generation: 1,
  collector: {
    mode: 'selector',
    nodePort: null,
    selector: [{ key: 'role', value: 'flows-collector' }],
    targets: null,
    description: 'selector role=flows-collector',
  },
  summary: { total: 0, disabled: 0, pending: 0, emitting: 0, error: 0 },
  ...overrides,
});

export const node = (name: string, overrides: Partial<NodeFlowStatus> = {}): NodeFlowStatus => ({
  node: name,
  state: 'EMITTING',
  type: 'NETFLOW',
  endpoint: '10.89.0.1:30001',
  message: null,
  updatedAt: new Date(Date.now() - 30_000).toISOString(),
  observedGeneration: 1,
  ...overrides,
});

export const snapshot = (nodes: NodeFlowStatus[], flows: Partial<FlowsState> = {}): FlowsTableUpdate => ({
  snapshot: true,
  state: state(flows),
  changed: nodes,
  removed: [],
});

export const change = (
  changed: NodeFlowStatus[],
  removed: string[] = [],
  flows: Partial<FlowsState> = {},
): FlowsTableUpdate => ({ snapshot: false, state: state(flows), changed, removed });

export const gqlError = (message: string, code: string, field?: string): GraphQLErrorPayload => ({
  message,
  path: [],
  extensions: field ? { code, field } : { code },
});

/** A small cost table, as the gateway answers Query.exportCosts. */
export const exportCosts = (): ExportCostTable => ({
  measured: '2026-11-29 14:02 UTC',
  openVSwitch: 'ovs-vswitchd (Open vSwitch) 3.1.0',
  machine: 'Test CPU, 2 cores',
  traffic: 'UDP between two pods on the node',
  activeTimeoutSeconds: 10,
  rates: [1000, 50000],
  estimates: [
    { type: 'NETFLOW', sampling: null, isDefault: false, packetsPerSecond: 1000, cpuPercentOfCore: 0.4, cpuSpread: 0.3, memoryMib: 4.2, exportBytesPerSecond: 4700 },
    { type: 'NETFLOW', sampling: null, isDefault: false, packetsPerSecond: 50000, cpuPercentOfCore: 12.3, cpuSpread: 2.1, memoryMib: 210, exportBytesPerSecond: 245000 },
    { type: 'IPFIX', sampling: 400, isDefault: true, packetsPerSecond: 1000, cpuPercentOfCore: 0.1, cpuSpread: 0.2, memoryMib: 0, exportBytesPerSecond: 2700 },
    { type: 'IPFIX', sampling: 400, isDefault: true, packetsPerSecond: 50000, cpuPercentOfCore: 1.5, cpuSpread: 1.4, memoryMib: 0.2, exportBytesPerSecond: 68000 },
    { type: 'IPFIX', sampling: 1, isDefault: false, packetsPerSecond: 1000, cpuPercentOfCore: 5, cpuSpread: 0.9, memoryMib: 0, exportBytesPerSecond: 556000 },
    { type: 'IPFIX', sampling: 1, isDefault: false, packetsPerSecond: 50000, cpuPercentOfCore: 61.9, cpuSpread: 4.4, memoryMib: 0, exportBytesPerSecond: 14_200_000 },
    { type: 'SFLOW', sampling: 400, isDefault: true, packetsPerSecond: 1000, cpuPercentOfCore: 0, cpuSpread: 0.1, memoryMib: 0, exportBytesPerSecond: 600 },
    { type: 'SFLOW', sampling: 400, isDefault: true, packetsPerSecond: 50000, cpuPercentOfCore: 0.8, cpuSpread: 1.2, memoryMib: 0, exportBytesPerSecond: 25000 },
  ],
});

/** A projection as the gateway answers Query.exportProjection: two nodes, one of them busy. */
export const projection = (type: FlowType, overrides: Partial<ExportProjection> = {}): ExportProjection => {
  const scale = type === 'NETFLOW' ? 3 : type === 'IPFIX' ? 2 : 1;
  const cost = (rate: number) => ({
    cpuPercentOfCore: (rate / 10_000) * scale,
    cpuSpread: 0.5,
    memoryMib: 0,
    exportBytesPerSecond: rate * 8 * scale,
    recordsPerSecond: (rate / 32) * scale,
  });
  return {
    type,
    sampling: type === 'NETFLOW' ? null : 64,
    activeTimeoutSeconds: type === 'SFLOW' ? null : 60,
    nodes: [
      { node: 'node-1', packetsPerSecond: 2000, range: 'MEASURED', cost: cost(2000) },
      { node: 'node-2', packetsPerSecond: 20000, range: 'MEASURED', cost: cost(20000) },
      { node: 'node-3', packetsPerSecond: 10, range: 'BELOW', cost: cost(10) },
    ],
    total: cost(22010),
    unknownNodes: 0,
    notes: ['1 node carries less than the lowest measured rate (1,000 packets/s): its figures are scaled down.'],
    basis: {
      measured: '2026-11-29 14:02 UTC',
      openVSwitch: 'Open vSwitch 3.1.0',
      datapath: 'userspace datapath (datapath_type=netdev)',
      rates: [1000, 10000, 50000],
      description:
        'the cost table measured 2026-11-29 14:02 UTC with Open vSwitch 3.1.0, userspace datapath (datapath_type=netdev)',
    },
    confirmation: null,
    ...overrides,
  };
};

export type Resolver = (
  request: GraphQLRequest,
) => GraphQLResponse<unknown> | Promise<GraphQLResponse<unknown>> | undefined;

/**
 * A connection whose HTTP answers come from `resolve` when it answers, else: a viewer (who may
 * switch unless given), and mutations that answer with a matching state. Subscriptions go to
 * `transport`.
 */
export interface FakeConnectionOptions {
  viewer?: Viewer;
  resolve?: Resolver;
  /** What the FlowEvents query answers (none by default). */
  events?: FlowEvent[];
  /** What Query.exportCosts answers; null: an error, as from a gateway without the field. */
  costs?: ExportCostTable | null;
  /** What Query.exportProjection answers per type (default: `projection(type)`); null: an error. */
  projections?: Partial<Record<FlowType, ExportProjection>> | null;
}

export const fakeConnection = (
  transport: FakeTransport,
  options: FakeConnectionOptions = {},
): GatewayConnection & { fetch: jest.Mock } => {
  const viewer = options.viewer ?? { user: 'admin', canSwitch: true, reason: null };
  const fallback = (request: GraphQLRequest): GraphQLResponse<unknown> => {
    if (request.operationName === 'Viewer') {
      return { data: { viewer } };
    }
    if (request.operationName === 'FlowEvents') {
      return { data: { events: options.events ?? [] } };
    }
    if (request.operationName === 'ExportCosts') {
      const costs = options.costs === undefined ? exportCosts() : options.costs;
      return costs
        ? { data: { exportCosts: costs } }
        : { errors: [gqlError('Cannot query field "exportCosts" on type "Query".', 'GRAPHQL_VALIDATION_FAILED')] };
    }
    if (request.operationName === 'ExportProjections' || request.operationName === 'ExportProjection') {
      if (options.projections === null) {
        return { errors: [gqlError('Cannot query field "exportProjection" on type "Query".', 'GRAPHQL_VALIDATION_FAILED')] };
      }
      const answer = (type: FlowType) => options.projections?.[type] ?? projection(type);
      if (request.operationName === 'ExportProjection') {
        return { data: { exportProjection: answer(request.variables?.type as FlowType) } };
      }
      return { data: { NETFLOW: answer('NETFLOW'), IPFIX: answer('IPFIX'), SFLOW: answer('SFLOW') } };
    }
    if (request.operationName === 'StartFlows') {
      return { data: { startFlows: state({ type: request.variables?.type as FlowsState['type'], generation: 2 }) } };
    }
    return { data: { stopFlows: state({ enabled: false, type: null, generation: 2 }) } };
  };
  return {
    httpUrl: '/graphql',
    wsUrl: 'ws://localhost/graphql',
    fetch: jest.fn((request: GraphQLRequest) =>
      Promise.resolve(options.resolve?.(request) ?? fallback(request)),
    ) as unknown as GatewayConnection['fetch'] & jest.Mock,
    connectionParams: () => undefined,
    createTransport: () => transport,
  };
};
