import { costRows, formatBytesPerSecond, formatCpu, nearestSampling } from './exportCosts';
import { exportCosts } from '../testing/fakeTransport';

describe('export costs', () => {
  const rows = costRows(exportCosts());

  it('makes one row per type and sampling, a cell per rate', () => {
    expect(rows.map((row) => [row.type, row.sampling, row.isDefault])).toEqual([
      ['NETFLOW', null, false],
      ['IPFIX', 400, true],
      ['IPFIX', 1, false],
      ['SFLOW', 400, true],
    ]);
    expect(rows[1].cells.map((cell) => cell?.cpuPercentOfCore)).toEqual([0.1, 1.5]);
  });

  it('points at the measured sampling nearest to the one asked for, the default when none is', () => {
    expect(nearestSampling(rows, 'IPFIX', '')).toBe(400);
    expect(nearestSampling(rows, 'IPFIX', '  ')).toBe(400);
    expect(nearestSampling(rows, 'IPFIX', '3')).toBe(1);
    expect(nearestSampling(rows, 'IPFIX', '100')).toBe(400);
    expect(nearestSampling(rows, 'IPFIX', 'abc')).toBe(400);
    expect(nearestSampling(rows, 'SFLOW', '1')).toBe(400);
    expect(nearestSampling(rows, 'NETFLOW', '64')).toBeNull();
  });

  it('writes rates and CPU as the CLI does', () => {
    expect(formatBytesPerSecond(640)).toBe('0.6 kB/s');
    expect(formatBytesPerSecond(99_940)).toBe('99.9 kB/s');
    expect(formatBytesPerSecond(310_400)).toBe('310 kB/s');
    expect(formatBytesPerSecond(14_200_000)).toBe('14.2 MB/s');
    expect(formatCpu(0.04)).toBe('0.0 %');
    expect(formatCpu(61.94)).toBe('61.9 %');
    expect(formatCpu(1.24, 0.81)).toBe('1.2±0.8 %');
  });
});
