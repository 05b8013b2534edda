/**
 * The console flag FLOWGATE_FLOWS_READABLE: whether the signed-in user may read flow state (list
 * flows.flowgate.dev, what the gateway asks of a reader). The Network Flows entries require it,
 * so a user who could only be refused never sees one (console.flag/hookProvider: the console calls
 * this as a hook, openshift/console packages/console-app/src/components/flags/FeatureFlagExtensionLoader.tsx).
 */
import { useEffect } from 'react';
import { useAccessReview, type SetFeatureFlag } from '@openshift-console/dynamic-plugin-sdk';

export const FLOWS_READABLE = 'FLOWGATE_FLOWS_READABLE';

export const useFlowsReadableFlag = (setFeatureFlag: SetFeatureFlag): void => {
  const [allowed, loading] = useAccessReview({ group: 'flowgate.dev', resource: 'flows', verb: 'list' });
  useEffect(() => {
    if (!loading) {
      setFeatureFlag(FLOWS_READABLE, allowed);
    }
  }, [allowed, loading, setFeatureFlag]);
};
