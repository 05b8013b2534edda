// The benchmark's subscribers: thousands of graphql-transport-ws clients in one light process,
// so that the gateway, not the client, is what the benchmark measures.
module flowgate.dev/hack/subscribers

go 1.26.0

require github.com/gorilla/websocket v1.5.3
