// The console page's own WebSocket transport (plugin-ui/src/gateway/wsTransport.ts, compiled by
// the benchmark) run many times over in Node, each instance a subscriber as one console tab is:
//
//   node --experimental-websocket bench/console_subscribers.mjs TRANSPORT.js URL CLIENTS RATE QUERY FIELD
//
// Every client subscribes with QUERY and keeps the value of FIELD in each message (the row's
// endpoint, say) with the time it was first shown. Commands on stdin, one JSON answer a line:
//   when VALUE         the Unix time each client first showed VALUE (null: not yet)
//   reconnected SINCE  for each client that lost its connection after SINCE, the Unix time it was
//                      connected again (null: not yet); clients that kept theirs are left out
//   latest             how many clients show each value now
//   quit
import { createRequire } from 'node:module';
import { createInterface } from 'node:readline';

const [transportPath, url, clients, rate, query, field] = process.argv.slice(2);
const { createWsTransport } = createRequire(import.meta.url)(transportPath);

const shown = []; // per client: Map value -> first time shown
const latest = [];
const connected = []; // per client: the times its socket was (again) connected
const lost = []; // per client: the times it lost a connection it had
const find = (value, key) => {
  if (value === null || typeof value !== 'object') return undefined;
  if (key in value) return value[key];
  for (const inner of Object.values(value)) {
    const found = find(inner, key);
    if (found !== undefined) return found;
  }
  return undefined;
};

const started = Date.now();
let opened = 0;
const openNext = () => {
  const due = started + (opened * 1000) / Number(rate);
  while (opened < Number(clients) && Date.now() >= due) {
    const index = opened++;
    shown.push(new Map());
    latest.push(null);
    connected.push([]);
    lost.push([]);
    const transport = createWsTransport({ wsUrl: url, connectionParams: () => ({}) }, { webSocketImpl: WebSocket });
    let was = null;
    transport.onStatus(() => {
      const status = transport.getStatus();
      if (status === 'connected' && was !== 'connected') connected[index].push(Date.now() / 1000);
      if (status !== 'connected' && was === 'connected') lost[index].push(Date.now() / 1000);
      was = status;
    });
    transport.subscribe(
      { query },
      {
        next: (result) => {
          const value = find(result.data, field) ?? null;
          latest[index] = value;
          if (!shown[index].has(value)) shown[index].set(value, Date.now() / 1000);
        },
        error: (error) => {
          latest[index] = `error: ${JSON.stringify(error).slice(0, 200)}`;
        },
        complete: () => {},
      },
    );
  }
  if (opened < Number(clients)) setTimeout(openNext, 5);
};
openNext();

createInterface({ input: process.stdin }).on('line', (line) => {
  const [command, ...rest] = line.trim().split(' ');
  if (command === 'when') {
    const value = rest.join(' ');
    console.log(JSON.stringify(shown.map((times) => times.get(value) ?? null)));
  } else if (command === 'reconnected') {
    const since = Number(rest[0]);
    const answer = [];
    lost.forEach((times, index) => {
      const left = times.find((t) => t > since);
      if (left !== undefined) answer.push(connected[index].find((t) => t >= left) ?? null);
    });
    console.log(JSON.stringify(answer));
  } else if (command === 'latest') {
    const counts = {};
    for (const value of latest) counts[value] = (counts[value] ?? 0) + 1;
    console.log(JSON.stringify(counts));
  } else if (command === 'quit') {
    process.exit(0);
  }
});
