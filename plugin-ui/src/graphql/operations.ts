/**
 * Every GraphQL document the UI sends, as plain strings, so they can be validated against the
 * gateway's schema (see operations.spec.ts).
 */

const FLOWS_STATE_FIELDS = /* GraphQL */ `
  fragment FlowsStateFields on FlowsState {
    enabled
    type
    networkType
    supported
    unsupportedReason
    generation
    collector {
      mode
      nodePort
      selector {
        key
        value
      }
      targets
      description
    }
    summary {
      total
      disabled
      pending
      emitting
      error
    }
    operatorExport {
      manager
      field
      exporters {
        type
        collectors
      }
      message
    }
  }
`;

const NODE_ROW_FIELDS = /* GraphQL */ `
  fragment NodeRowFields on NodeFlowStatus {
    node
    state
    type
    endpoint
    message
    updatedAt
    observedGeneration
    delivery
    recordsPerSecond
    lastRecordAt
    deliverySince
    deliveryMessage
  }
`;

export const VIEWER_QUERY = /* GraphQL */ `
  query Viewer {
    viewer {
      user
      canSwitch
      reason
    }
  }
`;

export const EXPORT_COSTS_QUERY = /* GraphQL */ `
  query ExportCosts {
    exportCosts {
      measured
      openVSwitch
      machine
      traffic
      activeTimeoutSeconds
      rates
      estimates {
        type
        sampling
        isDefault
        packetsPerSecond
        cpuPercentOfCore
        cpuSpread
        memoryMib
        exportBytesPerSecond
      }
    }
  }
`;

export const FLOWS_TABLE_SUBSCRIPTION = /* GraphQL */ `
  subscription FlowsTable {
    flowsTable {
      snapshot
      state {
        ...FlowsStateFields
      }
      changed {
        ...NodeRowFields
      }
      removed
    }
  }
  ${FLOWS_STATE_FIELDS}
  ${NODE_ROW_FIELDS}
`;

export const START_FLOWS_MUTATION = /* GraphQL */ `
  mutation StartFlows(
    $type: FlowType!
    $collector: CollectorInput
    $sampling: Int
    $activeTimeoutSeconds: Int
    $cacheMaxFlows: Int
  ) {
    startFlows(
      type: $type
      collector: $collector
      sampling: $sampling
      activeTimeoutSeconds: $activeTimeoutSeconds
      cacheMaxFlows: $cacheMaxFlows
    ) {
      ...FlowsStateFields
    }
  }
  ${FLOWS_STATE_FIELDS}
`;

export const STOP_FLOWS_MUTATION = /* GraphQL */ `
  mutation StopFlows {
    stopFlows {
      ...FlowsStateFields
    }
  }
  ${FLOWS_STATE_FIELDS}
`;

export const FLOW_EVENTS_QUERY = /* GraphQL */ `
  query FlowEvents($limit: Int) {
    events(limit: $limit) {
      time
      type
      reason
      regarding
      note
      count
      user
    }
  }
`;

/** All documents by operation name. */
export const OPERATIONS = {
  Viewer: VIEWER_QUERY,
  FlowEvents: FLOW_EVENTS_QUERY,
  ExportCosts: EXPORT_COSTS_QUERY,
  FlowsTable: FLOWS_TABLE_SUBSCRIPTION,
  StartFlows: START_FLOWS_MUTATION,
  StopFlows: STOP_FLOWS_MUTATION,
} as const;
