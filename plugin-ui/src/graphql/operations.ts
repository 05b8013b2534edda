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
      selected
    }
    deadline
    ended
    nodeChoice {
      mode
      names
      selector {
        key
        value
      }
      description
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
    packetsPerSecond
    projectedRecordsPerSecond
    projectedExportBytesPerSecond
    projectionRange
    selected
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

const PROJECTION_FIELDS = /* GraphQL */ `
  fragment ProjectionFields on ExportProjection {
    type
    sampling
    activeTimeoutSeconds
    nodes {
      node
      packetsPerSecond
      range
      cost {
        ...CostFields
      }
    }
    total {
      ...CostFields
    }
    unknownNodes
    notes
    basis {
      measured
      openVSwitch
      datapath
      rates
      description
    }
    confirmation
  }
  fragment CostFields on CostFigures {
    cpuPercentOfCore
    cpuSpread
    memoryMib
    exportBytesPerSecond
    recordsPerSecond
  }
`;

/**
 * What each type would cost with the form's tuning (a dry run: nothing changes). Sampling applies
 * to IPFIX and sFlow, the cache to IPFIX, as startFlows takes them.
 */
export const EXPORT_PROJECTIONS_QUERY = /* GraphQL */ `
  query ExportProjections(
    $sampling: Int
    $activeTimeoutSeconds: Int
    $cacheMaxFlows: Int
    $nodes: [String!]
    $nodeSelector: [LabelInput!]
    $ignoreUnknownNodes: Boolean! = false
  ) {
    NETFLOW: exportProjection(
      type: NETFLOW
      activeTimeoutSeconds: $activeTimeoutSeconds
      nodes: $nodes
      nodeSelector: $nodeSelector
      ignoreUnknownNodes: $ignoreUnknownNodes
    ) {
      ...ProjectionFields
    }
    IPFIX: exportProjection(
      type: IPFIX
      sampling: $sampling
      activeTimeoutSeconds: $activeTimeoutSeconds
      cacheMaxFlows: $cacheMaxFlows
      nodes: $nodes
      nodeSelector: $nodeSelector
      ignoreUnknownNodes: $ignoreUnknownNodes
    ) {
      ...ProjectionFields
    }
    SFLOW: exportProjection(
      type: SFLOW
      sampling: $sampling
      nodes: $nodes
      nodeSelector: $nodeSelector
      ignoreUnknownNodes: $ignoreUnknownNodes
    ) {
      ...ProjectionFields
    }
  }
  ${PROJECTION_FIELDS}
`;

/** A dry run of exactly the startFlows about to be sent: what it would cost, and whether to confirm it first. */
export const EXPORT_PROJECTION_QUERY = /* GraphQL */ `
  query ExportProjection(
    $type: FlowType!
    $collector: CollectorInput
    $sampling: Int
    $activeTimeoutSeconds: Int
    $cacheMaxFlows: Int
    $durationSeconds: Int
    $nodes: [String!]
    $nodeSelector: [LabelInput!]
    $ignoreUnknownNodes: Boolean! = false
  ) {
    exportProjection(
      type: $type
      collector: $collector
      sampling: $sampling
      activeTimeoutSeconds: $activeTimeoutSeconds
      cacheMaxFlows: $cacheMaxFlows
      durationSeconds: $durationSeconds
      nodes: $nodes
      nodeSelector: $nodeSelector
      ignoreUnknownNodes: $ignoreUnknownNodes
    ) {
      ...ProjectionFields
    }
  }
  ${PROJECTION_FIELDS}
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
    $durationSeconds: Int
    $nodes: [String!]
    $nodeSelector: [LabelInput!]
    $ignoreUnknownNodes: Boolean! = false
  ) {
    startFlows(
      type: $type
      collector: $collector
      sampling: $sampling
      activeTimeoutSeconds: $activeTimeoutSeconds
      cacheMaxFlows: $cacheMaxFlows
      durationSeconds: $durationSeconds
      nodes: $nodes
      nodeSelector: $nodeSelector
      ignoreUnknownNodes: $ignoreUnknownNodes
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
  ExportProjections: EXPORT_PROJECTIONS_QUERY,
  ExportProjection: EXPORT_PROJECTION_QUERY,
  FlowsTable: FLOWS_TABLE_SUBSCRIPTION,
  StartFlows: START_FLOWS_MUTATION,
  StopFlows: STOP_FLOWS_MUTATION,
} as const;
