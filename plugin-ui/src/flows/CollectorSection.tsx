import type { FC } from 'react';
import {
  Button,
  FormGroup,
  Grid,
  GridItem,
  InputGroup,
  InputGroupItem,
  Radio,
  TextInput,
} from '@patternfly/react-core';
import { MinusCircleIcon, PlusCircleIcon } from '@patternfly/react-icons';
import type { InvalidArgumentField } from '../gateway/errors';
import type { ExportCostTable as CostTable, FlowType } from '../gateway/types';
import { useFlowgateTranslation } from '../i18n/useFlowgateTranslation';
import {
  MAX_TARGETS,
  type CollectorFormValues,
  type CollectorMode,
  type FieldErrors,
} from './collectorForm';
import { ExportCostTable } from './ExportCostTable';
import { FieldHelper, helperId, SettingsSection, type SettingsSectionProps } from './SettingsSection';

export interface CollectorSectionProps extends SettingsSectionProps {
  values: CollectorFormValues;
  onChange: (values: CollectorFormValues, field: InvalidArgumentField) => void;
  errors: FieldErrors;
  /** The running export's collector, e.g. `selector role=flows-collector`. */
  currentDescription?: string | null;
  /** What each setting costs a node, when the gateway has the table. */
  costs?: CostTable | null;
  /** The running type, whose row the cost table points out. */
  runningType?: FlowType | null;
}

