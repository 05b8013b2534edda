import type { FC } from 'react';
import { Label, Tooltip } from '@patternfly/react-core';
import { OutlinedClockIcon } from '@patternfly/react-icons';
import type { FlowsState } from '../gateway/types';
import { useFlowgateTranslation } from '../i18n/useFlowgateTranslation';
import { formatCountdown, runningDeadline, timeOf } from './exportWindow';
import { formatAge } from './rows';
import { useNow } from './useNow';

/**
 * When export stops by itself: a countdown while a deadline runs, how long ago it ended after.
 * The deadline is on the API server's clock; the countdown reads this browser's.
 */
export const ExportCountdown: FC<{ state: FlowsState | null }> = ({ state }) => {
  const { t, i18n } = useFlowgateTranslation();
  const deadline = runningDeadline(state);
  const ended = state?.ended ? timeOf(state.deadline) : null;
  const now = useNow(deadline !== null ? 1000 : 30_000);
  if (deadline === null && ended === null) {
    return null;
  }
  const at = new Date(deadline ?? ended ?? 0).toLocaleString(i18n.language);
  const text =
    deadline !== null
      ? t('Stops in {{left}}', { left: formatCountdown(deadline - now) })
      : t('Ended {{ago}}', { ago: formatAge(state?.deadline, now, i18n.language) ?? '' });
  return (
    <Tooltip content={deadline !== null ? t('Every node stops by itself at {{at}}.', { at }) : t('Ended at {{at}}.', { at })}>
      <Label
        color={deadline !== null ? 'blue' : 'grey'}
        icon={<OutlinedClockIcon />}
        data-test="export-countdown"
        tabIndex={0}
      >
        {text}
      </Label>
    </Tooltip>
  );
};
