import type { FC } from 'react';
import { Content, Label, Stack, StackItem, Title } from '@patternfly/react-core';
import { Table, Tbody, Td, Th, Thead, Tr } from '@patternfly/react-table';
import type { ExportCostTable as CostTable, FlowType } from '../gateway/types';
import { useFlowgateTranslation } from '../i18n/useFlowgateTranslation';
import { costRows, formatBytesPerSecond, formatCpu, nearestSampling } from './exportCosts';
import { FLOW_TYPE_NAMES } from './NodeStateLabel';

export interface ExportCostTableProps {
  table: CostTable;
  /** The running type: its row nearest to the form's sampling (what Apply would give) is pointed out. */
  type: FlowType | null;
  /** The sampling in the form (empty: the default). */
  sampling: string;
}

/** What each type and sampling costs a node, as measured on Open vSwitch: the price before the switch. */
export const ExportCostTable: FC<ExportCostTableProps> = ({ table, type, sampling }) => {
  const { t, i18n } = useFlowgateTranslation();
  const rows = costRows(table);
  const chosenSampling = type ? nearestSampling(rows, type, sampling) : null;
  const number = (value: number) => value.toLocaleString(i18n.language || 'en');
  const rateHeader = (rate: number) => t('At {{rate}} packets/s', { rate: number(rate) });
  return (
    <Stack hasGutter data-test="export-costs">
      <StackItem>
        <Title headingLevel="h3" size="md">
          {t('What export costs each node')}
        </Title>
      </StackItem>
      <StackItem>
        <Table aria-label={t('What export costs each node')} variant="compact">
          <Thead>
            <Tr>
              <Th>{t('Setting')}</Th>
              {table.rates.map((rate) => (
                <Th key={rate}>{rateHeader(rate)}</Th>
              ))}
            </Tr>
          </Thead>
          <Tbody>
            {rows.map((row) => {
              const name =
                row.sampling === null
                  ? FLOW_TYPE_NAMES[row.type]
                  : t('{{type}}, 1 in {{sampling}}', { type: FLOW_TYPE_NAMES[row.type], sampling: number(row.sampling) });
              const chosen = row.type === type && row.sampling === chosenSampling;
              return (
                <Tr key={`${row.type}-${String(row.sampling)}`} data-test={`cost-${row.type}-${String(row.sampling ?? 'all')}`}>
                  <Td dataLabel={t('Setting')}>
                    {name}
                    {row.isDefault && ` ${t('(default)')}`}
                    {chosen && (
                      <>
                        {' '}
                        <Label isCompact color="blue">
                          {t('As entered above')}
                        </Label>
                      </>
                    )}
                  </Td>
                  {row.cells.map((cell, index) => (
                    <Td key={table.rates[index]} dataLabel={rateHeader(table.rates[index])}>
                      {cell
                        ? [
                            t('{{cpu}} CPU', { cpu: formatCpu(cell.cpuPercentOfCore, cell.cpuSpread) }),
                            formatBytesPerSecond(cell.exportBytesPerSecond),
                            ...(cell.memoryMib >= 1 ? [t('+{{memory}} MiB', { memory: cell.memoryMib.toFixed(0) })] : []),
                          ].join(' · ')
                        : '—'}
                    </Td>
                  ))}
                </Tr>
              );
            })}
          </Tbody>
        </Table>
      </StackItem>
      <StackItem>
        <Content component="small">
          {t(
            'Per node, against export disabled: ovs-vswitchd CPU (% of one core, ± the spread over the measurements), export traffic to the collector and ovs-vswitchd memory. Measured {{measured}} with {{openVSwitch}} on {{machine}}; {{traffic}}.',
            {
              measured: table.measured,
              openVSwitch: table.openVSwitch,
              machine: table.machine,
              traffic: table.traffic,
              interpolation: { escapeValue: false },
            },
          )}
        </Content>
      </StackItem>
    </Stack>
  );
};
