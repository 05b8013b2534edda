import type { FC, ReactNode } from 'react';
import {
  ActionGroup,
  Button,
  ExpandableSection,
  Form,
  FormHelperText,
  HelperText,
  HelperTextItem,
} from '@patternfly/react-core';
import type { InvalidArgumentField } from '../gateway/errors';
import { useFlowgateTranslation } from '../i18n/useFlowgateTranslation';

export const helperId = (field: InvalidArgumentField) => `flowgate-${field.replace('.', '-')}-helper`;

/** Helper text under a field: the gateway's error for it when there is one, else a hint. */
export const FieldHelper: FC<{ field: InvalidArgumentField; error?: string; hint?: ReactNode }> = ({ field, error, hint }) =>
  error || hint ? (
    <FormHelperText>
      <HelperText id={helperId(field)}>
        <HelperTextItem variant={error ? 'error' : 'default'} data-test={`helper-${field}`}>
          {error ?? hint}
        </HelperTextItem>
      </HelperText>
    </FormHelperText>
  ) : null;

/** What every folding form of export settings (Nodes, Collector) takes from the page. */
export interface SettingsSectionProps {
  isExpanded: boolean;
  onToggle: (expanded: boolean) => void;
  /** Re-applies the running export with these settings; absent while nothing runs. */
  onApply?: () => void;
  isDisabled: boolean;
}

/**
 * A folding form of export settings: used at the next start, or applied to the running export
 * with its button (or Enter). `after` follows the button (the Collector's cost table).
 */
export const SettingsSection: FC<
  SettingsSectionProps & { toggleText: string; children: ReactNode; after?: ReactNode; dataTest?: string }
> = ({ isExpanded, onToggle, onApply, isDisabled, toggleText, children, after, dataTest }) => {
  const { t } = useFlowgateTranslation();
  return (
    <ExpandableSection
      toggleText={toggleText}
      isExpanded={isExpanded}
      onToggle={(_event, expanded) => {
        onToggle(expanded);
      }}
      data-test={dataTest}
    >
      <Form
        isWidthLimited
        onSubmit={(event) => {
          event.preventDefault();
          onApply?.();
        }}
      >
        {children}
        {onApply && (
          <ActionGroup>
            <Button type="submit" variant="secondary" isDisabled={isDisabled}>
              {t('Apply to the running export')}
            </Button>
          </ActionGroup>
        )}
        {after}
      </Form>
    </ExpandableSection>
  );
};
