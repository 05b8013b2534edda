import { useEffect, useMemo, useState, useSyncExternalStore, type FC, type ReactNode } from 'react';
import {
  Alert,
  AlertActionCloseButton,
  AlertActionLink,
  Flex,
  FlexItem,
  Label,
  PageSection,
  Stack,
  StackItem,
  Title,
} from '@patternfly/react-core';
import { CheckCircleIcon, SyncAltIcon } from '@patternfly/react-icons';
import type { ConnectionStatus, GatewayConnection } from '../gateway/connection';
import { toGatewayError, type GatewayError, type InvalidArgumentField } from '../gateway/errors';
import { requestData } from '../gateway/request';
import type { FlowsState } from '../gateway/types';
import { createWsTransport } from '../gateway/wsTransport';
import type { ExportProjection, FlowType } from '../gateway/types';
import { EXPORT_PROJECTION_QUERY, START_FLOWS_MUTATION, STOP_FLOWS_MUTATION } from '../graphql/operations';
import { useFlowgateTranslation } from '../i18n/useFlowgateTranslation';
import {
  buildStartVariables,
  formFromCollector,
  INITIAL_FORM,
  type CollectorFormValues,
  type FieldErrors,
} from './collectorForm';
import { CollectorSection } from './CollectorSection';
import { ConnectionTroubleAlert } from './ConnectionTroubleAlert';
import { ConfirmSwitchModal } from './ConfirmSwitchModal';
import { DurationSelect } from './DurationSelect';
import { EmissionSelect, type EmissionChoice } from './EmissionSelect';
import { ExportCountdown } from './ExportCountdown';
import {
  durationSeconds,
  INITIAL_NODE_CHOICE,
  nodeChoiceFromState,
  nodeChoiceVariables,
  runningDeadline,
  type DurationChoice,
  type NodeChoiceValues,
} from './exportWindow';
import { FlowsTableStore, type FrameScheduler } from './flowsTableStore';
import { FlowsTable } from './FlowsTable';
import { NodeChoiceSection } from './NodeChoiceSection';
import { formatBytesPerSecond, formatCpu } from './exportCosts';
import { ProjectionPanel } from './ProjectionPanel';
import { projectionTuning, trafficKey } from './projections';
import { RecentEvents } from './RecentEvents';
import { useExportCosts } from './useExportCosts';
import { useNow } from './useNow';
import { useConnectionDiagnosis } from './useConnectionDiagnosis';
import { useProjections } from './useProjections';
import { useViewer } from './useViewer';
import './flows.css';

const FORM_FIELDS: ReadonlySet<string> = new Set<InvalidArgumentField>([
  'collector',
  'collector.nodePort',
  'collector.selector',
  'collector.targets',
  'sampling',
  'activeTimeoutSeconds',
  'cacheMaxFlows',
  'durationSeconds',
  'nodes',
  'nodeSelector',
]);
const NODE_FIELDS: ReadonlySet<string> = new Set<InvalidArgumentField>(['nodes', 'nodeSelector']);
const OWN_PLACE: ReadonlySet<string> = new Set<InvalidArgumentField>(['durationSeconds', 'nodes', 'nodeSelector']);

/** INVALID_ARGUMENT errors that name a form field, by field; null when any error names none. */
const fieldErrorsOf = (error: GatewayError): FieldErrors | null => {
  if (error.code !== 'INVALID_ARGUMENT') {
    return null;
  }
  const fields: FieldErrors = {};
  for (const item of error.errors) {
    const field = item.extensions?.field;
    if (item.extensions?.code !== 'INVALID_ARGUMENT' || typeof field !== 'string' || !FORM_FIELDS.has(field)) {
      return null;
    }
    fields[field as InvalidArgumentField] ??= item.message;
  }
  return Object.keys(fields).length ? fields : null;
};

