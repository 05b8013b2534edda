import { act, screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { StandaloneApp } from './StandaloneApp';
import { createStandaloneConnection } from './standaloneConnection';
import { TOKEN_KEY } from './token';
import type { GatewayConnection } from '../gateway/connection';
import { FakeTransport, gqlError, ManualScheduler, node, snapshot } from '../testing/fakeTransport';
import { renderWithI18n } from '../testing/render';

const REJECTED = 'The token was not accepted by the API server.';

/** A gateway on /graphql: with `auth`, only `Bearer good` gets an answer. */
const gateway = (auth: boolean) =>
  jest.fn((_url: string, init: RequestInit) => {
    const authorization = (init.headers as Record<string, string>).Authorization as string | undefined;
    const body =
      !auth || authorization === 'Bearer good'
        ? { data: { viewer: { user: auth ? 'alice' : null, canSwitch: true, reason: null } } }
        : { data: null, errors: [gqlError(authorization ? REJECTED : 'No bearer token was sent.', 'UNAUTHENTICATED')] };
    return Promise.resolve({ status: 200, statusText: 'OK', text: () => Promise.resolve(JSON.stringify(body)) });
  });

const setup = async (auth: boolean) => {
  const fetchMock = gateway(auth);
  global.fetch = fetchMock as unknown as typeof fetch;
  const transport = new FakeTransport();
  const connections: GatewayConnection[] = [];
  const createConnection = (token: string | null, onUnauthenticated?: () => void) => {
    const connection = { ...createStandaloneConnection(token, onUnauthenticated), createTransport: () => transport };
    connections.push(connection);
    return connection;
  };
  const scheduler = new ManualScheduler();
  await act(async () =>
    renderWithI18n(
      <StandaloneApp createConnection={createConnection} storage={window.sessionStorage} pageProps={{ scheduler }} />,
    ),
  );
  return { fetchMock, transport, connections, scheduler };
};

describe('StandaloneApp', () => {
  beforeEach(() => {
    window.sessionStorage.clear();
  });

  it('goes straight to the page when the gateway needs no token', async () => {
    const { transport, scheduler } = await setup(false);
    expect(await screen.findByRole('heading', { name: 'Network Flows' })).toBeInTheDocument();
    expect(screen.queryByRole('button', { name: 'Log out' })).not.toBeInTheDocument();
    expect(screen.getByRole('link', { name: 'GraphiQL' })).toHaveAttribute('href', '/graphql');
    act(() => {
      transport.emit(snapshot([node('node-1')]));
      scheduler.runFrame();
    });
    expect(screen.getByTestId('row-node-1')).toBeInTheDocument();
  });

  it('asks for a token when the gateway answers UNAUTHENTICATED, and keeps only an accepted one', async () => {
    const user = userEvent.setup();
    const { fetchMock, connections } = await setup(true);
    expect(await screen.findByRole('heading', { name: 'Enter token' })).toBeInTheDocument();
    expect(screen.queryByTestId('token-error')).not.toBeInTheDocument();

    await user.type(screen.getByLabelText(/Token/), 'bad');
    await user.click(screen.getByRole('button', { name: 'Sign in' }));
    expect(await screen.findByTestId('token-error')).toHaveTextContent(REJECTED);
    expect(window.sessionStorage.getItem(TOKEN_KEY)).toBeNull();

    await user.clear(screen.getByLabelText(/Token/));
    await user.type(screen.getByLabelText(/Token/), 'good');
    await user.click(screen.getByRole('button', { name: 'Sign in' }));
    expect(await screen.findByRole('heading', { name: 'Network Flows' })).toBeInTheDocument();
    expect(window.sessionStorage.getItem(TOKEN_KEY)).toBe('good');
    expect(window.localStorage.length).toBe(0);
    expect(screen.getByTestId('viewer-user')).toHaveTextContent('alice');

    // The page's own requests carry the token, over HTTP and in connection_init.
    await waitFor(() => {
      expect(fetchMock.mock.calls.filter(([, init]) => (init.headers as Record<string, string>).Authorization === 'Bearer good').length).toBeGreaterThanOrEqual(2);
    });
    const pageConnection = connections[connections.length - 1];
    expect(pageConnection.connectionParams()).toEqual({ authorization: 'Bearer good' });

    await user.click(screen.getByRole('button', { name: 'Log out' }));
    expect(await screen.findByRole('heading', { name: 'Enter token' })).toBeInTheDocument();
    expect(window.sessionStorage.getItem(TOKEN_KEY)).toBeNull();
  });

  it('uses the token this tab already has', async () => {
    window.sessionStorage.setItem(TOKEN_KEY, 'good');
    await setup(true);
    expect(await screen.findByRole('heading', { name: 'Network Flows' })).toBeInTheDocument();
    expect(screen.getByRole('button', { name: 'Log out' })).toBeInTheDocument();
  });

  it('asks again when the gateway stops accepting the token', async () => {
    window.sessionStorage.setItem(TOKEN_KEY, 'good');
    const { transport } = await setup(true);
    await screen.findByRole('heading', { name: 'Network Flows' });
    act(() => {
      transport.fail([gqlError('The token has expired.', 'UNAUTHENTICATED')]);
    });
    expect(await screen.findByRole('heading', { name: 'Enter token' })).toBeInTheDocument();
    expect(screen.getByTestId('token-error')).toHaveTextContent('Enter a token again.');
    expect(window.sessionStorage.getItem(TOKEN_KEY)).toBeNull();
  });

  it('says so when the gateway cannot be reached, and retries', async () => {
    const user = userEvent.setup();
    global.fetch = jest.fn(() => Promise.reject(new TypeError('Failed to fetch')));
    const transport = new FakeTransport();
    await act(async () =>
      renderWithI18n(
        <StandaloneApp
          createConnection={(token) => ({ ...createStandaloneConnection(token), createTransport: () => transport })}
        />,
      ),
    );
    expect(await screen.findByText('Cannot reach the gateway')).toBeInTheDocument();
    expect(screen.getByText('Failed to fetch')).toBeInTheDocument();
    global.fetch = gateway(false) as unknown as typeof fetch;
    await user.click(screen.getByRole('button', { name: 'Retry' }));
    expect(await screen.findByRole('heading', { name: 'Network Flows' })).toBeInTheDocument();
  });
});

describe('createStandaloneConnection', () => {
  it('sends no credentials without a token', () => {
    const connection = createStandaloneConnection(null);
    expect(connection.httpUrl).toBe('/graphql');
    expect(connection.wsUrl).toBe('ws://localhost/graphql');
    expect(connection.connectionParams()).toBeUndefined();
  });

  it('accepts a pasted token with its Bearer prefix', () => {
    expect(createStandaloneConnection('bearer abc').connectionParams()).toEqual({ authorization: 'Bearer abc' });
  });
});
