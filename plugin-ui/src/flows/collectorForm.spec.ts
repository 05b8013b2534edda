import { buildStartVariables, formFromCollector, INITIAL_FORM, parseSelector, type CollectorFormValues } from './collectorForm';

const messages = {
  notANumber: 'number',
  selectorSyntax: 'selector',
  noTargets: 'no targets',
  tooManyTargets: 'too many',
};
const form = (overrides: Partial<CollectorFormValues>): CollectorFormValues => ({ ...INITIAL_FORM, ...overrides });

describe('collector form', () => {
  it('sends no collector for the default and the numbers it was given', () => {
    expect(buildStartVariables('IPFIX', form({ sampling: '400', activeTimeoutSeconds: ' 60 ' }), messages)).toEqual({
      variables: { type: 'IPFIX', collector: null, sampling: 400, activeTimeoutSeconds: 60, cacheMaxFlows: null },
    });
  });

  it('leaves sampling out for NetFlow', () => {
    expect(buildStartVariables('NETFLOW', form({ sampling: '400' }), messages).variables?.sampling).toBeNull();
  });

  it('sends exactly one collector field', () => {
    expect(buildStartVariables('NETFLOW', form({ mode: 'nodePort', nodePort: '30001' }), messages).variables?.collector).toEqual(
      { nodePort: 30001 },
    );
    expect(
      buildStartVariables('SFLOW', form({ mode: 'selector', selector: 'app=collector, tier = edge' }), messages).variables
        ?.collector,
    ).toEqual({
      selector: [
        { key: 'app', value: 'collector' },
        { key: 'tier', value: 'edge' },
      ],
    });
    expect(
      buildStartVariables('NETFLOW', form({ mode: 'targets', targets: ['10.0.0.5:2055', ' ', '10.0.0.6:2055'] }), messages)
        .variables?.collector,
    ).toEqual({ targets: ['10.0.0.5:2055', '10.0.0.6:2055'] });
  });

  it('names the fields it can already tell are wrong', () => {
    expect(
      buildStartVariables(
        'IPFIX',
        form({ mode: 'nodePort', nodePort: 'x', sampling: '1.5', cacheMaxFlows: 'many' }),
        messages,
      ).errors,
    ).toEqual({ 'collector.nodePort': 'number', sampling: 'number', cacheMaxFlows: 'number' });
    expect(buildStartVariables('NETFLOW', form({ mode: 'selector', selector: '=x' }), messages).errors).toEqual({
      'collector.selector': 'selector',
    });
    expect(buildStartVariables('NETFLOW', form({ mode: 'targets', targets: [''] }), messages).errors).toEqual({
      'collector.targets': 'no targets',
    });
    expect(
      buildStartVariables('NETFLOW', form({ mode: 'targets', targets: Array.from({ length: 11 }, () => '1.2.3.4:5') }), messages)
        .errors,
    ).toEqual({ 'collector.targets': 'too many' });
  });

  it('parses selectors', () => {
    expect(parseSelector('a=b')).toEqual([{ key: 'a', value: 'b' }]);
    expect(parseSelector('a=')).toEqual([{ key: 'a', value: '' }]);
    expect(parseSelector('a')).toBeUndefined();
    expect(parseSelector(' , ')).toBeUndefined();
  });

  it('fills the collector fields from the running export', () => {
    const current = form({ sampling: '400' });
    expect(formFromCollector(null, current)).toEqual({ ...current, mode: 'default' });
    expect(
      formFromCollector({ mode: 'selector', selector: [{ key: 'role', value: 'flows-collector' }], description: '' }, current)
        .mode,
    ).toBe('default');
    expect(
      formFromCollector({ mode: 'selector', selector: [{ key: 'app', value: 'c' }], description: '' }, current),
    ).toEqual({ ...current, mode: 'selector', selector: 'app=c' });
    expect(formFromCollector({ mode: 'nodePort', nodePort: 30002, description: '' }, current)).toEqual({
      ...current,
      mode: 'nodePort',
      nodePort: '30002',
    });
    expect(formFromCollector({ mode: 'targets', targets: ['1.2.3.4:5'], description: '' }, current)).toEqual({
      ...current,
      mode: 'targets',
      targets: ['1.2.3.4:5'],
    });
  });
});
