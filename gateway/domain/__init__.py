"""The domain core: desired state, observed state, validation, status derivation and collector
discovery. Pure Python on plain Kubernetes object dicts; imports nothing from GraphQL, HTTP, the
CLI, the UI or a Kubernetes client, so every edge (resolvers, CLI, agent) shares one meaning."""
