import type { FC } from 'react';
import {
  Checkbox,
  FormGroup,
  Radio,
  TextInput,
} from '@patternfly/react-core';
import type { InvalidArgumentField } from '../gateway/errors';
import { useFlowgateTranslation } from '../i18n/useFlowgateTranslation';
import type { FieldErrors } from './collectorForm';
import { FieldHelper, helperId, SettingsSection, type SettingsSectionProps } from './SettingsSection';
import type { NodeChoiceMode, NodeChoiceValues } from './exportWindow';

export interface NodeChoiceSectionProps extends SettingsSectionProps {
  values: NodeChoiceValues;
  onChange: (values: NodeChoiceValues, field: InvalidArgumentField) => void;
  errors: FieldErrors;
  /** How the running export chose its nodes, e.g. `nodes labelled zone=a`. */
  currentDescription?: string | null;
  /** `2 of 3 nodes selected`, while export runs. */
  selectedText?: string | null;
}

/** Which nodes export: every node, the nodes named, or the nodes whose labels match. */
export const NodeChoiceSection: FC<NodeChoiceSectionProps> = ({
  values,
  onChange,
  errors,
  isExpanded,
  onToggle,
  currentDescription,
  selectedText,
  onApply,
  isDisabled,
}) => {
  const { t } = useFlowgateTranslation();
  const modes: { mode: NodeChoiceMode; label: string; field: InvalidArgumentField }[] = [
    { mode: 'all', label: t('Every node'), field: 'nodes' },
    { mode: 'names', label: t('These nodes'), field: 'nodes' },
    { mode: 'labels', label: t('Nodes with these labels'), field: 'nodeSelector' },
  ];
  const toggleText = currentDescription
    ? t('Nodes: {{description}}', { description: currentDescription }) + (selectedText ? ` (${selectedText})` : '')
    : t('Nodes');

  return (
    <SettingsSection
      toggleText={toggleText}
      isExpanded={isExpanded}
      onToggle={onToggle}
      onApply={onApply}
      isDisabled={isDisabled}
      dataTest="node-choice"
    >
      <FormGroup role="radiogroup" isStack fieldId="flowgate-node-choice" label={t('Export from')}>
        {modes.map(({ mode, label, field }) => (
          <Radio
            key={mode}
            id={`flowgate-node-choice-${mode}`}
            name="flowgate-node-choice"
            label={label}
            isChecked={values.mode === mode}
            isDisabled={isDisabled}
            onChange={() => {
              onChange({ ...values, mode }, field);
            }}
          />
        ))}
      </FormGroup>
      {values.mode === 'names' && (
        <FormGroup label={t('Node names')} fieldId="flowgate-node-names">
          <TextInput
            id="flowgate-node-names"
            value={values.names}
            placeholder="node-1, node-2"
            validated={errors.nodes ? 'error' : 'default'}
            aria-describedby={helperId('nodes')}
            isDisabled={isDisabled}
            onChange={(_event, names) => {
              onChange({ ...values, names }, 'nodes');
            }}
          />
          <FieldHelper
            field="nodes"
            error={errors.nodes}
            hint={t('Comma-separated. The other nodes report Disabled, not selected.')}
          />
          <Checkbox
            id="flowgate-node-ignore-unknown"
            label={t('Start on the known nodes only (leave out names that are no node)')}
            isChecked={values.ignoreUnknown}
            isDisabled={isDisabled}
            onChange={(_event, ignoreUnknown) => {
              onChange({ ...values, ignoreUnknown }, 'nodes');
            }}
          />
        </FormGroup>
      )}
      {values.mode === 'labels' && (
        <FormGroup label={t('Node selector')} fieldId="flowgate-node-selector">
          <TextInput
            id="flowgate-node-selector"
            value={values.labels}
            placeholder="zone=a"
            validated={errors.nodeSelector ? 'error' : 'default'}
            aria-describedby={helperId('nodeSelector')}
            isDisabled={isDisabled}
            onChange={(_event, labels) => {
              onChange({ ...values, labels }, 'nodeSelector');
            }}
          />
          <FieldHelper
            field="nodeSelector"
            error={errors.nodeSelector}
            hint={t('key=value[,key=value]. A node labelled later joins, one unlabelled leaves, without a new start.')}
          />
        </FormGroup>
      )}
    </SettingsSection>
  );
};
