import { sameOriginWebSocketUrl } from './connection';
import { createHttpFetch, requestData } from './request';
import { GatewayError, toGatewayError } from './errors';

describe('sameOriginWebSocketUrl', () => {
  it('uses wss under https and ws under http', () => {
    expect(sameOriginWebSocketUrl('/graphql', { protocol: 'https:', host: 'flows.example:8443' })).toBe(
      'wss://flows.example:8443/graphql',
    );
    expect(sameOriginWebSocketUrl('/graphql', { protocol: 'http:', host: '127.0.0.1:8080' })).toBe(
      'ws://127.0.0.1:8080/graphql',
    );
  });
});

describe('requestData', () => {
  const connection = (answer: unknown, onUnauthenticated = jest.fn()) => ({
    httpUrl: '/graphql',
    wsUrl: 'ws://localhost/graphql',
    connectionParams: () => undefined,
    fetch: jest.fn(() => Promise.resolve(answer)) as never,
    onUnauthenticated,
  });

  it('returns the data', async () => {
    await expect(requestData(connection({ data: { a: 1 } }), { query: '{ a }' })).resolves.toEqual({ a: 1 });
  });

  it('throws the first error with its code and field', async () => {
    const error = await requestData(
      connection({
        data: null,
        errors: [{ message: 'sampling must be positive.', extensions: { code: 'INVALID_ARGUMENT', field: 'sampling' } }],
      }),
      { query: '{ a }' },
    ).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(GatewayError);
    expect(error).toMatchObject({ message: 'sampling must be positive.', code: 'INVALID_ARGUMENT', field: 'sampling' });
  });

  it('tells the connection about UNAUTHENTICATED', async () => {
    const onUnauthenticated = jest.fn();
    await expect(
      requestData(
        connection({ errors: [{ message: 'The token was rejected.', extensions: { code: 'UNAUTHENTICATED' } }] }, onUnauthenticated),
        { query: '{ a }' },
      ),
    ).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
    expect(onUnauthenticated).toHaveBeenCalledTimes(1);
  });
});

describe('createHttpFetch', () => {
  const fetchMock = jest.fn();
  beforeEach(() => {
    fetchMock.mockReset();
    global.fetch = fetchMock;
  });

  it('posts JSON with the extra headers', async () => {
    fetchMock.mockResolvedValue({ status: 200, statusText: 'OK', text: () => Promise.resolve(JSON.stringify({ data: { a: 1 } })) });
    const request = { query: '{ a }' };
    await expect(createHttpFetch('/graphql', () => ({ Authorization: 'Bearer x' }))(request)).resolves.toEqual({
      data: { a: 1 },
    });
    expect(fetchMock).toHaveBeenCalledWith('/graphql', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json', Authorization: 'Bearer x' },
      body: JSON.stringify(request),
      credentials: 'same-origin',
    });
  });

  it('resolves with GraphQL errors carried by a non-2xx answer, and throws on anything else', async () => {
    fetchMock.mockResolvedValue({
      status: 401,
      statusText: 'Unauthorized',
      text: () => Promise.resolve(JSON.stringify({ errors: [{ message: 'No token.' }] })),
    });
    await expect(createHttpFetch('/graphql')({ query: '{ a }' })).resolves.toEqual({ errors: [{ message: 'No token.' }] });
    fetchMock.mockResolvedValue({
      status: 502,
      statusText: 'Bad Gateway',
      text: () => Promise.resolve("Failed to dial backend: 'dial tcp 10.0.0.9:8443: connect: connection refused'\n"),
    });
    await expect(createHttpFetch('/graphql')({ query: '{ a }' })).rejects.toMatchObject({
      status: 502,
      message:
        "The request to the gateway was answered HTTP 502 Bad Gateway: Failed to dial backend: 'dial tcp 10.0.0.9:8443: connect: connection refused'",
    });
    fetchMock.mockResolvedValue({ status: 503, statusText: 'Service Unavailable', text: () => Promise.resolve('') });
    await expect(createHttpFetch('/graphql')({ query: '{ a }' })).rejects.toThrow(
      'The request to the gateway was answered HTTP 503 Service Unavailable.',
    );
  });
});

describe('toGatewayError', () => {
  it('reads close events and plain errors', () => {
    expect(toGatewayError({ code: 4403, reason: 'Forbidden' })).toMatchObject({
      code: 'NETWORK',
      message: 'The connection to the gateway closed (4403: Forbidden).',
    });
    expect(toGatewayError(new TypeError('Failed to fetch'))).toMatchObject({ code: 'NETWORK', message: 'Failed to fetch' });
    expect(toGatewayError([{ message: 'nope', extensions: { code: 'FORBIDDEN' } }])).toMatchObject({ code: 'FORBIDDEN' });
  });
});
