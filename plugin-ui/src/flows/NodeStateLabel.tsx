import type { FC } from 'react';
import { Icon } from '@patternfly/react-core';
import { CheckCircleIcon, ExclamationCircleIcon, InProgressIcon, OffIcon } from '@patternfly/react-icons';
import type { FlowType, NodeFlowState } from '../gateway/types';
import { useFlowgateTranslation } from '../i18n/useFlowgateTranslation';

export const FLOW_TYPE_NAMES: Record<FlowType, string> = { NETFLOW: 'NetFlow', IPFIX: 'IPFIX', SFLOW: 'sFlow' };

export const useNodeStateNames = (): Record<NodeFlowState, string> => {
  const { t } = useFlowgateTranslation();
  return { EMITTING: t('Emitting'), PENDING: t('Pending'), ERROR: t('Error'), DISABLED: t('Disabled') };
};

export const NodeStateIcon: FC<{ state: NodeFlowState }> = ({ state }) => {
  switch (state) {
    case 'EMITTING':
      return (
        <Icon isInline status="success">
          <CheckCircleIcon />
        </Icon>
      );
    case 'PENDING':
      return (
        <Icon isInline>
          <InProgressIcon />
        </Icon>
      );
    case 'ERROR':
      return (
        <Icon isInline status="danger">
          <ExclamationCircleIcon />
        </Icon>
      );
    case 'DISABLED':
      return (
        <Icon isInline className="flowgate__icon--off">
          <OffIcon />
        </Icon>
      );
  }
};

export const NodeStateLabel: FC<{ state: NodeFlowState; name: string }> = ({ state, name }) => (
  <span className="flowgate__state" data-state={state}>
    <NodeStateIcon state={state} /> {name}
  </span>
);
