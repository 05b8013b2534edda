import { useState, type FC } from 'react';
import { Flex, FlexItem, MenuToggle, Select, SelectList, SelectOption, Skeleton, Spinner, Tooltip } from '@patternfly/react-core';
import type { FlowType } from '../gateway/types';
import { useFlowgateTranslation } from '../i18n/useFlowgateTranslation';
import { FLOW_TYPE_NAMES } from './NodeStateLabel';

export type EmissionChoice = FlowType | 'DISABLED';

const CHOICES: EmissionChoice[] = ['DISABLED', 'NETFLOW', 'IPFIX', 'SFLOW'];

export interface EmissionSelectProps {
  /**
   * What the cluster does now (or what was just asked for, while busy); null until the gateway
   * has said, so the select never shows a setting it does not know.
   */
  value: EmissionChoice | null;
  onSelect: (choice: EmissionChoice) => void;
  isDisabled: boolean;
  /** Shown in a tooltip over the disabled select. */
  disabledReason?: string | null;
  busy: boolean;
  /** Under each choice: what it would cost (the projection), so the price shows while choosing. */
  descriptions?: Partial<Record<EmissionChoice, string>>;
}

/** The "Flows emission" select: Disabled, NetFlow, IPFIX, sFlow. */
export const EmissionSelect: FC<EmissionSelectProps> = ({
  value,
  onSelect,
  isDisabled,
  disabledReason,
  busy,
  descriptions,
}) => {
  const { t } = useFlowgateTranslation();
  const [isOpen, setIsOpen] = useState(false);
  const label = (choice: EmissionChoice) => (choice === 'DISABLED' ? t('Disabled') : FLOW_TYPE_NAMES[choice]);

  const select = (
    <Select
      id="flowgate-emission-select"
      isOpen={isOpen && !isDisabled}
      selected={value ?? undefined}
      onSelect={(_event, selected) => {
        setIsOpen(false);
        if (typeof selected === 'string' && (CHOICES as string[]).includes(selected)) {
          onSelect(selected as EmissionChoice);
        }
      }}
      onOpenChange={setIsOpen}
      shouldFocusToggleOnSelect
      toggle={(toggleRef) => (
        <MenuToggle
          ref={toggleRef}
          id="flowgate-emission-toggle"
          className="flowgate__emission"
          aria-labelledby="flowgate-emission-label flowgate-emission-toggle"
          onClick={() => {
            setIsOpen((open) => !open);
          }}
          isExpanded={isOpen}
          isDisabled={isDisabled}
          icon={busy ? <Spinner size="sm" aria-label={t('Switching')} /> : undefined}
        >
          {value === null ? (
            <Skeleton width="6em" screenreaderText={t('Not known yet')} data-test="emission-unknown" />
          ) : (
            label(value)
          )}
        </MenuToggle>
      )}
    >
      <SelectList aria-label={t('Flows emission')}>
        {CHOICES.map((choice) => (
          // The name stays the choice itself; its projected cost shows under it (and in the panel).
          <SelectOption
            key={choice}
            value={choice}
            description={descriptions?.[choice]}
            aria-label={descriptions?.[choice] ? label(choice) : undefined}
          >
            {label(choice)}
          </SelectOption>
        ))}
      </SelectList>
    </Select>
  );

  return (
    <Flex alignItems={{ default: 'alignItemsCenter' }} spaceItems={{ default: 'spaceItemsSm' }}>
      <FlexItem>
        <label id="flowgate-emission-label" htmlFor="flowgate-emission-toggle" className="flowgate__label">
          {t('Flows emission')}
        </label>
      </FlexItem>
      <FlexItem>
        {isDisabled && disabledReason ? (
          <Tooltip content={disabledReason}>
            <span tabIndex={0} data-test="emission-disabled-reason">
              {select}
            </span>
          </Tooltip>
        ) : (
          select
        )}
      </FlexItem>
    </Flex>
  );
};
