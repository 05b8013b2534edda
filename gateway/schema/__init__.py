"""The GraphQL edge: object types (types.py) converted from the domain at the boundary, and the
root types and schema (root.py, `gateway.schema.root:schema`) whose fields call the resolvers.
`schema.graphql` at the repository root is the exported SDL, kept equal by a test."""
