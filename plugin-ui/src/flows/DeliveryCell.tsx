/**
 * The "Received" cell: whether the node's collector receives its records (the delivery verdict),
 * at what rate, and a small line of that rate over the last minutes. Plain SVG: one polyline per
 * row, drawn only for the rows on the page.
 */
import { memo, useMemo, type FC } from 'react';
import { Icon } from '@patternfly/react-core';
import { ExclamationTriangleIcon, InProgressIcon } from '@patternfly/react-icons';
import type { FlowDelivery, NodeFlowStatus } from '../gateway/types';
import { useFlowgateTranslation } from '../i18n/useFlowgateTranslation';
import { RATE_HISTORY_MS, type RatePoint } from './flowsTableStore';

export const SPARKLINE_WIDTH = 64;
export const SPARKLINE_HEIGHT = 16;

/** The verdicts' names; the same object while the language stays, so memoized rows stay skipped. */
export const useDeliveryNames = (): Record<FlowDelivery, string> => {
  const { t } = useFlowgateTranslation();
  return useMemo(
    () => ({
      CONFIRMED: t('Confirmed'),
      WAITING: t('Waiting'),
      NOT_RECEIVED: t('Not received'),
      UNKNOWN: t('Unknown'),
    }),
    [t],
  );
};

const rateFormats = new Map<string, Intl.NumberFormat>();
/** "12.5/s", three significant digits, in the given locale. */
export const formatRate = (rate: number, locale?: string): string => {
  const key = locale ?? '';
  let format = rateFormats.get(key);
  if (!format) {
    format = new Intl.NumberFormat(locale, { maximumSignificantDigits: 3 });
    rateFormats.set(key, format);
  }
  return `${format.format(rate)}/s`;
};

/**
 * The SVG polyline points of a step line through `points` over the window ending at `now`: each
 * rate holds until the next one, the last until now. A history younger than the window (the page
 * just opened) spans the whole width. Empty when no rate is known.
 */
export const sparklinePoints = (
  points: readonly RatePoint[],
  now: number,
  width = SPARKLINE_WIDTH,
  height = SPARKLINE_HEIGHT,
  windowMs = RATE_HISTORY_MS,
): string => {
  if (!points.some((point) => point.rate !== null)) {
    return '';
  }
  const start = Math.max(now - windowMs, Math.min(points[0].at, now));
  const span = Math.max(now - start, 1);
  const max = Math.max(...points.map((point) => point.rate ?? 0)) || 1;
  const x = (at: number) => (Math.min(Math.max(at - start, 0), span) / span) * width;
  const y = (rate: number | null) => height - 1 - ((rate ?? 0) / max) * (height - 2);
  const coordinates: string[] = [];
  points.forEach((point, index) => {
    const left = x(point.at);
    if (index > 0) {
      coordinates.push(`${left.toFixed(1)},${y(points[index - 1].rate).toFixed(1)}`);
    }
    coordinates.push(`${left.toFixed(1)},${y(point.rate).toFixed(1)}`);
  });
  coordinates.push(`${width.toFixed(1)},${y(points[points.length - 1].rate).toFixed(1)}`);
  return coordinates.join(' ');
};

export const Sparkline: FC<{ points: readonly RatePoint[]; now: number; label: string }> = memo(
  ({ points, now, label }) => {
    const line = sparklinePoints(points, now);
    if (!line) {
      return null;
    }
    return (
      <svg
        className="flowgate__sparkline"
        width={SPARKLINE_WIDTH}
        height={SPARKLINE_HEIGHT}
        viewBox={`0 0 ${String(SPARKLINE_WIDTH)} ${String(SPARKLINE_HEIGHT)}`}
        role="img"
        aria-label={label}
      >
        <polyline points={line} fill="none" stroke="currentColor" strokeWidth={1.5} />
      </svg>
    );
  },
);
Sparkline.displayName = 'Sparkline';

export interface DeliveryCellProps {
  row: NodeFlowStatus;
  points: readonly RatePoint[];
  now: number;
  names: Record<FlowDelivery, string>;
  locale?: string;
}

export const DeliveryCell: FC<DeliveryCellProps> = ({ row, points, now, names, locale }) => {
  const { t } = useFlowgateTranslation();
  if (row.state !== 'EMITTING') {
    return <>—</>;
  }
  const delivery = row.delivery ?? 'UNKNOWN';
  const rate =
    typeof row.recordsPerSecond === 'number' && delivery !== 'UNKNOWN'
      ? formatRate(row.recordsPerSecond, locale)
      : null;
  let icon = null;
  if (delivery === 'NOT_RECEIVED') {
    icon = (
      <Icon isInline status="warning">
        <ExclamationTriangleIcon />
      </Icon>
    );
  } else if (delivery === 'WAITING') {
    icon = (
      <Icon isInline>
        <InProgressIcon />
      </Icon>
    );
  }
  return (
    <span className="flowgate__delivery" data-delivery={delivery} title={row.deliveryMessage ?? undefined}>
      {icon}
      {icon && ' '}
      {names[delivery]}
      {rate && <span className="flowgate__rate"> {rate}</span>}
      {points.some((point) => point.rate !== null) && (
        <>
          {' '}
          <Sparkline points={points} now={now} label={t('Records per second over the last 10 minutes')} />
        </>
      )}
    </span>
  );
};
