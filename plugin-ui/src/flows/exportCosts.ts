import type { ExportCost, ExportCostTable, FlowType } from '../gateway/types';

export interface CostRow {
  type: FlowType;
  sampling: number | null;
  isDefault: boolean;
  /** By packet rate, in the table's order of rates. */
  cells: (ExportCost | null)[];
}

/** One row per (type, sampling), in the order the table lists them. */
export const costRows = (table: ExportCostTable): CostRow[] => {
  const rows = new Map<string, CostRow>();
  for (const estimate of table.estimates) {
    const key = `${estimate.type}/${String(estimate.sampling ?? '')}`;
    let row = rows.get(key);
    if (!row) {
      row = {
        type: estimate.type,
        sampling: estimate.sampling ?? null,
        isDefault: estimate.isDefault,
        cells: table.rates.map(() => null),
      };
      rows.set(key, row);
    }
    const column = table.rates.indexOf(estimate.packetsPerSecond);
    if (column >= 0) {
      row.cells[column] = estimate;
    }
  }
  return [...rows.values()];
};

/**
 * The measured sampling of `type` closest to the one asked for (on a log scale; the type's
 * default when empty), so the row an admin is about to get can be pointed out. NetFlow: null.
 */
export const nearestSampling = (rows: CostRow[], type: FlowType, sampling: string): number | null => {
  const measured = rows.filter((row) => row.type === type && row.sampling !== null);
  if (!measured.length) {
    return null;
  }
  const asked = Number(sampling.trim());
  if (!sampling.trim() || !Number.isFinite(asked) || asked < 1) {
    return (measured.find((row) => row.isDefault) ?? measured[0]).sampling;
  }
  const distance = (row: CostRow) => Math.abs(Math.log(row.sampling ?? 1) - Math.log(asked));
  return measured.reduce((best, row) => (distance(row) < distance(best) ? row : best)).sampling;
};

/** 2.1 kB/s, 310 kB/s, 1.4 MB/s: as `kubectl flows start --help` writes them. */
export const formatBytesPerSecond = (bytesPerSecond: number): string => {
  if (bytesPerSecond >= 1_000_000) {
    return `${(bytesPerSecond / 1_000_000).toFixed(1)} MB/s`;
  }
  const kilo = bytesPerSecond / 1000;
  return kilo < 100 ? `${kilo.toFixed(1)} kB/s` : `${kilo.toFixed(0)} kB/s`;
};

/** 1.2 %, or 1.2±0.8 % with the spread: as `kubectl flows start --help` writes them. */
export const formatCpu = (percent: number, spread?: number): string =>
  spread === undefined ? `${percent.toFixed(1)} %` : `${percent.toFixed(1)}±${spread.toFixed(1)} %`;
