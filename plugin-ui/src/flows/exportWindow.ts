/**
 * For how long and from which nodes export runs: the duration choice next to "Flows emission",
 * the node choice, how both become startFlows arguments, and the countdown's text.
 */
import type { FlowsState, Label, NodeChoice, StartFlowsVariables } from '../gateway/types';
import { formatSelector, parseSelector, type FieldErrors } from './collectorForm';

/** The longest a start may run for (the gateway's maximum: 168h, one week). */
export const MAX_DURATION_SECONDS = 7 * 24 * 3600;

/** The duration choices: presets, until stopped, a typed duration, or keeping a running deadline. */
export type DurationChoice = '15m' | '1h' | '4h' | 'untilStopped' | 'custom' | 'keep';

export const PRESET_SECONDS: Readonly<Record<'15m' | '1h' | '4h', number>> = { '15m': 900, '1h': 3600, '4h': 14400 };

const UNITS: Readonly<Record<string, number>> = { s: 1, m: 60, h: 3600 };

/**
 * Seconds in a typed duration (`90s`, `15m`, `1h30m`, `2h`), as `kubectl flows start --for` reads
 * them; null when it is not one. Bounds are checked by the caller.
 */
export const parseDuration = (text: string): number | null => {
  const cleaned = text.trim().toLowerCase().replace(/\s+/g, '');
  if (!/^(\d+(\.\d+)?[hms])+$/.test(cleaned)) {
    return null;
  }
  let seconds = 0;
  for (const [, number, unit] of cleaned.matchAll(/(\d+(?:\.\d+)?)([hms])/g)) {
    seconds += Number(number) * UNITS[unit];
  }
  return seconds;
};

/** A duration as the shortest text parseDuration reads back: `1h30m`, `45s`. */
export const formatDuration = (seconds: number): string => {
  const whole = Math.max(0, Math.round(seconds));
  const hours = Math.floor(whole / 3600);
  const minutes = Math.floor((whole % 3600) / 60);
  const rest = whole % 60;
  const parts = [hours ? `${String(hours)}h` : '', minutes ? `${String(minutes)}m` : '', rest ? `${String(rest)}s` : ''];
  return parts.join('') || '0s';
};

/** Milliseconds since the epoch of an RFC 3339 time, or null. */
export const timeOf = (value: string | null | undefined): number | null => {
  const parsed = value ? Date.parse(value) : NaN;
  return Number.isNaN(parsed) ? null : parsed;
};

/** The deadline of an export that runs now, or null (until stopped, ended, or stopped). */
export const runningDeadline = (state: FlowsState | null): number | null =>
  state?.enabled && !state.ended ? timeOf(state.deadline) : null;

/** `14:32` under an hour, `1:02:03` from an hour on. */
export const formatCountdown = (milliseconds: number): string => {
  const total = Math.max(0, Math.ceil(milliseconds / 1000));
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const seconds = total % 60;
  const two = (n: number) => String(n).padStart(2, '0');
  return hours ? `${String(hours)}:${two(minutes)}:${two(seconds)}` : `${two(minutes)}:${two(seconds)}`;
};

export interface DurationMessages {
  durationSyntax: string;
  durationBounds: string;
}

/**
 * durationSeconds for a start made now, or the error to show beside the duration choice. `keep`
 * carries a running deadline over (whole seconds, rounded up); nothing left to keep means until
 * stopped is not assumed: the choice must be made again.
 */
export const durationSeconds = (
  choice: DurationChoice,
  custom: string,
  deadline: number | null,
  now: number,
  messages: DurationMessages,
): { seconds: number | null; error?: undefined } | { seconds?: undefined; error: string } => {
  switch (choice) {
    case 'untilStopped':
      return { seconds: null };
    case 'keep':
      if (deadline === null || deadline - now < 1000) {
        return { error: messages.durationBounds };
      }
      return { seconds: Math.ceil((deadline - now) / 1000) };
    case 'custom': {
      const seconds = parseDuration(custom);
      if (seconds === null) {
        return { error: messages.durationSyntax };
      }
      if (seconds !== Math.floor(seconds) || seconds < 1 || seconds > MAX_DURATION_SECONDS) {
        return { error: messages.durationBounds };
      }
      return { seconds };
    }
    default:
      return { seconds: PRESET_SECONDS[choice] };
  }
};

/** The node choice's form: every node, the names typed, or the labels typed. */
export type NodeChoiceMode = 'all' | 'names' | 'labels';

export interface NodeChoiceValues {
  mode: NodeChoiceMode;
  /** name[,name] */
  names: string;
  /** key=value[,key=value] */
  labels: string;
  /** Start on the names that are nodes, leaving out the others (ignoreUnknownNodes). */
  ignoreUnknown: boolean;
}

export const INITIAL_NODE_CHOICE: NodeChoiceValues = { mode: 'all', names: '', labels: '', ignoreUnknown: false };

/** The form as the running export chose its nodes (the typed text of the other mode kept). */
export const nodeChoiceFromState = (choice: NodeChoice | null | undefined, current: NodeChoiceValues): NodeChoiceValues => {
  if (choice?.mode === 'names' && choice.names?.length) {
    return { ...current, mode: 'names', names: choice.names.join(', ') };
  }
  if (choice?.mode === 'selector' && choice.selector?.length) {
    return { ...current, mode: 'labels', labels: formatSelector(choice.selector) };
  }
  return { ...current, mode: 'all' };
};

export interface NodeChoiceMessages {
  noNames: string;
  selectorSyntax: string;
}

export const parseNames = (text: string): string[] =>
  text
    .split(/[\s,]+/)
    .map((name) => name.trim())
    .filter(Boolean);

/** The startFlows arguments of the node choice, or the field the form can already tell is wrong. */
export const nodeChoiceVariables = (
  values: NodeChoiceValues,
  messages: NodeChoiceMessages,
): { variables: Pick<StartFlowsVariables, 'nodes' | 'nodeSelector' | 'ignoreUnknownNodes'>; errors?: undefined } | {
  variables?: undefined;
  errors: FieldErrors;
} => {
  switch (values.mode) {
    case 'all':
      return { variables: { nodes: null, nodeSelector: null, ignoreUnknownNodes: false } };
    case 'names': {
      const names = parseNames(values.names);
      return names.length
        ? { variables: { nodes: names, nodeSelector: null, ignoreUnknownNodes: values.ignoreUnknown } }
        : { errors: { nodes: messages.noNames } };
    }
    case 'labels': {
      const selector: Label[] | undefined = parseSelector(values.labels);
      return selector
        ? { variables: { nodes: null, nodeSelector: selector, ignoreUnknownNodes: false } }
        : { errors: { nodeSelector: messages.selectorSyntax } };
    }
  }
};