export const CollectorSection: FC<CollectorSectionProps> = ({
  values,
  onChange,
  errors,
  isExpanded,
  onToggle,
  currentDescription,
  onApply,
  isDisabled,
  costs,
  runningType,
}) => {
  const { t } = useFlowgateTranslation();
  const set = <K extends keyof CollectorFormValues>(key: K, value: CollectorFormValues[K], field: InvalidArgumentField) => {
    onChange({ ...values, [key]: value }, field);
  };
  const describedBy = (field: InvalidArgumentField) => (errors[field] ? helperId(field) : undefined);
  const validated = (field: InvalidArgumentField) => (errors[field] ? 'error' : 'default');

  const modes: { mode: CollectorMode; label: string }[] = [
    { mode: 'default', label: t('Default: the NodePort Service labelled role=flows-collector') },
    { mode: 'nodePort', label: t('Node port') },
    { mode: 'selector', label: t('Service selector') },
    { mode: 'targets', label: t('Static targets') },
  ];

  const toggleText = currentDescription
    ? t('Collector: {{description}}', { description: currentDescription })
    : t('Collector');

  return (
    <SettingsSection
      toggleText={toggleText}
      isExpanded={isExpanded}
      onToggle={onToggle}
      onApply={onApply}
      isDisabled={isDisabled}
      after={costs && <ExportCostTable table={costs} type={runningType ?? null} sampling={values.sampling} />}
    >
      <FormGroup role="radiogroup" isInline={false} fieldId="flowgate-collector-mode" label={t('Send flows to')} isStack>
        {modes.map(({ mode, label }) => (
          <Radio
            key={mode}
            id={`flowgate-collector-mode-${mode}`}
            name="flowgate-collector-mode"
            label={label}
            isChecked={values.mode === mode}
            isDisabled={isDisabled}
            onChange={() => {
              set('mode', mode, 'collector');
            }}
          />
        ))}
        <FieldHelper field="collector" error={errors.collector} />
      </FormGroup>

      {values.mode === 'nodePort' && (
        <FormGroup label={t('Node port')} fieldId="flowgate-collector-node-port">
          <TextInput
            id="flowgate-collector-node-port"
            type="number"
            inputMode="numeric"
            value={values.nodePort}
            validated={validated('collector.nodePort')}
            aria-describedby={describedBy('collector.nodePort')}
            isDisabled={isDisabled}
            onChange={(_event, value) => {
              set('nodePort', value, 'collector.nodePort');
            }}
          />
          <FieldHelper
            field="collector.nodePort"
            error={errors['collector.nodePort']}
            hint={t("Each node sends to its own InternalIP at this port.")}
          />
        </FormGroup>
      )}

      {values.mode === 'selector' && (
        <FormGroup label={t('Service selector')} fieldId="flowgate-collector-selector">
          <TextInput
            id="flowgate-collector-selector"
            value={values.selector}
            placeholder="app=collector"
            validated={validated('collector.selector')}
            aria-describedby={describedBy('collector.selector')}
            isDisabled={isDisabled}
            onChange={(_event, value) => {
              set('selector', value, 'collector.selector');
            }}
          />
          <FieldHelper
            field="collector.selector"
            error={errors['collector.selector']}
            hint={t('Labels of a NodePort Service: key=value[,key=value].')}
          />
        </FormGroup>
      )}

      {values.mode === 'targets' && (
        <FormGroup label={t('Static targets')} fieldId="flowgate-collector-target-0" role="group">
          {values.targets.map((target, index) => (
            <InputGroup key={index}>
              <InputGroupItem isFill>
                <TextInput
                  id={`flowgate-collector-target-${String(index)}`}
                  aria-label={t('Target {{number}}', { number: index + 1 })}
                  value={target}
                  placeholder="10.0.0.5:2055"
                  validated={validated('collector.targets')}
                  aria-describedby={describedBy('collector.targets')}
                  isDisabled={isDisabled}
                  onChange={(_event, value) => {
                    set(
                      'targets',
                      values.targets.map((old, i) => (i === index ? value : old)),
                      'collector.targets',
                    );
                  }}
                />
              </InputGroupItem>
              <InputGroupItem>
                <Button
                  variant="plain"
                  aria-label={t('Remove target {{number}}', { number: index + 1 })}
                  isDisabled={isDisabled || values.targets.length === 1}
                  icon={<MinusCircleIcon />}
                  onClick={() => {
                    set(
                      'targets',
                      values.targets.filter((_old, i) => i !== index),
                      'collector.targets',
                    );
                  }}
                />
              </InputGroupItem>
            </InputGroup>
          ))}
          <Button
            variant="link"
            isInline
            icon={<PlusCircleIcon />}
            isDisabled={isDisabled || values.targets.length >= MAX_TARGETS}
            onClick={() => {
              set('targets', [...values.targets, ''], 'collector.targets');
            }}
          >
            {t('Add target')}
          </Button>
          <FieldHelper
            field="collector.targets"
            error={errors['collector.targets']}
            hint={t('Up to {{max}} ip:port addresses, the same for every node.', { max: MAX_TARGETS })}
          />
        </FormGroup>
      )}

      <Grid hasGutter md={4}>
        <GridItem>
          <FormGroup label={t('Sampling')} fieldId="flowgate-sampling">
            <TextInput
              id="flowgate-sampling"
              type="number"
              inputMode="numeric"
              value={values.sampling}
              validated={validated('sampling')}
              aria-describedby={describedBy('sampling')}
              isDisabled={isDisabled}
              onChange={(_event, value) => {
                set('sampling', value, 'sampling');
              }}
            />
            <FieldHelper
              field="sampling"
              error={errors.sampling}
              hint={
                costs
                  ? t('One packet in N is sampled (IPFIX and sFlow). Empty: the gateway default. The cost of each sampling is below.')
                  : t('One packet in N is sampled (IPFIX and sFlow). Empty: the gateway default.')
              }
            />
          </FormGroup>
        </GridItem>
        <GridItem>
          <FormGroup label={t('Active timeout (seconds)')} fieldId="flowgate-active-timeout">
            <TextInput
              id="flowgate-active-timeout"
              type="number"
              inputMode="numeric"
              value={values.activeTimeoutSeconds}
              validated={validated('activeTimeoutSeconds')}
              aria-describedby={describedBy('activeTimeoutSeconds')}
              isDisabled={isDisabled}
              onChange={(_event, value) => {
                set('activeTimeoutSeconds', value, 'activeTimeoutSeconds');
              }}
            />
            <FieldHelper
              field="activeTimeoutSeconds"
              error={errors.activeTimeoutSeconds}
              hint={t('Empty: the gateway default.')}
            />
          </FormGroup>
        </GridItem>
        <GridItem>
          <FormGroup label={t('Cache max flows')} fieldId="flowgate-cache-max-flows">
            <TextInput
              id="flowgate-cache-max-flows"
              type="number"
              inputMode="numeric"
              value={values.cacheMaxFlows}
              validated={validated('cacheMaxFlows')}
              aria-describedby={describedBy('cacheMaxFlows')}
              isDisabled={isDisabled}
              onChange={(_event, value) => {
                set('cacheMaxFlows', value, 'cacheMaxFlows');
              }}
            />
            <FieldHelper field="cacheMaxFlows" error={errors.cacheMaxFlows} hint={t('Empty: the gateway default.')} />
          </FormGroup>
        </GridItem>
      </Grid>
    </SettingsSection>
  );
};
