/** The parts of flowgate's GraphQL schema the UI reads and sends. */

export type FlowType = 'NETFLOW' | 'IPFIX' | 'SFLOW';
export type NodeFlowState = 'DISABLED' | 'PENDING' | 'EMITTING' | 'ERROR';
/** Whether a node's collector receives its records (from the collector's own counters). */
export type FlowDelivery = 'CONFIRMED' | 'WAITING' | 'NOT_RECEIVED' | 'UNKNOWN';
/** Where a node's packet rate lies against the rates the cost table measured. */
export type TrafficRange = 'MEASURED' | 'BELOW' | 'ABOVE' | 'UNKNOWN';

export interface Label {
  key: string;
  value: string;
}

export interface CollectorTarget {
  mode: string;
  nodePort?: number | null;
  selector?: Label[] | null;
  targets?: string[] | null;
  description: string;
}

export interface CollectorInput {
  nodePort?: number | null;
  selector?: Label[] | null;
  targets?: string[] | null;
}

export interface NodeFlowStatus {
  node: string;
  state: NodeFlowState;
  type?: FlowType | null;
  endpoint?: string | null;
  message?: string | null;
  updatedAt?: string | null;
  observedGeneration?: number | null;
  delivery?: FlowDelivery | null;
  /** Records a second the collector counted from this node. */
  recordsPerSecond?: number | null;
  lastRecordAt?: string | null;
  deliverySince?: string | null;
  deliveryMessage?: string | null;
  /** Packets a second entering the node's br-int (its agent measures them whether export is on or off). */
  packetsPerSecond?: number | null;
  trafficMeasuredAt?: string | null;
  /** While exporting: the running setting's projected records a second at packetsPerSecond. */
  projectedRecordsPerSecond?: number | null;
  projectedExportBytesPerSecond?: number | null;
  projectionRange?: TrafficRange | null;
  /** Whether the running export chose this node (every node when it chose none). */
  selected?: boolean | null;
}

export interface FlowsSummary {
  total: number;
  disabled: number;
  pending: number;
  emitting: number;
  error: number;
  /** Nodes the export chose (every node when it chose none). */
  selected?: number | null;
}

/** Which nodes export: every node, the nodes named, or the nodes carrying labels. */
export interface NodeChoice {
  mode: 'all' | 'names' | 'selector' | (string & {});
  names?: string[] | null;
  selector?: Label[] | null;
  description: string;
}

export interface OperatorExporter {
  type: FlowType;
  collectors: string[];
}

/** Flow export managed by OpenShift's Cluster Network Operator (spec.exportNetworkFlows). */
export interface OperatorExport {
  manager: string;
  field: string;
  exporters: OperatorExporter[];
  message: string;
}

/** FlowsState as the UI selects it: cluster level, without `nodes`. */
export interface FlowsState {
  enabled: boolean;
  type?: FlowType | null;
  collector?: CollectorTarget | null;
  networkType?: string | null;
  supported: boolean;
  unsupportedReason?: string | null;
  generation: number;
  summary: FlowsSummary;
  operatorExport?: OperatorExport | null;
  /** When every node stops exporting by itself (RFC 3339, the API server's clock); null: until stopped. */
  deadline?: string | null;
  /** The deadline has passed: every node stopped by itself (`enabled` is false). */
  ended?: boolean | null;
  nodeChoice?: NodeChoice | null;
}

/** An Event about flow export: a switch (naming who made it) or a node turning to Error. */
export interface FlowEvent {
  time: string;
  type: string;
  reason: string;
  regarding: string;
  note: string;
  count: number;
  user?: string | null;
}

export interface Viewer {
  user?: string | null;
  canSwitch: boolean;
  reason?: string | null;
}

export interface FlowsTableUpdate {
  snapshot: boolean;
  state: FlowsState;
  changed: NodeFlowStatus[];
  removed: string[];
}

export interface StartFlowsVariables {
  type: FlowType;
  collector?: CollectorInput | null;
  sampling?: number | null;
  activeTimeoutSeconds?: number | null;
  cacheMaxFlows?: number | null;
  durationSeconds?: number | null;
  nodes?: string[] | null;
  nodeSelector?: Label[] | null;
  ignoreUnknownNodes?: boolean;
}

/** What one export setting costs a node at one packet rate (Query.exportCosts). */
export interface ExportCost {
  type: FlowType;
  sampling?: number | null;
  isDefault: boolean;
  packetsPerSecond: number;
  cpuPercentOfCore: number;
  cpuSpread: number;
  memoryMib: number;
  exportBytesPerSecond: number;
}

export interface ExportCostTable {
  measured: string;
  openVSwitch: string;
  machine: string;
  traffic: string;
  activeTimeoutSeconds: number;
  rates: number[];
  estimates: ExportCost[];
}

/** What export costs one node, or all of them (Query.exportProjection). */
export interface CostFigures {
  cpuPercentOfCore: number;
  cpuSpread: number;
  memoryMib: number;
  exportBytesPerSecond: number;
  recordsPerSecond: number;
}

export interface NodeCostProjection {
  node: string;
  packetsPerSecond?: number | null;
  range: TrafficRange;
  cost?: CostFigures | null;
}

export interface ProjectionBasis {
  measured: string;
  openVSwitch: string;
  datapath: string;
  rates: number[];
  description: string;
}

/** What a setting would cost each node at the traffic it carries now, and in total. */
export interface ExportProjection {
  type: FlowType;
  sampling?: number | null;
  activeTimeoutSeconds?: number | null;
  nodes: NodeCostProjection[];
  total: CostFigures;
  unknownNodes: number;
  notes: string[];
  basis: ProjectionBasis;
  /** Why switching to it should be confirmed (a projected total passes a threshold); null: no need. */
  confirmation?: string | null;
}