const ConnectionLabel: FC<{ status: ConnectionStatus }> = ({ status }) => {
  const { t } = useFlowgateTranslation();
  switch (status) {
    case 'connected':
      return (
        <Label color="green" icon={<CheckCircleIcon />} data-test="connection-status">
          {t('Live')}
        </Label>
      );
    case 'connecting':
      return (
        <Label color="blue" icon={<SyncAltIcon />} data-test="connection-status">
          {t('Connecting…')}
        </Label>
      );
    case 'reconnecting':
      return (
        <Label color="orange" icon={<SyncAltIcon />} data-test="connection-status">
          {t('Reconnecting…')}
        </Label>
      );
  }
};

export interface FlowsPageProps {
  connection: GatewayConnection;
  /** Extra header content (the standalone entry's GraphiQL link and Log out). */
  headerActions?: ReactNode;
  /** When table updates are applied; one animation frame by default. */
  scheduler?: FrameScheduler;
  defaultPerPage?: number;
}

const noTrouble = () => null;

/** The Network Flows page, the same in the console and standalone. */
export const FlowsPage: FC<FlowsPageProps> = ({ connection, headerActions, scheduler, defaultPerPage }) => {
  const { t } = useFlowgateTranslation();

  // Transport and store live as long as the connection; both reopen after a StrictMode remount.
  const transport = useMemo(
    () => (connection.createTransport ? connection.createTransport() : createWsTransport(connection)),
    [connection],
  );
  useEffect(
    () => () => {
      transport.dispose();
    },
    [transport],
  );
  const store = useMemo(
    () => new FlowsTableStore(transport, { scheduler, onUnauthenticated: connection.onUnauthenticated }),
    [transport, scheduler, connection.onUnauthenticated],
  );
  useEffect(() => store.start(), [store]);

  const table = useSyncExternalStore(store.subscribe, store.getSnapshot);
  const status = useSyncExternalStore(transport.onStatus, transport.getStatus);
  const trouble = useSyncExternalStore(transport.onStatus, transport.getTrouble ?? noTrouble);
  const diagnosis = useConnectionDiagnosis(connection, trouble);
  const { viewer, error: viewerError } = useViewer(connection);
  const costs = useExportCosts(connection);
  const now = useNow();

  const [form, setForm] = useState<CollectorFormValues>(INITIAL_FORM);
  const [formDirty, setFormDirty] = useState(false);
  const [fieldErrors, setFieldErrors] = useState<FieldErrors>({});
  const [collectorExpanded, setCollectorExpanded] = useState(false);
  const [pending, setPending] = useState<EmissionChoice | null>(null);
  const [actionError, setActionError] = useState<GatewayError | null>(null);
  // A switch whose projected cost passes a threshold, waiting for the user's word.
  const [confirming, setConfirming] = useState<{
    choice: FlowType;
    projection: ExportProjection;
    duration: DurationChoice;
  } | null>(null);
  // null until the user picks one: then a running deadline is kept, else export runs until stopped.
  const [duration, setDuration] = useState<DurationChoice | null>(null);
  const [customDuration, setCustomDuration] = useState('');
  const [nodeChoice, setNodeChoice] = useState<NodeChoiceValues>(INITIAL_NODE_CHOICE);
  const [nodeChoiceDirty, setNodeChoiceDirty] = useState(false);
  const [nodesExpanded, setNodesExpanded] = useState(false);

  const state: FlowsState | null = table.state;
  // Until the user edits it, the form shows the running export's collector.
  const shownForm = formDirty ? form : formFromCollector(state?.enabled ? state.collector : null, form);
  const deadline = runningDeadline(state);
  const shownDuration: DurationChoice =
    duration === null || (duration === 'keep' && deadline === null) ? (deadline !== null ? 'keep' : 'untilStopped') : duration;
  // Likewise the node choice shows what the running (or ended) export chose.
  const shownNodeChoice = nodeChoiceDirty ? nodeChoice : nodeChoiceFromState(state?.nodeChoice, nodeChoice);
  // Null until the live table's first answer: the select never shows a setting it does not know.
  const current: EmissionChoice | null = state ? (state.enabled && state.type ? state.type : 'DISABLED') : null;
  const unsupported = state !== null && !state.supported;
  // OpenShift's Cluster Network Operator configures export itself: flowgate must not switch it.
  const managed = state?.operatorExport ?? null;
  const canSwitch = viewer?.canSwitch ?? false;
  const switchDisabledReason = viewer && !viewer.canSwitch
    ? (viewer.reason ?? t('You may view flow export but not switch it.'))
    : viewerError
      ? viewerError.message
      : !state
        ? t('Waiting for the gateway to say what the cluster exports.')
        : null;
  const controlsDisabled = !state || unsupported || managed !== null || !canSwitch || pending !== null;
  const disabledReason = unsupported ? (state.unsupportedReason ?? null) : (managed?.message ?? switchDisabledReason);

  const localMessages = {
    notANumber: t('Enter a whole number.'),
    selectorSyntax: t('Use key=value[,key=value].'),
    noTargets: t('Enter at least one ip:port target.'),
    tooManyTargets: t('At most 10 targets.'),
    durationSyntax: t('Write a duration with its unit, e.g. 90s, 45m or 2h30m.'),
    durationBounds: t('Choose from 1 second to 168 hours (one week); for longer, choose Until stopped.'),
    noNames: t('Enter at least one node name.'),
  };

  // What each type would cost is projected on the nodes the form chooses (names not yet nodes
  // left out while they are typed).
  const chosenNodes = nodeChoiceVariables(shownNodeChoice, localMessages).variables;
  const formTuning = projectionTuning(shownForm);
  const tuning =
    formTuning && chosenNodes && shownNodeChoice.mode !== 'all'
      ? { ...formTuning, ...chosenNodes, ignoreUnknownNodes: true }
      : chosenNodes
        ? formTuning
        : null;
  const traffic = useMemo(() => trafficKey(table.rows), [table.rows]);
  const { projections, error: projectionError } = useProjections(connection, tuning, traffic);
  const projectionBasis = costs
    ? t('Projected from each node’s packets/s with the cost table measured {{measured}} with {{openVSwitch}}, userspace datapath.', {
        measured: costs.measured,
        openVSwitch: costs.openVSwitch,
        interpolation: { escapeValue: false },
      })
    : null;
  const descriptions = useMemo(
    () =>
      projections
        ? Object.fromEntries(
            (Object.entries(projections) as [FlowType, ExportProjection][]).map(([type, projection]) => [
              type,
              t('Projected in all: {{cpu}} CPU, {{export}}', {
                cpu: formatCpu(projection.total.cpuPercentOfCore, projection.total.cpuSpread),
                export: formatBytesPerSecond(projection.total.exportBytesPerSecond),
              }),
            ]),
          )
        : undefined,
    [projections, t],
  );

  const clearFieldError = (field: InvalidArgumentField) => {
    if (fieldErrors[field]) {
      setFieldErrors(Object.fromEntries(Object.entries(fieldErrors).filter(([name]) => name !== field)));
    }
  };

  /** Where field errors show: their own control, or the section holding them, opened. */
  const showFieldErrors = (errors: FieldErrors) => {
    setFieldErrors(errors);
    const fields = Object.keys(errors);
    if (fields.some((field) => NODE_FIELDS.has(field))) {
      setNodesExpanded(true);
    }
    if (fields.some((field) => !OWN_PLACE.has(field))) {
      setCollectorExpanded(true);
    }
  };

  /** A dry run of exactly this start: its projection, or null when the gateway gives none (start anyway). */
  const project = async (variables: Record<string, unknown>): Promise<ExportProjection | null> => {
    try {
      const data = await requestData<{ exportProjection: ExportProjection }>(connection, {
        query: EXPORT_PROJECTION_QUERY,
        operationName: 'ExportProjection',
        variables,
      });
      return data.exportProjection;
    } catch {
      return null; // the start itself says what is wrong, if anything is
    }
  };

  const apply = async (choice: EmissionChoice, chosenDuration: DurationChoice = shownDuration, confirmed = false) => {
    setActionError(null);
    let request;
    if (choice === 'DISABLED') {
      request = { query: STOP_FLOWS_MUTATION, operationName: 'StopFlows' };
    } else {
      const built = buildStartVariables(choice, shownForm, localMessages);
      const window = durationSeconds(chosenDuration, customDuration, deadline, Date.now(), localMessages);
      const nodes = nodeChoiceVariables(shownNodeChoice, localMessages);
      if (built.errors || window.error !== undefined || nodes.errors) {
        showFieldErrors({
          ...built.errors,
          ...nodes.errors,
          ...(window.error !== undefined ? { durationSeconds: window.error } : {}),
        });
        return;
      }
      request = {
        query: START_FLOWS_MUTATION,
        operationName: 'StartFlows',
        variables: { ...built.variables, durationSeconds: window.seconds, ...nodes.variables } as unknown as Record<
          string,
          unknown
        >,
      };
    }
    setFieldErrors({});
    setPending(choice);
    if (choice !== 'DISABLED' && !confirmed) {
      const projection = await project(request.variables ?? {});
      if (projection?.confirmation) {
        setPending(null);
        setConfirming({ choice, projection, duration: chosenDuration });
        return;
      }
    }
    try {
      const data = await requestData<{ startFlows?: FlowsState; stopFlows?: FlowsState }>(connection, request);
      const next = data.startFlows ?? data.stopFlows;
      if (next) {
        store.applyState(next);
      }
      setFormDirty(false);
      setNodeChoiceDirty(false);
      setDuration(null); // what runs now is what the select shows
    } catch (caught) {
      const error = toGatewayError(caught);
      const fields = fieldErrorsOf(error);
      if (fields) {
        showFieldErrors(fields);
      } else {
        setActionError(error);
      }
    } finally {
      setPending(null);
    }
  };

  // The type that runs now, if any: the forms' "apply" restarts it with their settings.
  const running = current === null || current === 'DISABLED' ? null : current;
  const applyRunning = running
    ? () => {
        void apply(running);
      }
    : undefined;

  return (
    <>
      <PageSection>
        <Flex justifyContent={{ default: 'justifyContentSpaceBetween' }} alignItems={{ default: 'alignItemsCenter' }}>
          <FlexItem>
            <Title headingLevel="h1">{t('Network Flows')}</Title>
          </FlexItem>
          <FlexItem>
            <Flex alignItems={{ default: 'alignItemsCenter' }} spaceItems={{ default: 'spaceItemsMd' }}>
              <FlexItem>
                <ConnectionLabel status={status} />
              </FlexItem>
              {headerActions && <FlexItem>{headerActions}</FlexItem>}
            </Flex>
          </FlexItem>
        </Flex>
      </PageSection>
      <PageSection>
        <Stack hasGutter>
          {diagnosis && (
            <StackItem>
              <ConnectionTroubleAlert diagnosis={diagnosis} />
            </StackItem>
          )}
          {unsupported && (
            <StackItem>
              <Alert
                isInline
                component="h2"
                variant="danger"
                title={t('Flow export is not available on this cluster')}
                data-test="unsupported-alert"
              >
                {state.unsupportedReason ??
                  t('The network type {{networkType}} does not support flow export.', {
                    networkType: state.networkType ?? t('of this cluster'),
                  })}
              </Alert>
            </StackItem>
          )}
          {managed && (
            <StackItem>
              <Alert
                isInline
                component="h2"
                variant="info"
                title={t('Flow export is managed by the {{manager}}', { manager: managed.manager })}
                data-test="operator-alert"
              >
                {managed.message}
              </Alert>
            </StackItem>
          )}
          {table.error && (
            <StackItem>
              <Alert
                isInline
                component="h2"
                variant="warning"
                title={t('The live table is not updating')}
                actionLinks={
                  <AlertActionLink
                    onClick={() => {
                      store.retry();
                    }}
                  >
                    {t('Retry')}
                  </AlertActionLink>
                }
                data-test="table-error"
              >
                {table.error.message}
              </Alert>
            </StackItem>
          )}
          {viewerError && viewerError.code !== 'UNAUTHENTICATED' && (
            <StackItem>
              <Alert
                isInline
                component="h2"
                variant="warning"
                title={t('Could not read your permissions')}
                data-test="viewer-error"
              >
                {viewerError.message}
              </Alert>
            </StackItem>
          )}
          {actionError && (
            <StackItem>
              <Alert
                isInline
                component="h2"
                variant="danger"
                title={t('Flow export was not switched')}
                actionClose={
                  <AlertActionCloseButton
                    onClose={() => {
                      setActionError(null);
                    }}
                  />
                }
                data-test="action-error"
              >
                {actionError.message}
              </Alert>
            </StackItem>
          )}
          <StackItem>
            <Flex alignItems={{ default: 'alignItemsCenter' }} spaceItems={{ default: 'spaceItemsLg' }}>
              <FlexItem>
                <EmissionSelect
                  value={pending ?? current}
                  onSelect={(choice) => {
                    void apply(choice);
                  }}
                  isDisabled={controlsDisabled}
                  disabledReason={disabledReason}
                  busy={pending !== null}
                  descriptions={descriptions}
                />
              </FlexItem>
              <FlexItem>
                <DurationSelect
                  value={shownDuration}
                  custom={customDuration}
                  canKeep={deadline !== null}
                  onSelect={(choice) => {
                    setDuration(choice);
                    clearFieldError('durationSeconds');
                    // While export runs, a new duration is a new start: the deadline moves now.
                    if (choice !== 'custom' && choice !== 'keep' && running) {
                      void apply(running, choice);
                    }
                  }}
                  onCustomChange={(text) => {
                    setCustomDuration(text);
                    clearFieldError('durationSeconds');
                  }}
                  onCustomApply={
                    running
                      ? () => {
                          void apply(running, 'custom');
                        }
                      : undefined
                  }
                  isDisabled={controlsDisabled}
                  disabledReason={disabledReason}
                  error={fieldErrors.durationSeconds}
                />
              </FlexItem>
              <FlexItem>
                <ExportCountdown state={state} />
              </FlexItem>
            </Flex>
          </StackItem>
          <StackItem>
            <ProjectionPanel
              projections={projections}
              error={projectionError}
              initialType={current === null || current === 'DISABLED' ? 'IPFIX' : current}
              tuningValid={tuning !== null}
            />
          </StackItem>
          <StackItem>
            <NodeChoiceSection
              values={shownNodeChoice}
              onChange={(values, field) => {
                setNodeChoice(values);
                setNodeChoiceDirty(true);
                clearFieldError(field);
              }}
              errors={fieldErrors}
              isExpanded={nodesExpanded}
              onToggle={setNodesExpanded}
              currentDescription={state?.enabled ? state.nodeChoice?.description : null}
              selectedText={
                state?.enabled && state.summary.selected != null
                  ? t('{{selected}} of {{total}} nodes selected', {
                      selected: state.summary.selected,
                      total: state.summary.total,
                    })
                  : null
              }
              onApply={applyRunning}
              isDisabled={controlsDisabled}
            />
          </StackItem>
          <StackItem>
            <CollectorSection
              values={shownForm}
              onChange={(values, field) => {
                setForm(values);
                setFormDirty(true);
                clearFieldError(field);
              }}
              errors={fieldErrors}
              isExpanded={collectorExpanded}
              onToggle={setCollectorExpanded}
              currentDescription={state?.enabled ? state.collector?.description : null}
              onApply={applyRunning}
              isDisabled={controlsDisabled}
              costs={costs}
              runningType={current === 'DISABLED' ? null : current}
            />
          </StackItem>
        </Stack>
      </PageSection>
      <PageSection>
        <FlowsTable
          table={table}
          now={now}
          defaultPerPage={defaultPerPage}
          projectionBasis={projectionBasis}
          nodeChoice={state?.enabled ? state.nodeChoice : null}
        />
      </PageSection>
      {confirming && (
        <ConfirmSwitchModal
          projection={confirming.projection}
          onConfirm={() => {
            const { choice, duration: confirmedDuration } = confirming;
            setConfirming(null);
            void apply(choice, confirmedDuration, true);
          }}
          onCancel={() => {
            setConfirming(null);
          }}
        />
      )}
      <PageSection>
        <RecentEvents
          connection={connection}
          refreshKey={`${String(state?.generation ?? '')}/${String(state?.summary.error ?? '')}`}
          now={now}
        />
      </PageSection>
    </>
  );
};
