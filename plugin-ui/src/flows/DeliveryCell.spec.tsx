import { screen } from '@testing-library/react';
import { DeliveryCell, formatRate, sparklinePoints, SPARKLINE_HEIGHT, SPARKLINE_WIDTH } from './DeliveryCell';
import { RATE_HISTORY_MS } from './flowsTableStore';
import { node } from '../testing/fakeTransport';
import { renderWithI18n } from '../testing/render';

const NAMES = { CONFIRMED: 'Confirmed', WAITING: 'Waiting', NOT_RECEIVED: 'Not received', UNKNOWN: 'Unknown' };

describe('DeliveryCell', () => {
  it('draws a step line over the last minutes, the last rate held until now', () => {
    const now = 10_000_000;
    const line = sparklinePoints(
      [
        { at: now - RATE_HISTORY_MS - 5_000, rate: 10 },
        { at: now - RATE_HISTORY_MS / 2, rate: 20 },
      ],
      now,
    );
    const bottom = SPARKLINE_HEIGHT - 1;
    const top = 1;
    expect(line).toBe(
      [`0.0,${(bottom - (10 / 20) * (SPARKLINE_HEIGHT - 2)).toFixed(1)}`, `32.0,8.0`, `32.0,${top.toFixed(1)}`,
        `${SPARKLINE_WIDTH.toFixed(1)},${top.toFixed(1)}`].join(' '), // prettier-ignore
    );
    expect(sparklinePoints([{ at: now, rate: null }], now)).toBe('');
    expect(sparklinePoints([], now)).toBe('');
    // A page open for a minute: that minute spans the width.
    expect(
      sparklinePoints(
        [
          { at: now - 60_000, rate: 4 },
          { at: now - 15_000, rate: 0 },
        ],
        now,
      ),
    ).toBe('0.0,1.0 48.0,1.0 48.0,15.0 64.0,15.0');
  });

  it('shows the verdict, the rate, a line, and a warning icon when records do not arrive', () => {
    const now = Date.now();
    const points = [
      { at: now - 120_000, rate: 12.5 },
      { at: now - 30_000, rate: 0 },
    ];
    const { container } = renderWithI18n(
      <DeliveryCell
        row={node('node-1', { delivery: 'NOT_RECEIVED', recordsPerSecond: 0, deliveryMessage: 'No records since 12:00.' })}
        points={points}
        now={now}
        names={NAMES}
      />,
    );
    expect(container.textContent).toContain('Not received');
    expect(container.textContent).toContain('0/s');
    expect(container.querySelector('[data-delivery="NOT_RECEIVED"]')).toHaveAttribute('title', 'No records since 12:00.');
    expect(container.querySelector('.pf-m-warning')).not.toBeNull();
    expect(screen.getByRole('img', { name: 'Records per second over the last 10 minutes' })).toBeInTheDocument();
  });

  it('shows nothing to receive for a node that does not emit, and no rate while unknown', () => {
    const disabled = renderWithI18n(
      <DeliveryCell row={node('n', { state: 'DISABLED' })} points={[]} now={0} names={NAMES} />,
    );
    expect(disabled.container.textContent).toBe('—');
    const unknown = renderWithI18n(
      <DeliveryCell row={node('n', { delivery: 'UNKNOWN', recordsPerSecond: 3 })} points={[]} now={0} names={NAMES} />,
    );
    expect(unknown.container.textContent.trim()).toBe('Unknown');
    expect(formatRate(1234.5, 'en')).toBe('1,230/s');
  });
});
