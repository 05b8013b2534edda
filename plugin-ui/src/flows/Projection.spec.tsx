import { act, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { FlowsPage } from './FlowsPage';
import {
  FakeTransport,
  fakeConnection,
  type FakeConnectionOptions,
  ManualScheduler,
  node,
  projection,
  snapshot,
} from '../testing/fakeTransport';
import { renderWithI18n } from '../testing/render';
import type { GraphQLRequest } from '../gateway/connection';
import { costliestFirst, formatPackets, projectionTuning, trafficKey } from './projections';
import { INITIAL_FORM } from './collectorForm';

const setup = async (options: FakeConnectionOptions = {}) => {
  const transport = new FakeTransport();
  const scheduler = new ManualScheduler();
  const connection = fakeConnection(transport, options);
  await act(async () => renderWithI18n(<FlowsPage connection={connection} scheduler={scheduler} />));
  const send = (update: Parameters<FakeTransport['emit']>[0]) => {
    act(() => {
      transport.emit(update);
      scheduler.runFrame();
    });
  };
  const asked = (operation: string): GraphQLRequest[] =>
    connection.fetch.mock.calls.map(([request]) => request as GraphQLRequest).filter((r) => r.operationName === operation);
  return { connection, send, asked };
};

const emissionToggle = () => screen.getByRole('button', { name: /Flows emission/ });
const disabledCluster = { enabled: false, type: null, collector: null } as const;

describe('projected cost', () => {
  it('shows every type’s projection before anything changes: the costliest nodes, the total, notes and basis', async () => {
    const user = userEvent.setup();
    const { send, asked } = await setup();
    send(snapshot([node('node-1', { state: 'DISABLED', packetsPerSecond: 2000 })], disabledCluster));

    const panel = await screen.findByTestId('projection-nodes');
    expect(asked('ExportProjections')[0].variables).toEqual({
      sampling: null,
      activeTimeoutSeconds: null,
      cacheMaxFlows: null,
    });
    // Export off: IPFIX is shown first, the busiest node on top.
    expect(screen.getByRole('button', { name: 'IPFIX' })).toHaveAttribute('aria-pressed', 'true');
    const rows = within(panel).getAllByRole('row').slice(1);
    expect(rows.map((row) => within(row).getAllByRole('cell')[0].textContent)).toEqual(['node-2', 'node-1', 'node-3']);
    expect(within(rows[0]).getAllByRole('cell').map((cell) => cell.textContent)).toEqual([
      'node-2',
      '20K',
      '4.0±0.5 %',
      '320 kB/s',
      '1,250',
      '',
    ]);
    expect(within(rows[2]).getAllByRole('cell')[5]).toHaveTextContent('below the measured rates');
    expect(screen.getByTestId('projection-total')).toHaveTextContent(
      'In all, on 3 nodes: 4.4±0.5 % of a core of ovs-vswitchd CPU, 352 kB/s of export to the collectors, 1,380 records/s.',
    );
    expect(screen.getByTestId('projection-notes')).toHaveTextContent('less than the lowest measured rate');
    expect(screen.getByTestId('projection-basis')).toHaveTextContent(
      'with the cost table measured 2026-11-29 14:02 UTC with Open vSwitch 3.1.0, userspace datapath',
    );

    // Choosing another type shows its projection; nothing is sent but queries.
    await user.click(screen.getByRole('button', { name: 'NetFlow' }));
    expect(screen.getByTestId('projection-total')).toHaveTextContent('528 kB/s');
    expect(asked('StartFlows')).toHaveLength(0);
  });

  it('shows each type’s projected total while choosing in the select', async () => {
    const user = userEvent.setup();
    const { send } = await setup();
    send(snapshot([node('node-1', { state: 'DISABLED' })], disabledCluster));
    await screen.findByTestId('projection-total');
    await waitFor(() => {
      expect(emissionToggle()).toBeEnabled();
    });
    await user.click(emissionToggle());
    const option = screen.getByRole('option', { name: 'IPFIX' });
    expect(option).toHaveTextContent('Projected in all: 4.4±0.5 % CPU, 352 kB/s');
    expect(screen.getByRole('option', { name: 'sFlow' })).toHaveTextContent('Projected in all: 2.2±0.5 % CPU, 176 kB/s');
  });

  it('asks again with the sampling typed in the form', async () => {
    const user = userEvent.setup();
    const { send, asked } = await setup();
    send(snapshot([node('node-1', { state: 'DISABLED' })], disabledCluster));
    await screen.findByTestId('projection-total');
    await user.click(screen.getByRole('button', { name: 'Collector' }));
    await user.type(screen.getByRole('spinbutton', { name: 'Sampling' }), '128');
    await waitFor(() => {
      expect(asked('ExportProjections').at(-1)?.variables).toEqual({
        sampling: 128,
        activeTimeoutSeconds: null,
        cacheMaxFlows: null,
      });
    });
    await user.clear(screen.getByRole('spinbutton', { name: 'Sampling' }));
    await user.type(screen.getByRole('spinbutton', { name: 'Sampling' }), '0');
    expect(screen.getByText('Enter whole numbers of 1 or more in the tuning to see the projection.')).toBeInTheDocument();
  });

  it('asks for confirmation with the totals above the threshold, and switches only when confirmed', async () => {
    const user = userEvent.setup();
    const confirmation = 'ipfix 1/64, active timeout 60 s is projected to cost 12.0 MB/s of export to the collectors (confirmation from 10.0 MB/s).';
    const { send, asked } = await setup({ projections: { IPFIX: projection('IPFIX', { confirmation }) } });
    send(snapshot([node('node-1', { state: 'DISABLED' })], disabledCluster));
    await screen.findByTestId('projection-confirm');
    await waitFor(() => {
      expect(emissionToggle()).toBeEnabled();
    });

    await user.click(emissionToggle());
    await user.click(screen.getByRole('option', { name: 'IPFIX' }));
    const dialog = await screen.findByRole('dialog', { name: /Switch flow export to IPFIX, 1 in 64\?/ });
    expect(dialog).toHaveTextContent(confirmation);
    expect(within(dialog).getByTestId('confirm-totals')).toHaveTextContent(
      'Nodes3ovs-vswitchd CPU, in all4.4±0.5 % of a coreExport to the collectors352 kB/s, 1,380 records/s',
    );
    expect(dialog).toHaveTextContent('Open vSwitch 3.1.0, userspace datapath');
    // The dry run asked about exactly the start that would be sent.
    expect(asked('ExportProjection')[0].variables).toEqual({
      type: 'IPFIX',
      collector: null,
      sampling: null,
      activeTimeoutSeconds: null,
      cacheMaxFlows: null,
      durationSeconds: null,
      nodes: null,
      nodeSelector: null,
      ignoreUnknownNodes: false,
    });
    expect(asked('StartFlows')).toHaveLength(0);

    await user.click(within(dialog).getByRole('button', { name: 'Cancel' }));
    expect(screen.queryByRole('dialog')).not.toBeInTheDocument();
    expect(asked('StartFlows')).toHaveLength(0);
    expect(emissionToggle()).toHaveTextContent('Disabled');

    await user.click(emissionToggle());
    await user.click(screen.getByRole('option', { name: 'IPFIX' }));
    await user.click(await screen.findByRole('button', { name: 'Switch' }));
    await waitFor(() => {
      expect(asked('StartFlows')).toHaveLength(1);
    });
    expect(asked('StartFlows')[0].variables).toMatchObject({ type: 'IPFIX' });
  });

  it('says so when no node has reported its traffic yet', async () => {
    const unknown = (type: 'NETFLOW' | 'IPFIX' | 'SFLOW') =>
      projection(type, {
        nodes: [{ node: 'node-1', packetsPerSecond: null, range: 'UNKNOWN', cost: null }],
        total: { cpuPercentOfCore: 0, cpuSpread: 0, memoryMib: 0, exportBytesPerSecond: 0, recordsPerSecond: 0 },
        unknownNodes: 1,
      });
    const { send } = await setup({ projections: { NETFLOW: unknown('NETFLOW'), IPFIX: unknown('IPFIX'), SFLOW: unknown('SFLOW') } });
    send(snapshot([node('node-1', { state: 'DISABLED' })], disabledCluster));
    expect(await screen.findByTestId('projection-total')).toHaveTextContent(
      'No node has reported its traffic yet: an agent measures it within a minute of starting.',
    );
    expect(within(screen.getByTestId('projection-node-1')).getAllByRole('cell')[5]).toHaveTextContent('traffic not reported');
  });

  it('switches at once below the threshold, and when the gateway has no projection', async () => {
    const user = userEvent.setup();
    const { send, asked } = await setup({ projections: null });
    send(snapshot([node('node-1', { state: 'DISABLED' })], disabledCluster));
    expect(await screen.findByTestId('projection-unavailable')).toHaveTextContent(
      'The projection is not available: Cannot query field "exportProjection" on type "Query".',
    );
    await waitFor(() => {
      expect(emissionToggle()).toBeEnabled();
    });
    await user.click(emissionToggle());
    await user.click(screen.getByRole('option', { name: 'sFlow' }));
    await waitFor(() => {
      expect(asked('StartFlows')).toHaveLength(1);
    });
    expect(screen.queryByRole('dialog')).not.toBeInTheDocument();
  });

  it('shows each node’s traffic, and while exporting its projection beside what its collector received', async () => {
    const { send } = await setup();
    send(
      snapshot(
        [
          node('node-1', {
            type: 'IPFIX',
            packetsPerSecond: 2000,
            delivery: 'CONFIRMED',
            recordsPerSecond: 61.2,
            projectedRecordsPerSecond: 64,
            projectedExportBytesPerSecond: 17_400,
            projectionRange: 'MEASURED',
          }),
          node('node-2', {
            type: 'IPFIX',
            packetsPerSecond: 12,
            projectedRecordsPerSecond: 0.4,
            projectedExportBytesPerSecond: 105,
            projectionRange: 'BELOW',
          }),
        ],
        { type: 'IPFIX' },
      ),
    );
    const table = screen.getByRole('grid', { name: 'Nodes' });
    const headers = within(table).getAllByRole('columnheader').map((cell) => cell.textContent);
    expect(headers.slice(4, 7)).toEqual(['Packets/s', 'Received', expect.stringMatching(/^Projected/)]);
    const cells = (name: string) =>
      within(screen.getByTestId(`row-${name}`)).getAllByRole('cell').map((cell) => cell.textContent.trim());
    expect(cells('node-1').slice(4, 7)).toEqual(['2K', 'Confirmed 61.2/s', '≈ 64/s 17.4 kB/s']);
    expect(cells('node-2').slice(4, 7)).toEqual(['12', 'Unknown', '≈ 0.4/s 0.1 kB/s (below the measured rates)']);
  });
});

describe('projection helpers', () => {
  it('asks only with whole numbers of 1 or more', () => {
    expect(projectionTuning(INITIAL_FORM)).toEqual({ sampling: null, activeTimeoutSeconds: null, cacheMaxFlows: null });
    expect(projectionTuning({ ...INITIAL_FORM, sampling: ' 64 ', activeTimeoutSeconds: '30' })).toEqual({
      sampling: 64,
      activeTimeoutSeconds: 30,
      cacheMaxFlows: null,
    });
    for (const bad of ['0', '-4', '1.5', 'x']) {
      expect(projectionTuning({ ...INITIAL_FORM, sampling: bad })).toBeNull();
    }
  });

  it('keys the traffic on the nodes and their rates', () => {
    const rows = new Map([
      ['a', node('a', { packetsPerSecond: 10 })],
      ['b', node('b')],
    ]);
    expect(trafficKey(rows)).toBe('2/1/10.0');
    rows.set('b', node('b', { packetsPerSecond: 5 }));
    expect(trafficKey(rows)).toBe('2/2/15.0');
  });

  it('puts the costliest nodes first and unknown traffic last', () => {
    const ordered = costliestFirst(projection('IPFIX', { nodes: [...projection('IPFIX').nodes, { node: 'node-0', range: 'UNKNOWN' }] }).nodes);
    expect(ordered.map((n) => n.node)).toEqual(['node-2', 'node-1', 'node-3', 'node-0']);
    expect(formatPackets(12_345, 'en')).toBe('12.3K');
    expect(formatPackets(850, 'en')).toBe('850');
  });
});
