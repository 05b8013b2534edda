import { Profiler, type ProfilerOnRenderCallback } from 'react';
import { act, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { FlowsPage } from './FlowsPage';
import {
  change,
  FakeTransport,
  fakeConnection,
  type FakeConnectionOptions,
  gqlError,
  ManualScheduler,
  node,
  snapshot,
} from '../testing/fakeTransport';
import { renderWithI18n } from '../testing/render';
import type { GatewayConnection, GraphQLRequest, GraphQLResponse } from '../gateway/connection';
import { GatewayError } from '../gateway/errors';

const setup = async (options: FakeConnectionOptions = {}) => {
  const transport = new FakeTransport();
  const scheduler = new ManualScheduler();
  const connection = fakeConnection(transport, options);
  // Inside an async act so the viewer query's answer lands before the test goes on.
  const view = await act(async () => renderWithI18n(<FlowsPage connection={connection} scheduler={scheduler} />));
  const send = (...updates: Parameters<FakeTransport['emit']>[0][]) => {
    act(() => {
      updates.forEach((update) => {
        transport.emit(update);
      });
      scheduler.runFrame();
    });
  };
  return { transport, scheduler, connection, view, send };
};

const rowOf = (name: string) => screen.getByTestId(`row-${name}`);
const cells = (name: string) => within(rowOf(name)).getAllByRole('cell').map((cell) => cell.textContent);
const emissionToggle = () => screen.getByRole('button', { name: /Flows emission/ });
const durationToggle = () => screen.getByRole('button', { name: /^For$/ });

describe('FlowsPage', () => {
  it('shows a loading state until the first message, then one row per node', async () => {
    const { send } = await setup();
    expect(screen.getByText('Loading nodes…')).toBeInTheDocument();
    expect(screen.getByRole('progressbar', { name: 'Loading nodes' })).toBeInTheDocument();

    send(snapshot([node('node-1'), node('node-2', { state: 'PENDING', endpoint: null })]));

    expect(screen.queryByText('Loading nodes…')).not.toBeInTheDocument();
    expect(cells('node-1').slice(0, 8)).toEqual([
      'node-1',
      ' Emitting',
      'NetFlow',
      '10.89.0.1:30001',
      '—',
      'Unknown',
      '—',
      '',
    ]);
    expect(cells('node-1')[8]).toMatch(/^\d+s ago$/);
    expect(cells('node-2').slice(0, 4)).toEqual(['node-2', ' Pending', 'NetFlow', '—']);
    expect(screen.getByTestId('flows-summary')).toHaveTextContent(
      '2 nodes: 1 emitting, 1 pending, 0 error, 0 disabled',
    );
  });

  it('updates rows in place from change messages', async () => {
    const { send } = await setup();
    send(snapshot([node('node-1'), node('node-2')]));
    const before = rowOf('node-1');

    send(change([node('node-1', { state: 'ERROR', message: 'br-int is missing.', endpoint: null })]));

    expect(rowOf('node-1')).toBe(before);
    expect(cells('node-1').slice(0, 8)).toEqual(['node-1', ' Error', 'NetFlow', '—', '—', '—', '—', 'br-int is missing.']);
    expect(screen.getAllByTestId(/^row-/)).toHaveLength(2);
    expect(screen.getByTestId('flows-summary')).toHaveTextContent('2 nodes: 1 emitting, 0 pending, 1 error');
  });

  it('drops a removed node and adds a new one in name order', async () => {
    const { send } = await setup();
    send(snapshot([node('node-1'), node('node-2'), node('node-10')]));
    expect(screen.getAllByTestId(/^row-/).map((row) => row.dataset.test)).toEqual([
      'row-node-1',
      'row-node-2',
      'row-node-10',
    ]);

    send(change([node('node-3')], ['node-2']));

    expect(screen.queryByTestId('row-node-2')).not.toBeInTheDocument();
    expect(screen.getAllByTestId(/^row-/).map((row) => row.dataset.test)).toEqual([
      'row-node-1',
      'row-node-3',
      'row-node-10',
    ]);
  });

  it('applies a burst of messages in one frame', async () => {
    const { transport, scheduler, send } = await setup();
    send(snapshot([node('node-1')]));
    act(() => {
      transport.emit(change([node('node-1', { state: 'PENDING' })]));
      transport.emit(change([node('node-1', { state: 'ERROR' })]));
      transport.emit(change([node('node-2')]));
    });
    // Nothing shows before the frame.
    expect(cells('node-1')[1]).toBe(' Emitting');
    expect(scheduler.pending).toBe(1);
    act(() => {
      scheduler.runFrame();
    });
    expect(cells('node-1')[1]).toBe(' Error');
    expect(screen.getByTestId('row-node-2')).toBeInTheDocument();
  });

  it('shows the empty state for a cluster without nodes and for filters matching nothing', async () => {
    const user = userEvent.setup();
    const { send } = await setup();
    send(snapshot([]));
    expect(screen.getByRole('heading', { name: 'No nodes' })).toBeInTheDocument();

    send(change([node('node-1'), node('node-2', { state: 'ERROR' })]));
    await user.type(screen.getByRole('textbox', { name: 'Filter by name' }), 'nope');
    expect(screen.getByRole('heading', { name: 'No nodes match the filters' })).toBeInTheDocument();
    await user.click(screen.getByRole('button', { name: 'Clear all filters' }));
    expect(screen.getAllByTestId(/^row-/)).toHaveLength(2);
  });

  it('filters by status and by name', async () => {
    const user = userEvent.setup();
    const { send } = await setup();
    send(
      snapshot([
        node('worker-1'),
        node('worker-2', { state: 'ERROR' }),
        node('master-1', { state: 'ERROR' }),
        node('master-2', { state: 'DISABLED', type: null }),
      ]),
    );
    await user.click(screen.getByRole('button', { name: 'Error' }));
    expect(screen.getAllByTestId(/^row-/).map((row) => row.dataset.test)).toEqual(['row-master-1', 'row-worker-2']);
    await user.click(screen.getByRole('button', { name: 'Disabled' }));
    expect(screen.getAllByTestId(/^row-/)).toHaveLength(3);
    await user.type(screen.getByRole('textbox', { name: 'Filter by name' }), 'MASTER');
    expect(screen.getAllByTestId(/^row-/).map((row) => row.dataset.test)).toEqual(['row-master-1', 'row-master-2']);
  });

  it('sorts by a column and back', async () => {
    const user = userEvent.setup();
    const { send } = await setup();
    send(
      snapshot([
        node('a', { state: 'DISABLED', type: null }),
        node('b', { state: 'ERROR' }),
        node('c', { state: 'PENDING' }),
      ]),
    );
    await user.click(screen.getByRole('button', { name: 'Status' }));
    expect(screen.getAllByTestId(/^row-/).map((row) => row.dataset.test)).toEqual(['row-b', 'row-c', 'row-a']);
    await user.click(screen.getByRole('button', { name: 'Status' }));
    expect(screen.getAllByTestId(/^row-/).map((row) => row.dataset.test)).toEqual(['row-a', 'row-c', 'row-b']);
    await user.click(screen.getByRole('button', { name: 'Name' }));
    expect(screen.getAllByTestId(/^row-/).map((row) => row.dataset.test)).toEqual(['row-a', 'row-b', 'row-c']);
  });

  it('renders one page of rows at a time', async () => {
    const user = userEvent.setup();
    const { send } = await setup();
    send(snapshot(Array.from({ length: 120 }, (_, i) => node(`node-${String(i + 1)}`))));
    expect(screen.getAllByTestId(/^row-/)).toHaveLength(50);
    expect(rowOf('node-1')).toBeInTheDocument();
    await user.click(screen.getAllByRole('button', { name: 'Go to next page' })[0]);
    expect(screen.getAllByTestId(/^row-/)).toHaveLength(50);
    expect(rowOf('node-51')).toBeInTheDocument();
    expect(screen.queryByTestId('row-node-1')).not.toBeInTheDocument();
  });

  it('shows no emission setting until the live table has answered, and says why it waits', async () => {
    const user = userEvent.setup();
    const { send } = await setup();
    // Export runs on the cluster, but the page has not heard so: no value, not "Disabled".
    expect(emissionToggle()).toBeDisabled();
    expect(emissionToggle()).not.toHaveTextContent('Disabled');
    expect(screen.getByTestId('emission-unknown')).toHaveTextContent('Not known yet');
    await user.hover(screen.getByTestId('emission-disabled-reason'));
    expect(await screen.findByRole('tooltip')).toHaveTextContent('Waiting for the gateway to say what the cluster exports.');

    send(snapshot([node('node-1')], { enabled: true, type: 'IPFIX' }));
    await waitFor(() => {
      expect(emissionToggle()).toBeEnabled();
    });
    expect(emissionToggle()).toHaveTextContent('IPFIX');
    expect(screen.queryByTestId('emission-unknown')).not.toBeInTheDocument();
  });

  it('explains repeated refusals with what the gateway answers over HTTP, and what to do', async () => {
    const answers: GraphQLResponse<unknown>[] = [];
    const { transport, connection } = await setup({
      resolve: (request) => (request.operationName === 'Viewer' && answers.length ? answers.shift() : undefined),
    });
    act(() => {
      transport.setTrouble({ refusals: 2, closeCode: 1006, closeReason: '' });
    });
    expect(screen.queryByTestId('connection-trouble')).not.toBeInTheDocument();

    // Three in a row: the page asks over HTTP, which works: only the live connection fails.
    act(() => {
      transport.setTrouble({ refusals: 3, closeCode: 1006, closeReason: '' });
    });
    const alert = await screen.findByTestId('connection-trouble');
    expect(alert).toHaveTextContent('The live connection to the gateway keeps failing');
    expect(alert).toHaveTextContent('3 attempts in a row ended before the gateway accepted them (last close: 1006).');
    await waitFor(() => {
      expect(screen.getByTestId('connection-trouble-seen')).toHaveTextContent('The gateway answers requests');
    });
    expect(screen.getByTestId('connection-trouble-todo')).toHaveTextContent(
      'oc -n flowgate logs deployment/flowgate-gateway',
    );

    // Three more, and now the console's proxy cannot reach the gateway either.
    connection.fetch.mockRejectedValueOnce(
      new GatewayError(
        "The request to the gateway was answered HTTP 502 Bad Gateway: Failed to dial backend: 'connection refused'",
        'NETWORK',
        [],
        502,
      ),
    );
    act(() => {
      transport.setTrouble({ refusals: 6, closeCode: 1006, closeReason: '' });
    });
    await waitFor(() => {
      expect(screen.getByTestId('connection-trouble-seen')).toHaveTextContent(
        "The request to the gateway was answered HTTP 502 Bad Gateway: Failed to dial backend: 'connection refused'",
      );
    });
    expect(screen.getByTestId('connection-trouble-todo')).toHaveTextContent(
      'The gateway cannot be reached. An administrator can check that its pods run and are ready: oc -n flowgate get pods -l app.kubernetes.io/component=gateway',
    );

    // Nothing answers at all (the browser's own network error).
    connection.fetch.mockRejectedValueOnce(new TypeError('Failed to fetch'));
    act(() => {
      transport.setTrouble({ refusals: 9, closeCode: 1006, closeReason: '' });
    });
    await waitFor(() => {
      expect(screen.getByTestId('connection-trouble-seen')).toHaveTextContent(
        'Asking the gateway over HTTP failed too: Failed to fetch',
      );
    });
    expect(screen.getByTestId('connection-trouble-todo')).toHaveTextContent('The gateway cannot be reached.');

    // Refused for a reason the gateway gives in GraphQL: its sentence, and what to ask for.
    answers.push({ errors: [gqlError('User "bob" may not list flows.flowgate.dev.', 'FORBIDDEN')] });
    act(() => {
      transport.setTrouble({ refusals: 12, closeCode: 4403, closeReason: 'Forbidden' });
    });
    await waitFor(() => {
      expect(screen.getByTestId('connection-trouble-seen')).toHaveTextContent(
        'Asked over HTTP, the gateway answered FORBIDDEN: User "bob" may not list flows.flowgate.dev.',
      );
    });
    expect(screen.getByTestId('connection-trouble')).toHaveTextContent('(last close: 4403: Forbidden)');
    expect(screen.getByTestId('connection-trouble-todo')).toHaveTextContent('flowgate-viewer role');

    // Accepted again: the alert goes.
    act(() => {
      transport.setTrouble(null);
      transport.setStatus('connected');
    });
    expect(screen.queryByTestId('connection-trouble')).not.toBeInTheDocument();
  });

  it('starts the chosen flow type with the collector form, and stops on Disabled', async () => {
    const user = userEvent.setup();
    const { send, connection } = await setup();
    send(snapshot([node('node-1')], { enabled: false, type: null, collector: null }));
    await waitFor(() => {
      expect(emissionToggle()).toBeEnabled();
    });
    expect(emissionToggle()).toHaveTextContent('Disabled');

    await user.click(screen.getByRole('button', { name: 'Collector' }));
    await user.click(screen.getByRole('radio', { name: 'Node port' }));
    await user.type(screen.getByRole('spinbutton', { name: 'Node port' }), '30002');
    await user.type(screen.getByRole('spinbutton', { name: 'Sampling' }), '400');
    await user.click(emissionToggle());
    await user.click(screen.getByRole('option', { name: 'IPFIX' }));

    await waitFor(() => {
      expect(connection.fetch).toHaveBeenCalledWith(expect.objectContaining({ operationName: 'StartFlows' }));
    });
    const start = connection.fetch.mock.calls.find(([request]) => request.operationName === 'StartFlows')?.[0];
    expect(start.variables).toEqual({
      type: 'IPFIX',
      collector: { nodePort: 30002 },
      sampling: 400,
      activeTimeoutSeconds: null,
      cacheMaxFlows: null,
      durationSeconds: null,
      nodes: null,
      nodeSelector: null,
      ignoreUnknownNodes: false,
    });
    await waitFor(() => {
      expect(emissionToggle()).toHaveTextContent('IPFIX');
    });

    await user.click(emissionToggle());
    await user.click(screen.getByRole('option', { name: 'Disabled' }));
    await waitFor(() => {
      expect(connection.fetch).toHaveBeenCalledWith(expect.objectContaining({ operationName: 'StopFlows' }));
    });
    await waitFor(() => {
      expect(emissionToggle()).toHaveTextContent('Disabled');
    });
  });

  it('reflects the live type and collector from the subscription', async () => {
    const { send } = await setup();
    send(
      snapshot([node('node-1')], {
        type: 'SFLOW',
        collector: { mode: 'targets', targets: ['10.0.0.5:2055'], description: 'targets 10.0.0.5:2055' },
      }),
    );
    await waitFor(() => {
      expect(emissionToggle()).toHaveTextContent('sFlow');
    });
    expect(screen.getByRole('button', { name: 'Collector: targets 10.0.0.5:2055' })).toBeInTheDocument();
    send(change([], [], { type: 'IPFIX', generation: 3 }));
    expect(emissionToggle()).toHaveTextContent('IPFIX');
  });

  it('shows what each setting costs a node in the Collector section, pointing out the running one', async () => {
    const user = userEvent.setup();
    const { send } = await setup();
    send(snapshot([node('node-1')], { type: 'IPFIX' }));
    await waitFor(() => {
      expect(emissionToggle()).toHaveTextContent('IPFIX');
    });
    await user.click(screen.getByRole('button', { name: 'Collector: selector role=flows-collector' }));

    const table = await screen.findByRole('grid', { name: 'What export costs each node' });
    expect(within(table).getAllByRole('columnheader').map((cell) => cell.textContent)).toEqual([
      'Setting',
      'At 1,000 packets/s',
      'At 50,000 packets/s',
    ]);
    const costCells = (id: string) => within(screen.getByTestId(id)).getAllByRole('cell').map((cell) => cell.textContent);
    expect(costCells('cost-NETFLOW-all')).toEqual([
      'NetFlow',
      '0.4±0.3 % CPU · 4.7 kB/s · +4 MiB',
      '12.3±2.1 % CPU · 245 kB/s · +210 MiB',
    ]);
    expect(costCells('cost-IPFIX-1')).toEqual(['IPFIX, 1 in 1', '5.0±0.9 % CPU · 556 kB/s', '61.9±4.4 % CPU · 14.2 MB/s']);
    // Empty sampling: IPFIX's default is what this export runs with.
    expect(costCells('cost-IPFIX-400')[0]).toBe('IPFIX, 1 in 400 (default) As entered above');
    expect(screen.getByTestId('export-costs')).toHaveTextContent(
      'Measured 2026-11-29 14:02 UTC with ovs-vswitchd (Open vSwitch) 3.1.0 on Test CPU, 2 cores',
    );

    // A sampling typed in the form points at the nearest measured one.
    await user.type(screen.getByRole('spinbutton', { name: 'Sampling' }), '2');
    expect(costCells('cost-IPFIX-1')[0]).toBe('IPFIX, 1 in 1 As entered above');
    expect(costCells('cost-IPFIX-400')[0]).toBe('IPFIX, 1 in 400 (default)');
  });

  it('works without the cost table when the gateway has none', async () => {
    const user = userEvent.setup();
    const { send } = await setup({ costs: null });
    send(snapshot([node('node-1')]));
    await waitFor(() => {
      expect(emissionToggle()).toHaveTextContent('NetFlow');
    });
    await user.click(screen.getByRole('button', { name: 'Collector: selector role=flows-collector' }));
    expect(screen.getByRole('spinbutton', { name: 'Sampling' })).toBeInTheDocument();
    expect(screen.queryByTestId('export-costs')).not.toBeInTheDocument();
    expect(screen.queryByRole('alert')).not.toBeInTheDocument();
  });

  it('puts a validation error next to the field it names', async () => {
    const user = userEvent.setup();
    const message = 'nodePort must be between 30000 and 32767.';
    const { send } = await setup({
      resolve: (request) =>
        request.operationName === 'StartFlows'
          ? { data: null, errors: [gqlError(message, 'INVALID_ARGUMENT', 'collector.nodePort')] }
          : undefined,
    });
    send(snapshot([node('node-1')], { enabled: false, type: null, collector: null }));
    await waitFor(() => {
      expect(emissionToggle()).toBeEnabled();
    });
    await user.click(screen.getByRole('button', { name: 'Collector' }));
    await user.click(screen.getByRole('radio', { name: 'Node port' }));
    await user.type(screen.getByRole('spinbutton', { name: 'Node port' }), '80');
    await user.click(emissionToggle());
    await user.click(screen.getByRole('option', { name: 'NetFlow' }));

    const field = screen.getByRole('spinbutton', { name: 'Node port' });
    await waitFor(() => {
      expect(field).toHaveAccessibleDescription(expect.stringContaining(message));
    });
    expect(field).toHaveAttribute('aria-invalid', 'true');
    expect(screen.queryByTestId('action-error')).not.toBeInTheDocument();

    // Editing the field clears its error.
    await user.type(field, '0');
    expect(field).not.toHaveAccessibleDescription(expect.stringContaining(message));
  });

  it.each([
    ['sampling', 'Sampling', 'sampling must be a positive number.'],
    ['activeTimeoutSeconds', 'Active timeout (seconds)', 'activeTimeoutSeconds must be at least 1.'],
    ['cacheMaxFlows', 'Cache max flows', 'cacheMaxFlows must be at most 65535.'],
  ])('puts an error for %s under its field', async (field, label, message) => {
    const user = userEvent.setup();
    const { send } = await setup({
      resolve: (request) =>
        request.operationName === 'StartFlows'
          ? { data: null, errors: [gqlError(message, 'INVALID_ARGUMENT', field)] }
          : undefined,
    });
    send(snapshot([node('node-1')], { enabled: false, type: null, collector: null }));
    await waitFor(() => {
      expect(emissionToggle()).toBeEnabled();
    });
    await user.click(emissionToggle());
    await user.click(screen.getByRole('option', { name: 'sFlow' }));
    await waitFor(() => {
      expect(screen.getByRole('spinbutton', { name: label })).toHaveAccessibleDescription(expect.stringContaining(message));
    });
  });

  it('shows errors without a field in an inline alert', async () => {
    const user = userEvent.setup();
    const message = 'FlowExport cluster was changed by someone else; try again.';
    const { send } = await setup({
      resolve: (request) =>
        request.operationName === 'StartFlows' ? { data: null, errors: [gqlError(message, 'CONFLICT')] } : undefined,
    });
    send(snapshot([node('node-1')], { enabled: false, type: null, collector: null }));
    await waitFor(() => {
      expect(emissionToggle()).toBeEnabled();
    });
    await user.click(emissionToggle());
    await user.click(screen.getByRole('option', { name: 'NetFlow' }));
    const alert = await screen.findByTestId('action-error');
    expect(alert).toHaveTextContent('Flow export was not switched');
    expect(alert).toHaveTextContent(message);
    expect(emissionToggle()).toHaveTextContent('Disabled');
  });

  it('shows the gateway sentence on an unsupported network and disables the select', async () => {
    const { send } = await setup();
    send(
      snapshot([node('node-1', { state: 'DISABLED' })], {
        enabled: false,
        type: null,
        supported: false,
        networkType: 'OpenShiftSDN',
        unsupportedReason: 'OpenShiftSDN does not support flows tracing.',
      }),
    );
    const alert = screen.getByTestId('unsupported-alert');
    expect(alert).toHaveTextContent('OpenShiftSDN does not support flows tracing.');
    await waitFor(() => {
      expect(screen.getByRole('button', { name: /Flows emission/ })).toBeDisabled();
    });
  });

  it('says the Cluster Network Operator manages export, with its sentence, and disables the select', async () => {
    const message =
      'Flow export on this cluster is managed by the Cluster Network Operator: networks.operator.openshift.io/cluster ' +
      'sets spec.exportNetworkFlows (NetFlow to 192.0.2.1:2055) and ovnkube-node configures br-int from it.';
    const { send } = await setup();
    send(
      snapshot([node('node-1', { state: 'DISABLED' })], {
        operatorExport: {
          manager: 'Cluster Network Operator',
          field: 'spec.exportNetworkFlows',
          exporters: [{ type: 'NETFLOW', collectors: ['192.0.2.1:2055'] }],
          message,
        },
      }),
    );
    const alert = screen.getByTestId('operator-alert');
    expect(alert).toHaveTextContent('Flow export is managed by the Cluster Network Operator');
    expect(alert).toHaveTextContent(message);
    await waitFor(() => {
      expect(emissionToggle()).toBeDisabled();
    });
  });

  it('lists the recent changes and errors, newest first, and asks again when the export changes', async () => {
    const now = Date.now();
    const events = [
      {
        time: new Date(now - 5_000).toISOString(),
        type: 'Warning',
        reason: 'ExportFailed',
        regarding: 'Flow/node-2',
        note: 'no flows collector on node-2 behind nodePort 30001',
        count: 3,
        user: null,
      },
      {
        time: new Date(now - 60_000).toISOString(),
        type: 'Normal',
        reason: 'FlowExportStarted',
        regarding: 'FlowExport/cluster',
        note: 'User "alice" started flow export: NetFlow to nodePort 30001; generation 1.',
        count: 1,
        user: 'alice',
      },
    ];
    const { send, connection } = await setup({ events });
    send(snapshot([node('node-1')]));
    const notes = await screen.findAllByTestId('event-note');
    expect(notes.map((note) => note.textContent)).toEqual([
      'Flow/node-2 no flows collector on node-2 behind nodePort 30001 (3 times)',
      ' User "alice" started flow export: NetFlow to nodePort 30001; generation 1.',
    ]);
    const asked = () =>
      connection.fetch.mock.calls.filter(([request]: [{ operationName: string }]) => request.operationName === 'FlowEvents')
        .length;
    const before = asked();
    send(change([], [], { generation: 2 }));
    await waitFor(() => {
      expect(asked()).toBe(before + 1);
    });
  });

  it('disables the select for a viewer who may not switch, with the reason in a tooltip', async () => {
    const user = userEvent.setup();
    const reason = 'You (system:serviceaccount:ops:viewer) may not patch flowexports.flowgate.dev.';
    const { send } = await setup({ viewer: { user: 'viewer', canSwitch: false, reason } });
    send(snapshot([node('node-1')]));
    await waitFor(() => {
      expect(emissionToggle()).toBeDisabled();
    });
    await user.hover(screen.getByTestId('emission-disabled-reason'));
    expect(await screen.findByRole('tooltip')).toHaveTextContent(reason);
  });

  it('shows Reconnecting… while the socket is down and takes the new snapshot as the table', async () => {
    const { transport, send } = await setup();
    act(() => {
      transport.setStatus('connected');
    });
    send(snapshot([node('node-1'), node('node-2'), node('node-3')]));
    expect(screen.getByTestId('connection-status')).toHaveTextContent('Live');

    act(() => {
      transport.setStatus('reconnecting');
    });
    expect(screen.getByTestId('connection-status')).toHaveTextContent('Reconnecting…');
    // The last known rows stay while reconnecting.
    expect(screen.getAllByTestId(/^row-/)).toHaveLength(3);

    act(() => {
      transport.setStatus('connected');
    });
    send(snapshot([node('node-1', { state: 'PENDING' }), node('node-4')]));
    expect(screen.getByTestId('connection-status')).toHaveTextContent('Live');
    expect(screen.getAllByTestId(/^row-/).map((row) => row.dataset.test)).toEqual(['row-node-1', 'row-node-4']);
    expect(cells('node-1')[1]).toBe(' Pending');
  });

  it('shows a subscription error and subscribes again on Retry', async () => {
    const user = userEvent.setup();
    const { transport, send } = await setup();
    send(snapshot([node('node-1')]));
    act(() => {
      transport.fail([gqlError('You may not list flows.flowgate.dev.', 'FORBIDDEN')]);
    });
    expect(screen.getByTestId('table-error')).toHaveTextContent('You may not list flows.flowgate.dev.');
    expect(transport.subscriptions).toHaveLength(0);
    await user.click(screen.getByRole('button', { name: 'Retry' }));
    expect(transport.subscriptions).toHaveLength(1);
    expect(screen.queryByTestId('table-error')).not.toBeInTheDocument();
  });

  it('shows what each collector received, with a warning for records that do not arrive', async () => {
    const { send } = await setup();
    send(
      snapshot([
        node('node-1', { delivery: 'CONFIRMED', recordsPerSecond: 12.5 }),
        node('node-2', {
          delivery: 'NOT_RECEIVED',
          recordsPerSecond: 0,
          deliveryMessage: 'The collector has counted no NetFlow records from 10.89.0.2 since 12:00.',
        }),
      ]),
    );
    expect(cells('node-1')[5]?.trim()).toBe('Confirmed 12.5/s');
    expect(cells('node-2')[5]?.trim()).toBe('Not received 0/s');
    expect(cells('node-2')[7]).toBe('The collector has counted no NetFlow records from 10.89.0.2 since 12:00.');
    expect(within(rowOf('node-1')).getByRole('img', { name: /Records per second/ })).toBeInTheDocument();
    expect(screen.getByTestId('flows-not-received')).toHaveTextContent(
      "1 node's records are not reaching its collector",
    );
    send(change([node('node-2', { delivery: 'CONFIRMED', recordsPerSecond: 3 })]));
    expect(screen.queryByTestId('flows-not-received')).not.toBeInTheDocument();
  });

  it('starts for the chosen duration on the chosen nodes', async () => {
    const user = userEvent.setup();
    const { send, connection } = await setup();
    send(snapshot([node('node-1'), node('node-2'), node('node-3')], { enabled: false, type: null, collector: null }));
    await waitFor(() => {
      expect(emissionToggle()).toBeEnabled();
    });
    expect(durationToggle()).toHaveTextContent('Until stopped');

    await user.click(durationToggle());
    expect(screen.getAllByRole('option').map((option) => option.textContent)).toEqual([
      '15 min',
      '1 h',
      '4 h',
      'Until stopped',
      'Other duration…',
    ]);
    await user.click(screen.getByRole('option', { name: '1 h' }));
    expect(connection.fetch).not.toHaveBeenCalledWith(expect.objectContaining({ operationName: 'StartFlows' }));
    await user.click(screen.getByRole('button', { name: 'Nodes' }));
    await user.click(screen.getByRole('radio', { name: 'These nodes' }));
    await user.type(screen.getByRole('textbox', { name: 'Node names' }), 'node-1, node-2');
    // The projected cost follows the choice (names that are no node yet left out while typed).
    await waitFor(() => {
      expect(connection.fetch).toHaveBeenCalledWith(
        expect.objectContaining({
          operationName: 'ExportProjections',
          variables: expect.objectContaining({ nodes: ['node-1', 'node-2'], ignoreUnknownNodes: true }),
        }),
      );
    });
    await user.click(emissionToggle());
    await user.click(screen.getByRole('option', { name: 'NetFlow' }));

    await waitFor(() => {
      expect(connection.fetch).toHaveBeenCalledWith(expect.objectContaining({ operationName: 'StartFlows' }));
    });
    const start = connection.fetch.mock.calls.find(([request]) => request.operationName === 'StartFlows')?.[0];
    expect(start.variables).toMatchObject({
      type: 'NETFLOW',
      durationSeconds: 3600,
      nodes: ['node-1', 'node-2'],
      nodeSelector: null,
      ignoreUnknownNodes: false,
    });
  }, 20_000); // much typing: generous under load

  it('counts down to the deadline and shows which nodes are selected', async () => {
    const deadline = new Date(Date.now() + 90_000).toISOString();
    const { send } = await setup();
    send(
      snapshot(
        [
          node('node-1', { selected: true }),
          node('node-2', { selected: true }),
          node('node-3', {
            state: 'DISABLED',
            selected: false,
            message: 'not selected: flow export runs on the nodes named (node-1, node-2)',
          }),
        ],
        {
          deadline,
          nodeChoice: { mode: 'names', names: ['node-1', 'node-2'], description: 'nodes node-1, node-2' },
          summary: { total: 3, disabled: 1, pending: 0, emitting: 2, error: 0, selected: 2 },
        },
      ),
    );
    expect(screen.getByTestId('export-countdown')).toHaveTextContent(/^Stops in 01:(29|30)$/);
    expect(durationToggle()).toHaveTextContent('Keep the current end');
    expect(screen.getByRole('columnheader', { name: 'Selected' })).toBeInTheDocument();
    expect(cells('node-1').slice(0, 2)).toEqual(['node-1', ' Yes']);
    expect(cells('node-3').slice(0, 3)).toEqual(['node-3', 'No', ' Disabled']);
    expect(screen.getByTestId('flows-selected')).toHaveTextContent(
      'Export runs on 2 of 3 nodes (nodes node-1, node-2).',
    );
    expect(screen.getByRole('button', { name: /^Nodes: nodes node-1, node-2 \(2 of 3 nodes selected\)/ })).toBeInTheDocument();

    // Once the deadline has passed: ended, and no column of a choice that no longer runs.
    send(
      change([node('node-1', { state: 'DISABLED', selected: true })], [], {
        enabled: false,
        ended: true,
        deadline: new Date(Date.now() - 200_000).toISOString(),
        nodeChoice: { mode: 'names', names: ['node-1', 'node-2'], description: 'nodes node-1, node-2' },
      }),
    );
    expect(screen.getByTestId('export-countdown')).toHaveTextContent('Ended 3m ago');
    expect(emissionToggle()).toHaveTextContent('Disabled');
    expect(screen.queryByRole('columnheader', { name: 'Selected' })).not.toBeInTheDocument();
  });

  it('restarts with a new duration chosen while export runs, and refuses a bad typed one locally', async () => {
    const user = userEvent.setup();
    const { send, connection } = await setup();
    send(snapshot([node('node-1')]));
    await waitFor(() => {
      expect(durationToggle()).toBeEnabled();
    });
    await user.click(durationToggle());
    await user.click(screen.getByRole('option', { name: 'Other duration…' }));
    const typed = screen.getByRole('textbox', { name: 'Duration, e.g. 2h30m' });
    await user.type(typed, '200h');
    await user.click(screen.getByRole('button', { name: 'Set' }));
    expect(typed).toHaveAccessibleDescription(
      expect.stringContaining('Choose from 1 second to 168 hours (one week); for longer, choose Until stopped.'),
    );
    expect(connection.fetch).not.toHaveBeenCalledWith(expect.objectContaining({ operationName: 'StartFlows' }));

    await user.clear(typed);
    await user.type(typed, '2h30m');
    await user.click(screen.getByRole('button', { name: 'Set' }));
    await waitFor(() => {
      expect(connection.fetch).toHaveBeenCalledWith(expect.objectContaining({ operationName: 'StartFlows' }));
    });
    const start = connection.fetch.mock.calls.find(([request]) => request.operationName === 'StartFlows')?.[0];
    expect(start.variables).toMatchObject({ type: 'NETFLOW', durationSeconds: 9000 });
  }, 20_000); // much typing: generous under load

  it('puts the gateway sentence about unknown node names under the names, changing nothing', async () => {
    const user = userEvent.setup();
    const message =
      "nodes: 'node-9' is no node of this cluster; flow export was not changed. Correct the names, or set " +
      'ignoreUnknownNodes to start on the 1 known one only.';
    const { send, connection } = await setup({
      resolve: (request) =>
        request.operationName === 'StartFlows' && !request.variables?.ignoreUnknownNodes
          ? { data: null, errors: [gqlError(message, 'INVALID_ARGUMENT', 'nodes')] }
          : undefined,
    });
    send(snapshot([node('node-1')], { enabled: false, type: null, collector: null }));
    await waitFor(() => {
      expect(emissionToggle()).toBeEnabled();
    });
    await user.click(screen.getByRole('button', { name: 'Nodes' }));
    await user.click(screen.getByRole('radio', { name: 'These nodes' }));
    const names = screen.getByRole('textbox', { name: 'Node names' });
    await user.type(names, 'node-1,node-9');
    await user.click(emissionToggle());
    await user.click(screen.getByRole('option', { name: 'sFlow' }));
    await waitFor(() => {
      expect(names).toHaveAccessibleDescription(expect.stringContaining(message));
    });
    expect(emissionToggle()).toHaveTextContent('Disabled');

    await user.click(screen.getByRole('checkbox', { name: /Start on the known nodes only/ }));
    await user.click(emissionToggle());
    await user.click(screen.getByRole('option', { name: 'sFlow' }));
    await waitFor(() => {
      expect(emissionToggle()).toHaveTextContent('sFlow');
    });
    const starts = (connection.fetch.mock.calls as [GraphQLRequest][]).filter(
      ([request]) => request.operationName === 'StartFlows',
    );
    expect(starts.map(([request]) => request.variables?.ignoreUnknownNodes)).toEqual([false, true]);
  }, 20_000); // much typing: generous under load

  it('renders 5,000 rows and 1,000 changes without one commit per change', async () => {
    const transport = new FakeTransport();
    const connection: GatewayConnection = fakeConnection(transport);
    let commits = 0;
    const onRender: ProfilerOnRenderCallback = () => {
      commits += 1;
    };
    // The real scheduler: requestAnimationFrame.
    await act(async () =>
      renderWithI18n(
        <Profiler id="flows" onRender={onRender}>
          <FlowsPage connection={connection} />
        </Profiler>,
      ),
    );
    const names = Array.from({ length: 5000 }, (_, i) => `node-${String(i + 1)}`);
    act(() => {
      transport.emit(snapshot(names.map((name) => node(name))));
    });
    await waitFor(() => {
      expect(screen.getByTestId('flows-summary')).toHaveTextContent('5000 nodes: 5000 emitting');
    });
    expect(screen.getAllByTestId(/^row-/)).toHaveLength(50);

    const before = commits;
    // 1,000 messages of one change each, in 20 bursts a few milliseconds apart.
    for (let burst = 0; burst < 20; burst += 1) {
      act(() => {
        for (let i = 0; i < 50; i += 1) {
          const index = burst * 50 + i;
          transport.emit(change([node(names[index % 50], { state: index % 2 ? 'ERROR' : 'PENDING' })]));
        }
      });
      await act(() => new Promise((resolve) => setTimeout(resolve, 4)));
    }
    await waitFor(() => {
      expect(screen.getByTestId('flows-summary')).toHaveTextContent('5000 nodes: 4950 emitting, 25 pending, 25 error');
    });
    const changeCommits = commits - before;
    expect(changeCommits).toBeGreaterThan(0);
    expect(changeCommits).toBeLessThan(100);
    expect(cells('node-50')[1]).toBe(' Error');
  });
});
