"""GraphQL resolvers: a few lines each, from arguments to the application layer and back."""
