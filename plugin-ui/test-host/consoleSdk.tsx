/**
 * What the console hands plugins as `@openshift-console/dynamic-plugin-sdk` (its lib-core), as far
 * as this plugin uses it, behaving as the console's own: consoleFetch adds the `X-CSRFToken`
 * header from the `csrf-token` cookie to every non-GET request on the console's origin (the
 * console's proxy refuses them without it), sends cookies, and turns a non-2xx answer into an
 * HttpError carrying the parsed JSON body; consoleFetchJSON parses the answer; DocumentTitle sets
 * the tab's title. The npm package only declares these (its code needs the console's internals),
 * so a host has to provide them, as the console does.
 */
import { useEffect, type FC } from 'react';

export class HttpError extends Error {
  constructor(
    message: string,
    public readonly code?: number,
    public readonly response?: Response,
    public readonly json?: unknown,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

export class TimeoutError extends Error {
  constructor(url: string, ms: number) {
    super(`Call to ${url} timed out after ${String(ms)}ms.`);
    this.name = 'TimeoutError';
  }
}

const CSRF_COOKIE = 'csrf-token=';

const csrfToken = (): string | undefined =>
  document.cookie
    .split(';')
    .map((cookie) => cookie.trim())
    .filter((cookie) => cookie.startsWith(CSRF_COOKIE))
    .map((cookie) => cookie.slice(CSRF_COOKIE.length))
    .pop();

const messageOf = (json: unknown, fallback: string): string => {
  if (typeof json === 'object' && json !== null) {
    const { message, error } = json as { message?: unknown; error?: unknown };
    if (typeof message === 'string' && message) {
      return message;
    }
    if (typeof error === 'string' && error) {
      return error;
    }
  }
  return fallback;
};

const validateStatus = async (response: Response): Promise<Response> => {
  if (response.ok || response.status === 304) {
    return response;
  }
  if (!response.headers.get('content-type')?.includes('json')) {
    throw new HttpError(response.statusText, response.status, response);
  }
  const json: unknown = await response.json();
  throw new HttpError(messageOf(json, response.statusText), response.status, response, json);
};

export const consoleFetch = async (url: string, options: RequestInit = {}, timeout = 60_000): Promise<Response> => {
  const headers = new Headers(options.headers);
  const method = (options.method ?? 'GET').toUpperCase();
  const token = csrfToken();
  // The CSRF header goes only with requests that change something, and only to the console.
  if (token && method !== 'GET' && !url.includes('://')) {
    headers.set('X-CSRFToken', token);
  }
  const request = fetch(url, { credentials: 'same-origin', ...options, method, headers }).then(validateStatus);
  if (timeout <= 0) {
    return request;
  }
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      reject(new TimeoutError(url, timeout));
    }, timeout);
  });
  try {
    return await Promise.race([request, timedOut]);
  } finally {
    clearTimeout(timer);
  }
};

const parse = async (response: Response): Promise<unknown> => {
  const text = await response.text();
  const plain = response.headers.get('Content-Type') === 'text/plain';
  if (!text) {
    return plain ? '' : {};
  }
  return plain ? text : (JSON.parse(text) as unknown);
};

const fetchJSON = async (url: string, method = 'GET', options: RequestInit = {}, timeout?: number): Promise<unknown> => {
  const headers = new Headers(options.headers);
  if (!headers.has('Accept')) {
    headers.set('Accept', 'application/json');
  }
  return parse(await consoleFetch(url, { ...options, method, headers }, timeout));
};

const sendJSON =
  (method: string) =>
  (url: string, json: unknown = null, options: RequestInit = {}, timeout?: number): Promise<unknown> => {
    const headers = new Headers(options.headers);
    headers.set('Content-Type', `application/${method === 'PATCH' ? 'json-patch+json' : 'json'};charset=UTF-8`);
    return fetchJSON(url, method, { ...options, headers, body: json ? JSON.stringify(json) : undefined }, timeout);
  };

export const consoleFetchJSON = Object.assign(fetchJSON, {
  post: sendJSON('POST'),
  put: sendJSON('PUT'),
  patch: sendJSON('PATCH'),
  delete: sendJSON('DELETE'),
});

export const consoleFetchText = async (url: string, options: RequestInit = {}, timeout?: number): Promise<unknown> =>
  parse(await consoleFetch(url, options, timeout));

export const DocumentTitle: FC<{ children: string }> = ({ children }) => {
  useEffect(() => {
    document.title = `${children} · Console`;
  }, [children]);
  return null;
};
