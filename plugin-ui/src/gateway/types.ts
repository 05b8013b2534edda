/** The parts of flowgate's GraphQL schema the UI reads and sends. */

export type FlowType = 'NETFLOW' | 'IPFIX' | 'SFLOW';
export type NodeFlowState = 'DISABLED' | 'PENDING' | 'EMITTING' | 'ERROR';

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
}

export interface FlowsSummary {
  total: number;
  disabled: number;
  pending: number;
  emitting: number;
  error: number;
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
