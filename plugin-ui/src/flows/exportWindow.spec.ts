import {
  durationSeconds,
  formatCountdown,
  formatDuration,
  INITIAL_NODE_CHOICE,
  MAX_DURATION_SECONDS,
  nodeChoiceFromState,
  nodeChoiceVariables,
  parseDuration,
  runningDeadline,
} from './exportWindow';
import { state } from '../testing/fakeTransport';

const messages = { durationSyntax: 'syntax', durationBounds: 'bounds', noNames: 'names', selectorSyntax: 'selector' };

describe('export window', () => {
  it('reads durations as kubectl flows start --for does, units required', () => {
    expect(parseDuration('90s')).toBe(90);
    expect(parseDuration('15m')).toBe(900);
    expect(parseDuration(' 1h30m ')).toBe(5400);
    expect(parseDuration('2H')).toBe(7200);
    expect(parseDuration('1.5h')).toBe(5400);
    expect(parseDuration('30')).toBeNull(); // seconds or minutes? Said with a unit.
    expect(parseDuration('')).toBeNull();
    expect(parseDuration('1d')).toBeNull();
    expect(parseDuration('h')).toBeNull();
    expect(parseDuration('-5m')).toBeNull();
    expect(formatDuration(5400)).toBe('1h30m');
    expect(formatDuration(45)).toBe('45s');
    expect(formatDuration(0)).toBe('0s');
  });

  it('turns the choice into durationSeconds, refusing what the gateway would', () => {
    const now = Date.parse('2026-12-07T10:00:00Z');
    expect(durationSeconds('15m', '', null, now, messages)).toEqual({ seconds: 900 });
    expect(durationSeconds('4h', '', null, now, messages)).toEqual({ seconds: 14400 });
    expect(durationSeconds('untilStopped', '', null, now, messages)).toEqual({ seconds: null });
    expect(durationSeconds('custom', '2h30m', null, now, messages)).toEqual({ seconds: 9000 });
    expect(durationSeconds('custom', '168h', null, now, messages)).toEqual({ seconds: MAX_DURATION_SECONDS });
    expect(durationSeconds('custom', '169h', null, now, messages)).toEqual({ error: 'bounds' });
    expect(durationSeconds('custom', '0s', null, now, messages)).toEqual({ error: 'bounds' });
    expect(durationSeconds('custom', '1.5s', null, now, messages)).toEqual({ error: 'bounds' });
    expect(durationSeconds('custom', 'soon', null, now, messages)).toEqual({ error: 'syntax' });
    // Keeping a running deadline: what is left of it, rounded up.
    expect(durationSeconds('keep', '', now + 90_500, now, messages)).toEqual({ seconds: 91 });
    expect(durationSeconds('keep', '', now + 500, now, messages)).toEqual({ error: 'bounds' });
  });

  it('counts down and knows which deadline runs', () => {
    expect(formatCountdown(872_000)).toBe('14:32');
    expect(formatCountdown(3_723_000)).toBe('1:02:03');
    expect(formatCountdown(-5)).toBe('00:00');
    expect(formatCountdown(400)).toBe('00:01');
    const deadline = '2026-12-07T10:30:00Z';
    expect(runningDeadline(state({ deadline }))).toBe(Date.parse(deadline));
    expect(runningDeadline(state({ deadline, ended: true, enabled: false }))).toBeNull();
    expect(runningDeadline(state({ deadline: null }))).toBeNull();
    expect(runningDeadline(null)).toBeNull();
  });

  it('turns the node choice into startFlows arguments and back', () => {
    expect(nodeChoiceVariables(INITIAL_NODE_CHOICE, messages)).toEqual({
      variables: { nodes: null, nodeSelector: null, ignoreUnknownNodes: false },
    });
    const named = { ...INITIAL_NODE_CHOICE, mode: 'names' as const, names: ' node-1, node-2 node-3,', ignoreUnknown: true };
    expect(nodeChoiceVariables(named, messages)).toEqual({
      variables: { nodes: ['node-1', 'node-2', 'node-3'], nodeSelector: null, ignoreUnknownNodes: true },
    });
    expect(nodeChoiceVariables({ ...named, names: ' , ' }, messages)).toEqual({ errors: { nodes: 'names' } });
    const labelled = { ...INITIAL_NODE_CHOICE, mode: 'labels' as const, labels: 'zone=a, flows=on' };
    expect(nodeChoiceVariables(labelled, messages)).toEqual({
      variables: {
        nodes: null,
        nodeSelector: [
          { key: 'zone', value: 'a' },
          { key: 'flows', value: 'on' },
        ],
        ignoreUnknownNodes: false,
      },
    });
    expect(nodeChoiceVariables({ ...labelled, labels: 'zone' }, messages)).toEqual({
      errors: { nodeSelector: 'selector' },
    });
    expect(
      nodeChoiceFromState({ mode: 'names', names: ['a', 'b'], description: 'nodes a, b' }, INITIAL_NODE_CHOICE),
    ).toEqual({ ...INITIAL_NODE_CHOICE, mode: 'names', names: 'a, b' });
    expect(
      nodeChoiceFromState(
        { mode: 'selector', selector: [{ key: 'zone', value: 'a' }], description: 'nodes labelled zone=a' },
        INITIAL_NODE_CHOICE,
      ),
    ).toEqual({ ...INITIAL_NODE_CHOICE, mode: 'labels', labels: 'zone=a' });
    expect(nodeChoiceFromState(null, labelled)).toEqual({ ...labelled, mode: 'all' });
  });
});
