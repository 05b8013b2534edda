import { parse } from 'graphql';
import type { Client } from 'graphql-ws';
import { authorizationOf, createFlowgateFetcher, isSubscription } from './fetcher';

const SUBSCRIPTION = 'subscription Table { flowsTable { snapshot } }';

/** A graphql-ws client that answers every subscription with one result, as a server would: later. */
const fakeClient = () => {
  const client = {
    subscribe: jest.fn((_payload: unknown, sink: { next: (value: unknown) => void; complete: () => void }) => {
      setTimeout(() => {
        sink.next({ data: { flowsTable: { snapshot: true } } });
        sink.complete();
      }, 0);
      return () => undefined;
    }),
    dispose: jest.fn(),
  };
  return client as unknown as Client & { subscribe: jest.Mock; dispose: jest.Mock };
};

const collect = async (result: unknown): Promise<unknown[]> => {
  const values: unknown[] = [];
  for await (const value of result as AsyncIterable<unknown>) {
    values.push(value);
  }
  return values;
};

describe('GraphiQL fetcher', () => {
  beforeEach(() => {
    // jsdom has no fetch; browsers do.
    window.fetch = jest.fn();
  });

  it('knows a subscription by the operation that runs', () => {
    const document = parse(`query Flows { flows { enabled } } ${SUBSCRIPTION}`);
    expect(isSubscription(document, 'Table')).toBe(true);
    expect(isSubscription(document, 'Flows')).toBe(false);
    expect(isSubscription(document, undefined)).toBe(false);
    expect(isSubscription(parse(SUBSCRIPTION), undefined)).toBe(true);
    expect(isSubscription(undefined, 'Table')).toBe(false);
  });

  it('finds the Authorization header whatever its case', () => {
    expect(authorizationOf({ authorization: 'Bearer a' })).toBe('Bearer a');
    expect(authorizationOf({ AUTHORIZATION: ' Bearer b ' })).toBe('Bearer b');
    expect(authorizationOf({ 'X-Other': 'x' })).toBeUndefined();
    expect(authorizationOf(undefined)).toBeUndefined();
  });

  it('puts the header editor Authorization in connection_init, one socket per value', async () => {
    const clients: { params: Record<string, unknown>; client: ReturnType<typeof fakeClient> }[] = [];
    const fetcher = createFlowgateFetcher({
      url: '/graphql',
      subscriptionUrl: 'wss://flows.example/graphql',
      createWsClient: (params) => {
        const client = fakeClient();
        clients.push({ params, client });
        return client;
      },
    });
    const run = (headers: Record<string, unknown>) =>
      fetcher(
        { query: SUBSCRIPTION, operationName: 'Table' },
        { documentAST: parse(SUBSCRIPTION), headers },
      );

    await expect(collect(await run({ Authorization: 'Bearer one' }))).resolves.toEqual([
      { data: { flowsTable: { snapshot: true } } },
    ]);
    await collect(await run({ authorization: 'Bearer one' }));
    expect(clients).toHaveLength(1);
    expect(clients[0].params).toEqual({ authorization: 'Bearer one' });
    expect(clients[0].client.subscribe).toHaveBeenCalledTimes(2);

    await collect(await run({ Authorization: 'Bearer two' }));
    expect(clients).toHaveLength(2);
    expect(clients[1].params).toEqual({ authorization: 'Bearer two' });
    expect(clients[0].client.dispose).toHaveBeenCalled();

    await collect(await run({}));
    expect(clients[2].params).toEqual({});
  });

  it('goes by the text it sends, not a documentAST left from before the last edit', async () => {
    const client = fakeClient();
    const fetchMock = jest.fn();
    window.fetch = fetchMock;
    const fetcher = createFlowgateFetcher({
      url: '/graphql',
      subscriptionUrl: 'ws://localhost/graphql',
      createWsClient: () => client,
    });
    const stale = parse('{ flows { enabled } }');
    const subscription = 'subscription { nodeFlowStatus { node state } }';
    await collect(await fetcher({ query: subscription }, { documentAST: stale, headers: {} }));
    expect(client.subscribe).toHaveBeenCalledWith(expect.objectContaining({ query: subscription }), expect.anything());
    expect(fetchMock).not.toHaveBeenCalled();
  });

  it('sends queries over HTTP with the editor headers', async () => {
    const fetchMock = jest.fn(() =>
      Promise.resolve({
        headers: new Headers({ 'content-type': 'application/json' }),
        json: () => Promise.resolve({ data: { flows: { enabled: true } } }),
      }),
    );
    window.fetch = fetchMock as unknown as typeof fetch;
    const fetcher = createFlowgateFetcher({ url: '/graphql', subscriptionUrl: 'ws://localhost/graphql' });
    const query = 'query Flows { flows { enabled } }';
    const result = await fetcher(
      { query, operationName: 'Flows' },
      { documentAST: parse(query), headers: { Authorization: 'Bearer one' } },
    );
    const values = Symbol.asyncIterator in (result as object) ? await collect(result) : [result];
    expect(values).toEqual([{ data: { flows: { enabled: true } } }]);
    expect(fetchMock).toHaveBeenCalledWith(
      '/graphql',
      expect.objectContaining({ method: 'POST', headers: expect.objectContaining({ Authorization: 'Bearer one' }) }),
    );
  });
});
