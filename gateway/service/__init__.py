"""The application service every edge shares: the status hub (per-node export state derived
from the watched kinds, fanned out to subscribers) and the switch (start/stop, written to the API
server as the caller). The gateway's resolvers and `kubectl flows` both call these, so a start
or a status read gives the same answer whichever way a user comes."""
