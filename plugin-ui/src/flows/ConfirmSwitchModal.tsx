/** A switch whose projected cost passes a threshold asks first, with the totals and their basis. */
import type { FC } from 'react';
import {
  Button,
  Content,
  DescriptionList,
  DescriptionListDescription,
  DescriptionListGroup,
  DescriptionListTerm,
  Modal,
  ModalBody,
  ModalFooter,
  ModalHeader,
} from '@patternfly/react-core';
import type { ExportProjection } from '../gateway/types';
import { useFlowgateTranslation } from '../i18n/useFlowgateTranslation';
import { formatBytesPerSecond, formatCpu } from './exportCosts';
import { FLOW_TYPE_NAMES } from './NodeStateLabel';

export interface ConfirmSwitchModalProps {
  projection: ExportProjection;
  onConfirm: () => void;
  onCancel: () => void;
}

export const ConfirmSwitchModal: FC<ConfirmSwitchModalProps> = ({ projection, onConfirm, onCancel }) => {
  const { t, i18n } = useFlowgateTranslation();
  const setting =
    projection.sampling != null
      ? t('{{type}}, 1 in {{sampling}}', { type: FLOW_TYPE_NAMES[projection.type], sampling: projection.sampling })
      : FLOW_TYPE_NAMES[projection.type];
  const total = projection.total;
  const known = projection.nodes.length - projection.unknownNodes;
  return (
    <Modal
      variant="small"
      isOpen
      onClose={onCancel}
      aria-labelledby="flowgate-confirm-title"
      aria-describedby="flowgate-confirm-body"
      data-test="confirm-switch"
    >
      <ModalHeader
        title={t('Switch flow export to {{setting}}?', { setting })}
        titleIconVariant="warning"
        labelId="flowgate-confirm-title"
      />
      <ModalBody id="flowgate-confirm-body">
        <Content component="p">{projection.confirmation}</Content>
        <DescriptionList isHorizontal isCompact data-test="confirm-totals">
          <DescriptionListGroup>
            <DescriptionListTerm>{t('Nodes')}</DescriptionListTerm>
            <DescriptionListDescription>
              {projection.unknownNodes
                ? t('{{count}} with traffic reported, {{unknown}} without', { count: known, unknown: projection.unknownNodes })
                : known}
            </DescriptionListDescription>
          </DescriptionListGroup>
          <DescriptionListGroup>
            <DescriptionListTerm>{t('ovs-vswitchd CPU, in all')}</DescriptionListTerm>
            <DescriptionListDescription>
              {t('{{cpu}} of a core', { cpu: formatCpu(total.cpuPercentOfCore, total.cpuSpread) })}
            </DescriptionListDescription>
          </DescriptionListGroup>
          <DescriptionListGroup>
            <DescriptionListTerm>{t('Export to the collectors')}</DescriptionListTerm>
            <DescriptionListDescription>
              {t('{{export}}, {{records}} records/s', {
                export: formatBytesPerSecond(total.exportBytesPerSecond),
                records: total.recordsPerSecond.toLocaleString(i18n.language, { maximumSignificantDigits: 3 }),
              })}
            </DescriptionListDescription>
          </DescriptionListGroup>
        </DescriptionList>
        <Content component="small">
          {t('Projected from each node’s traffic now, with {{basis}}.', {
            basis: projection.basis.description,
            interpolation: { escapeValue: false },
          })}
        </Content>
      </ModalBody>
      <ModalFooter>
        <Button variant="primary" onClick={onConfirm} data-test="confirm-switch-button">
          {t('Switch')}
        </Button>
        <Button variant="link" onClick={onCancel}>
          {t('Cancel')}
        </Button>
      </ModalFooter>
    </Modal>
  );
};
