import { consoleFetchJSON } from '@openshift-console/dynamic-plugin-sdk';
import { CONSOLE_GATEWAY_PATH, createConsoleConnection } from './NetworkFlowsPage';

const post = consoleFetchJSON.post as jest.Mock;

describe('console connection', () => {
  beforeEach(() => {
    post.mockReset();
  });

  it('goes through the console proxy for the plugin', () => {
    const connection = createConsoleConnection();
    expect(CONSOLE_GATEWAY_PATH).toBe('/api/proxy/plugin/flowgate/gateway/graphql');
    expect(connection.httpUrl).toBe(CONSOLE_GATEWAY_PATH);
    // jsdom serves the page from http://localhost/.
    expect(connection.wsUrl).toBe('ws://localhost/api/proxy/plugin/flowgate/gateway/graphql');
    // The proxy adds the user's token; the socket sends none of its own.
    expect(connection.connectionParams()).toBeUndefined();
  });

  it('posts queries and mutations with consoleFetchJSON', async () => {
    post.mockResolvedValue({ data: { viewer: { user: 'kube:admin', canSwitch: true, reason: null } } });
    const request = { query: 'query Viewer { viewer { user } }', operationName: 'Viewer' };
    await expect(createConsoleConnection().fetch(request)).resolves.toEqual({
      data: { viewer: { user: 'kube:admin', canSwitch: true, reason: null } },
    });
    expect(post).toHaveBeenCalledWith(CONSOLE_GATEWAY_PATH, request);
  });

  it('takes GraphQL errors from a non-2xx answer as the answer', async () => {
    const errors = [{ message: 'No bearer token was sent.', extensions: { code: 'UNAUTHENTICATED' } }];
    post.mockRejectedValue(Object.assign(new Error('Unauthorized'), { json: { data: null, errors } }));
    await expect(createConsoleConnection().fetch({ query: '{ flows { enabled } }' })).resolves.toEqual({
      data: null,
      errors,
    });
  });

  it('passes other failures on', async () => {
    post.mockRejectedValue(new Error('Failed to fetch'));
    await expect(createConsoleConnection().fetch({ query: '{ flows { enabled } }' })).rejects.toThrow('Failed to fetch');
  });
});
