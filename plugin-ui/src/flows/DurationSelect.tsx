import { useState, type FC } from 'react';
import {
  Button,
  Flex,
  FlexItem,
  HelperText,
  HelperTextItem,
  MenuToggle,
  Select,
  SelectList,
  SelectOption,
  TextInput,
  Tooltip,
} from '@patternfly/react-core';
import { useFlowgateTranslation } from '../i18n/useFlowgateTranslation';
import type { DurationChoice } from './exportWindow';

export interface DurationSelectProps {
  value: DurationChoice;
  /** The typed duration, shown while `value` is `custom`. */
  custom: string;
  onSelect: (choice: DurationChoice) => void;
  onCustomChange: (text: string) => void;
  /** Applies the typed duration to the running export; absent while nothing runs. */
  onCustomApply?: () => void;
  /** A deadline runs: offer to keep it. */
  canKeep: boolean;
  isDisabled: boolean;
  disabledReason?: string | null;
  error?: string | null;
}

const ORDER: DurationChoice[] = ['keep', '15m', '1h', '4h', 'untilStopped', 'custom'];

/** "For": how long export runs once started (or restarted), next to "Flows emission". */
export const DurationSelect: FC<DurationSelectProps> = ({
  value,
  custom,
  onSelect,
  onCustomChange,
  onCustomApply,
  canKeep,
  isDisabled,
  disabledReason,
  error,
}) => {
  const { t } = useFlowgateTranslation();
  const [isOpen, setIsOpen] = useState(false);
  const labels: Record<DurationChoice, string> = {
    keep: t('Keep the current end'),
    '15m': t('15 min'),
    '1h': t('1 h'),
    '4h': t('4 h'),
    untilStopped: t('Until stopped'),
    custom: t('Other duration…'),
  };
  const choices = ORDER.filter((choice) => choice !== 'keep' || canKeep);

  const select = (
    <Select
      id="flowgate-duration-select"
      isOpen={isOpen && !isDisabled}
      selected={value}
      onSelect={(_event, selected) => {
        setIsOpen(false);
        if (typeof selected === 'string' && (choices as string[]).includes(selected)) {
          onSelect(selected as DurationChoice);
        }
      }}
      onOpenChange={setIsOpen}
      shouldFocusToggleOnSelect
      toggle={(toggleRef) => (
        <MenuToggle
          ref={toggleRef}
          id="flowgate-duration-toggle"
          aria-labelledby="flowgate-duration-label flowgate-duration-toggle"
          onClick={() => {
            setIsOpen((open) => !open);
          }}
          isExpanded={isOpen}
          isDisabled={isDisabled}
        >
          {labels[value]}
        </MenuToggle>
      )}
    >
      <SelectList aria-label={t('For')}>
        {choices.map((choice) => (
          <SelectOption key={choice} value={choice}>
            {labels[choice]}
          </SelectOption>
        ))}
      </SelectList>
    </Select>
  );

  return (
    <Flex alignItems={{ default: 'alignItemsCenter' }} spaceItems={{ default: 'spaceItemsSm' }}>
      <FlexItem>
        <label id="flowgate-duration-label" htmlFor="flowgate-duration-toggle" className="flowgate__label">
          {t('For')}
        </label>
      </FlexItem>
      <FlexItem>
        {isDisabled && disabledReason ? (
          <Tooltip content={disabledReason}>
            <span tabIndex={0}>{select}</span>
          </Tooltip>
        ) : (
          select
        )}
      </FlexItem>
      {value === 'custom' && (
        <FlexItem>
          <form
            className="flowgate__duration-form"
            onSubmit={(event) => {
              event.preventDefault();
              onCustomApply?.();
            }}
          >
            <TextInput
              id="flowgate-duration-custom"
              aria-label={t('Duration, e.g. 2h30m')}
              placeholder="2h30m"
              value={custom}
              validated={error ? 'error' : 'default'}
              aria-describedby={error ? 'flowgate-duration-helper' : undefined}
              isDisabled={isDisabled}
              onChange={(_event, text) => {
                onCustomChange(text);
              }}
            />
            {onCustomApply && (
              <Button type="submit" variant="secondary" isDisabled={isDisabled}>
                {t('Set')}
              </Button>
            )}
          </form>
        </FlexItem>
      )}
      {error && (
        <FlexItem>
          <HelperText id="flowgate-duration-helper">
            <HelperTextItem variant="error" data-test="helper-durationSeconds">
              {error}
            </HelperTextItem>
          </HelperText>
        </FlexItem>
      )}
    </Flex>
  );
};
