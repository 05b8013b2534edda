"""`kubectl flows` / `oc flows`: the command-line client of the flowgate gateway.

endpoint.py finds the gateway and the caller's credentials, client.py speaks GraphQL to it,
output.py prints what it says, main.py is the command line."""
