/** GraphQL errors as the gateway sends them, and one error type the UI handles. */

export type GatewayErrorCode =
  | 'UNAUTHENTICATED'
  | 'FORBIDDEN'
  | 'UNSUPPORTED_NETWORK'
  | 'INVALID_ARGUMENT'
  | 'CONFLICT'
  | 'UNAVAILABLE'
  | 'NETWORK'
  | (string & {});

/** The fields an INVALID_ARGUMENT error may name in `extensions.field`. */
export type InvalidArgumentField =
  | 'collector'
  | 'collector.nodePort'
  | 'collector.selector'
  | 'collector.targets'
  | 'sampling'
  | 'activeTimeoutSeconds'
  | 'cacheMaxFlows'
  | 'durationSeconds'
  | 'nodes'
  | 'nodeSelector';

export interface GraphQLErrorPayload {
  message: string;
  path?: readonly (string | number)[];
  extensions?: { code?: string; field?: string; [key: string]: unknown };
}

export class GatewayError extends Error {
  readonly code?: GatewayErrorCode;
  readonly field?: string;
  readonly errors: readonly GraphQLErrorPayload[];
  /** The HTTP status of an answer that was not GraphQL (a proxy's 502, say), when there was one. */
  readonly status?: number;

  constructor(
    message: string,
    code?: GatewayErrorCode,
    errors: readonly GraphQLErrorPayload[] = [],
    status?: number,
  ) {
    super(message);
    this.name = 'GatewayError';
    this.code = code;
    this.errors = errors;
    this.status = status;
    this.field = errors.find((e) => typeof e.extensions?.field === 'string')?.extensions?.field;
  }

  static fromGraphQLErrors(errors: readonly GraphQLErrorPayload[]): GatewayError {
    const first = errors[0] as GraphQLErrorPayload | undefined;
    const message = first?.message ?? 'The gateway answered with an error.';
    return new GatewayError(message, first?.extensions?.code, errors);
  }
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null;

export const isGraphQLErrorList = (value: unknown): value is GraphQLErrorPayload[] =>
  Array.isArray(value) &&
  value.length > 0 &&
  value.every((e) => isObject(e) && typeof e.message === 'string');

/** Whatever a request or subscription failed with, as a GatewayError. */
export const toGatewayError = (error: unknown): GatewayError => {
  if (error instanceof GatewayError) {
    return error;
  }
  if (isGraphQLErrorList(error)) {
    return GatewayError.fromGraphQLErrors(error);
  }
  if (isObject(error) && isGraphQLErrorList(error.errors)) {
    return GatewayError.fromGraphQLErrors(error.errors);
  }
  if (isObject(error) && 'code' in error && 'reason' in error) {
    // A WebSocket CloseEvent.
    const reason = typeof error.reason === 'string' && error.reason ? `: ${error.reason}` : '';
    return new GatewayError(`The connection to the gateway closed (${String(error.code)}${reason}).`, 'NETWORK');
  }
  if (error instanceof Error) {
    return new GatewayError(error.message, 'NETWORK');
  }
  return new GatewayError(String(error), 'NETWORK');
};
