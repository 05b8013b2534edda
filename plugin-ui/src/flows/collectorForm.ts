/** The Collector form's values, how they come from the live state and how they become startFlows arguments. */
import type { InvalidArgumentField } from '../gateway/errors';
import type { CollectorTarget, FlowType, Label, StartFlowsVariables } from '../gateway/types';

export type CollectorMode = 'default' | 'nodePort' | 'selector' | 'targets';

export const MAX_TARGETS = 10;
export const DEFAULT_SELECTOR: Label = { key: 'role', value: 'flows-collector' };

export interface CollectorFormValues {
  mode: CollectorMode;
  nodePort: string;
  /** key=value[,key=value] */
  selector: string;
  /** ip:port, at most MAX_TARGETS */
  targets: string[];
  sampling: string;
  activeTimeoutSeconds: string;
  cacheMaxFlows: string;
}

export type FieldErrors = Partial<Record<InvalidArgumentField, string>>;

export const INITIAL_FORM: CollectorFormValues = {
  mode: 'default',
  nodePort: '',
  selector: '',
  targets: [''],
  sampling: '',
  activeTimeoutSeconds: '',
  cacheMaxFlows: '',
};

/** Types whose sampling rate the gateway takes. */
export const SAMPLED_TYPES: ReadonlySet<FlowType> = new Set<FlowType>(['IPFIX', 'SFLOW']);

export const formatSelector = (labels: readonly Label[]): string =>
  labels.map((label) => `${label.key}=${label.value}`).join(',');

const isDefaultSelector = (labels: readonly Label[] | null | undefined): boolean =>
  labels?.length === 1 && labels[0].key === DEFAULT_SELECTOR.key && labels[0].value === DEFAULT_SELECTOR.value;

/** The form's collector fields as the running export has them; other fields stay as they are. */
export const formFromCollector = (
  collector: CollectorTarget | null | undefined,
  current: CollectorFormValues,
): CollectorFormValues => {
  const base = { ...current, nodePort: '', selector: '', targets: [''] };
  if (!collector) {
    return { ...base, mode: 'default' };
  }
  if (collector.mode === 'nodePort' && collector.nodePort != null) {
    return { ...base, mode: 'nodePort', nodePort: String(collector.nodePort) };
  }
  if (collector.mode === 'selector' && collector.selector) {
    return isDefaultSelector(collector.selector)
      ? { ...base, mode: 'default' }
      : { ...base, mode: 'selector', selector: formatSelector(collector.selector) };
  }
  if (collector.mode === 'targets' && collector.targets?.length) {
    return { ...base, mode: 'targets', targets: collector.targets.slice(0, MAX_TARGETS) };
  }
  return { ...base, mode: 'default' };
};

/** Messages for what the form can tell before asking the gateway; the gateway checks the rest. */
export interface LocalMessages {
  notANumber: string;
  selectorSyntax: string;
  noTargets: string;
  tooManyTargets: string;
}

const parseInteger = (value: string): number | null | undefined => {
  const trimmed = value.trim();
  if (!trimmed) {
    return null;
  }
  return /^-?\d+$/.test(trimmed) ? Number(trimmed) : undefined;
};

export const parseSelector = (value: string): Label[] | undefined => {
  const labels: Label[] = [];
  for (const part of value.split(',')) {
    const item = part.trim();
    if (!item) {
      continue;
    }
    const at = item.indexOf('=');
    const key = at > 0 ? item.slice(0, at).trim() : '';
    if (!key) {
      return undefined;
    }
    labels.push({ key, value: item.slice(at + 1).trim() });
  }
  return labels.length ? labels : undefined;
};

export type BuildResult = { variables: StartFlowsVariables; errors?: undefined } | { variables?: undefined; errors: FieldErrors };

/** startFlows arguments for this type, or the fields the form can already tell are wrong. */
export const buildStartVariables = (type: FlowType, form: CollectorFormValues, messages: LocalMessages): BuildResult => {
  const errors: FieldErrors = {};
  const variables: StartFlowsVariables = { type, collector: null };

  switch (form.mode) {
    case 'default':
      break;
    case 'nodePort': {
      const nodePort = parseInteger(form.nodePort);
      if (nodePort == null) {
        errors['collector.nodePort'] = messages.notANumber;
      } else {
        variables.collector = { nodePort };
      }
      break;
    }
    case 'selector': {
      const selector = parseSelector(form.selector);
      if (!selector) {
        errors['collector.selector'] = messages.selectorSyntax;
      } else {
        variables.collector = { selector };
      }
      break;
    }
    case 'targets': {
      const targets = form.targets.map((target) => target.trim()).filter(Boolean);
      if (!targets.length) {
        errors['collector.targets'] = messages.noTargets;
      } else if (targets.length > MAX_TARGETS) {
        errors['collector.targets'] = messages.tooManyTargets;
      } else {
        variables.collector = { targets };
      }
      break;
    }
  }

  const numbers: ['sampling' | 'activeTimeoutSeconds' | 'cacheMaxFlows', string][] = [
    ['sampling', SAMPLED_TYPES.has(type) ? form.sampling : ''],
    ['activeTimeoutSeconds', form.activeTimeoutSeconds],
    ['cacheMaxFlows', form.cacheMaxFlows],
  ];
  for (const [field, raw] of numbers) {
    const value = parseInteger(raw);
    if (value === undefined) {
      errors[field] = messages.notANumber;
    } else {
      variables[field] = value;
    }
  }

  return Object.keys(errors).length ? { errors } : { variables };
};
