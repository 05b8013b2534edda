import { createWsTransport, GOING_AWAY, RECONNECT_SPREAD_MS, reconnectDelayMs, retryDelayMs } from './wsTransport';

/** Just enough of a browser WebSocket for graphql-ws, driven by the test. */
class FakeSocket {
  static readonly CONNECTING = 0;
  static readonly OPEN = 1;
  static readonly CLOSING = 2;
  static readonly CLOSED = 3;
  static instances: FakeSocket[] = [];

  readyState = FakeSocket.CONNECTING;
  readonly sent: { type: string; id?: string; payload?: unknown }[] = [];
  onopen: (() => void) | null = null;
  onclose: ((event: { code: number; reason: string; wasClean: boolean }) => void) | null = null;
  onerror: ((event: unknown) => void) | null = null;
  onmessage: ((event: { data: string }) => void) | null = null;

  constructor(
    readonly url: string,
    readonly protocol: string,
  ) {
    FakeSocket.instances.push(this);
  }

  send(data: string): void {
    this.sent.push(JSON.parse(data));
  }

  close(code = 1000, reason = ''): void {
    if (this.readyState === FakeSocket.CLOSED) return;
    this.readyState = FakeSocket.CLOSED;
    this.onclose?.({ code, reason, wasClean: true });
  }

  // The server's side.
  open(): void {
    this.readyState = FakeSocket.OPEN;
    this.onopen?.();
  }

  receive(message: object): void {
    this.onmessage?.({ data: JSON.stringify(message) });
  }

  drop(): void {
    this.readyState = FakeSocket.CLOSED;
    this.onclose?.({ code: 1006, reason: '', wasClean: false });
  }
}

const TOKEN = { authorization: 'Bearer t0k3n' };
const latest = () => FakeSocket.instances[FakeSocket.instances.length - 1];
const flush = () => jest.advanceTimersByTimeAsync(0);

