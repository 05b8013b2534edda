"""GraphQL resolvers: a few lines each, from the caller and domain arguments to the service layer
and back to domain results. They know nothing of GraphQL types; gateway/schema/ converts at the
edge."""
