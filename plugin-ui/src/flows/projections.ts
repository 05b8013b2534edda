/** Projected export cost, as the gateway answers Query.exportProjection: what the form's tuning asks for, and how figures read. */
import type { CostFigures, ExportProjection, FlowType, Label, NodeCostProjection, NodeFlowStatus } from '../gateway/types';
import type { CollectorFormValues } from './collectorForm';
import { formatBytesPerSecond, formatCpu } from './exportCosts';

/** The tuning a projection is asked for: the form's numbers, or null while one is not a whole number of 1 or more. */
export interface ProjectionTuning {
  sampling: number | null;
  activeTimeoutSeconds: number | null;
  cacheMaxFlows: number | null;
  /** The nodes a start would choose (every node when neither is given). */
  nodes?: string[] | null;
  nodeSelector?: Label[] | null;
  ignoreUnknownNodes?: boolean;
}

const positive = (value: string): number | null | undefined => {
  const trimmed = value.trim();
  if (!trimmed) {
    return null;
  }
  return /^\d+$/.test(trimmed) && Number(trimmed) >= 1 ? Number(trimmed) : undefined;
};

export const projectionTuning = (form: CollectorFormValues): ProjectionTuning | null => {
  const sampling = positive(form.sampling);
  const activeTimeoutSeconds = positive(form.activeTimeoutSeconds);
  const cacheMaxFlows = positive(form.cacheMaxFlows);
  if (sampling === undefined || activeTimeoutSeconds === undefined || cacheMaxFlows === undefined) {
    return null;
  }
  return { sampling, activeTimeoutSeconds, cacheMaxFlows };
};

export type Projections = Partial<Record<FlowType, ExportProjection>>;

/**
 * What moves the projection: the nodes and the traffic each reports. Agents rewrite a rate at
 * most once a minute, so this changes rarely; the hook refetches on it (throttled).
 */
export const trafficKey = (rows: ReadonlyMap<string, NodeFlowStatus>): string => {
  let known = 0;
  let total = 0;
  for (const row of rows.values()) {
    if (typeof row.packetsPerSecond === 'number') {
      known += 1;
      total += row.packetsPerSecond;
    }
  }
  return `${String(rows.size)}/${String(known)}/${total.toFixed(1)}`;
};

const packetFormats = new Map<string, Intl.NumberFormat>();
/** "850", "12.3K": packets a second, compact, in the given locale. */
export const formatPackets = (packets: number, locale?: string): string => {
  const key = locale ?? '';
  let format = packetFormats.get(key);
  if (!format) {
    format = new Intl.NumberFormat(locale, { notation: 'compact', maximumSignificantDigits: 3 });
    packetFormats.set(key, format);
  }
  return format.format(packets);
};

/** "3.6±3.2 % CPU · 171 kB/s": a projected cost in a phrase. */
export const formatCost = (cost: CostFigures): string =>
  `${formatCpu(cost.cpuPercentOfCore, cost.cpuSpread)} CPU · ${formatBytesPerSecond(cost.exportBytesPerSecond)}`;

/** The nodes that cost the most first (by export, then CPU); those with unknown traffic last. */
export const costliestFirst = (nodes: readonly NodeCostProjection[]): NodeCostProjection[] =>
  [...nodes].sort((a, b) => {
    const x = a.cost;
    const y = b.cost;
    if (!x || !y) {
      return x ? -1 : y ? 1 : a.node.localeCompare(b.node);
    }
    return (
      y.exportBytesPerSecond - x.exportBytesPerSecond ||
      y.cpuPercentOfCore - x.cpuPercentOfCore ||
      a.node.localeCompare(b.node)
    );
  });