describe('createWsTransport', () => {
  beforeEach(() => {
    FakeSocket.instances = [];
    jest.useFakeTimers();
  });
  afterEach(() => {
    jest.useRealTimers();
  });

  const open = (params: Record<string, unknown> | undefined) =>
    createWsTransport(
      { wsUrl: 'wss://console.example/api/proxy/plugin/flowgate/gateway/graphql', connectionParams: () => params },
      { webSocketImpl: FakeSocket, keepAliveMs: 10_000, pongTimeoutMs: 5_000 },
    );

  const connect = async (socket: FakeSocket) => {
    socket.open();
    await flush();
    socket.receive({ type: 'connection_ack' });
    await flush();
  };

  it('opens lazily with graphql-transport-ws and sends the connection params in connection_init', async () => {
    const transport = open(TOKEN);
    expect(FakeSocket.instances).toHaveLength(0);
    const next = jest.fn();
    transport.subscribe({ query: 'subscription S { flowsTable { snapshot } }' }, { next, error: jest.fn(), complete: jest.fn() });
    await flush();
    const socket = latest();
    expect(socket.url).toBe('wss://console.example/api/proxy/plugin/flowgate/gateway/graphql');
    expect(socket.protocol).toBe('graphql-transport-ws');
    expect(transport.getStatus()).toBe('connecting');

    await connect(socket);
    expect(socket.sent[0]).toEqual({ type: 'connection_init', payload: { authorization: 'Bearer t0k3n' } });
    expect(transport.getStatus()).toBe('connected');
    const subscribe = socket.sent.find((message) => message.type === 'subscribe');
    expect(subscribe?.payload).toEqual(expect.objectContaining({ query: 'subscription S { flowsTable { snapshot } }' }));

    socket.receive({ id: subscribe?.id, type: 'next', payload: { data: { flowsTable: { snapshot: true } } } });
    expect(next).toHaveBeenCalledWith({ data: { flowsTable: { snapshot: true } } });
    transport.dispose();
  });

  it('reports reconnecting while down, counts the failed attempts, retries past any limit, and subscribes again', async () => {
    const transport = open(TOKEN);
    const statuses: string[] = [];
    transport.onStatus(() => {
      if (statuses[statuses.length - 1] !== transport.getStatus()) {
        statuses.push(transport.getStatus());
      }
    });
    const error = jest.fn();
    transport.subscribe({ query: 'subscription S { flowsTable { snapshot } }' }, { next: jest.fn(), error, complete: jest.fn() });
    await flush();
    await connect(latest());

    latest().drop();
    expect(transport.getStatus()).toBe('reconnecting');
    // A connection that was accepted and then dropped is no refusal.
    expect(transport.getTrouble?.()).toBeNull();
    // The gateway stays away for a while: every attempt fails.
    for (let attempt = 0; attempt < 12; attempt += 1) {
      await jest.advanceTimersByTimeAsync(retryDelayMs(attempt, 30_000, () => 1));
      latest().drop();
    }
    expect(FakeSocket.instances.length).toBeGreaterThanOrEqual(13);
    expect(error).not.toHaveBeenCalled();
    expect(transport.getStatus()).toBe('reconnecting');
    expect(transport.getTrouble?.()).toMatchObject({ refusals: 12, closeCode: 1006 });

    await jest.advanceTimersByTimeAsync(30_000);
    const socket = latest();
    await connect(socket);
    expect(transport.getStatus()).toBe('connected');
    expect(socket.sent.some((message) => message.type === 'subscribe')).toBe(true);
    expect(statuses).toEqual(['connected', 'reconnecting', 'connected']);
    expect(transport.getTrouble?.()).toBeNull();
    transport.dispose();
  });

  it('comes back at once, within the spread, when the gateway goes away (1001), and subscribes again', async () => {
    const transport = open(TOKEN);
    transport.subscribe({ query: 'subscription S { flowsTable { snapshot } }' }, { next: jest.fn(), error: jest.fn(), complete: jest.fn() });
    await flush();
    await connect(latest());
    const before = FakeSocket.instances.length;

    // The page whose random draw is 0 is back at once; the backoff would have waited 500 ms or more.
    const random = jest.spyOn(Math, 'random').mockReturnValue(0);
    latest().close(GOING_AWAY, 'the gateway is shutting down; reconnect');
    expect(transport.getStatus()).toBe('reconnecting');
    await flush();
    random.mockRestore();
    expect(FakeSocket.instances).toHaveLength(before + 1);
    await connect(latest());
    expect(latest().sent.some((message) => message.type === 'subscribe')).toBe(true);
    expect(transport.getStatus()).toBe('connected');
    transport.dispose();
  });

  it('spreads pages told to go away over the window, and backs off as usual otherwise', () => {
    expect(reconnectDelayMs(GOING_AWAY, 5, 30_000, () => 0)).toBe(0);
    expect(reconnectDelayMs(GOING_AWAY, 5, 30_000, () => 0.999)).toBeLessThanOrEqual(RECONNECT_SPREAD_MS);
    expect(reconnectDelayMs(1006, 3, 30_000, () => 1)).toBe(retryDelayMs(3, 30_000, () => 1));
    expect(reconnectDelayMs(undefined, 0, 30_000, () => 1)).toBe(1000);
  });

  it('closes a socket whose pong does not come back, and reconnects', async () => {
    const transport = open(TOKEN);
    transport.subscribe({ query: 'subscription S { flowsTable { snapshot } }' }, { next: jest.fn(), error: jest.fn(), complete: jest.fn() });
    await flush();
    const socket = latest();
    await connect(socket);
    await jest.advanceTimersByTimeAsync(10_000);
    expect(socket.sent.some((message) => message.type === 'ping')).toBe(true);
    await jest.advanceTimersByTimeAsync(5_000);
    expect(socket.readyState).toBe(FakeSocket.CLOSED);
    expect(transport.getStatus()).toBe('reconnecting');
    transport.dispose();
  });

  it('is back to connecting after dispose and opens a new socket on the next subscribe', async () => {
    const transport = open(undefined);
    const unsubscribe = transport.subscribe({ query: 'subscription S { a }' }, { next: jest.fn(), error: jest.fn(), complete: jest.fn() });
    await flush();
    await connect(latest());
    unsubscribe();
    transport.dispose();
    expect(transport.getStatus()).toBe('connecting');
    transport.subscribe({ query: 'subscription S { a }' }, { next: jest.fn(), error: jest.fn(), complete: jest.fn() });
    await flush();
    expect(FakeSocket.instances).toHaveLength(2);
    latest().open();
    await flush();
    expect(latest().sent[0]).toEqual({ type: 'connection_init', payload: {} });
    transport.dispose();
  });

  it('backs off exponentially up to the cap', () => {
    expect(retryDelayMs(0, 30_000, () => 1)).toBe(1000);
    expect(retryDelayMs(3, 30_000, () => 1)).toBe(8000);
    expect(retryDelayMs(10, 30_000, () => 1)).toBe(30_000);
    expect(retryDelayMs(10, 30_000, () => 0)).toBe(15_000);
    expect(retryDelayMs(1000, 30_000, () => 1)).toBe(30_000);
  });
});
