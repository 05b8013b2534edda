import * as fs from 'fs';
import * as path from 'path';
import {
  buildSchema,
  extendSchema,
  Kind,
  parse,
  validate,
  visit,
  type GraphQLObjectType,
  type GraphQLSchema,
} from 'graphql';
import { OPERATIONS } from './operations';

/*
 * The documents the UI sends, validated against the gateway's schema.graphql. Fields the UI needs
 * that the schema file does not declare yet are added from this extension, which states exactly
 * what the UI expects of the gateway; once schema.graphql has them, it alone is used.
 */
const UI_EXPECTS = {
  'FlowsState.unsupportedReason': 'extend type FlowsState { unsupportedReason: String }',
  'Query.viewer': `
    type Viewer { user: String canSwitch: Boolean! reason: String }
    extend type Query { viewer: Viewer! }`,
  'Subscription.flowsTable': `
    type FlowsTableUpdate { snapshot: Boolean! state: FlowsState! changed: [NodeFlowStatus!]! removed: [String!]! }
    extend type Subscription { flowsTable: FlowsTableUpdate! }`,
};

const SCHEMA_FILE = path.resolve(__dirname, '../../../schema.graphql');

const hasField = (schema: GraphQLSchema, coordinate: string) => {
  const [typeName, fieldName] = coordinate.split('.');
  const type = schema.getType(typeName) as GraphQLObjectType | undefined;
  return Boolean(type && fieldName in type.getFields());
};

const loadSchema = () => {
  let schema = buildSchema(fs.readFileSync(SCHEMA_FILE, 'utf8'));
  const missing = Object.entries(UI_EXPECTS).filter(([coordinate]) => !hasField(schema, coordinate));
  if (missing.length) {
    schema = extendSchema(schema, parse(missing.map(([, sdl]) => sdl).join('\n')));
  }
  return { schema };
};

describe('GraphQL documents', () => {
  const { schema } = loadSchema();

  it.each(Object.entries(OPERATIONS))('%s is valid against schema.graphql', (name, document) => {
    const ast = parse(document);
    expect(validate(schema, ast).map((error) => error.message)).toEqual([]);
    const operation = ast.definitions.find((definition) => definition.kind === Kind.OPERATION_DEFINITION);
    expect(operation && 'name' in operation ? operation.name?.value : undefined).toBe(name);
  });

  it('selects the table state without nodes', () => {
    // The field `nodes` (every row), not startFlows' argument of the same name.
    const selectsNodes = (document: string) => {
      let found = false;
      visit(parse(document), {
        Field: (field) => {
          found ||= field.name.value === 'nodes';
        },
      });
      return found;
    };
    expect(selectsNodes(OPERATIONS.FlowsTable)).toBe(false);
    expect(selectsNodes(OPERATIONS.StartFlows)).toBe(false);
    expect(selectsNodes(OPERATIONS.StopFlows)).toBe(false);
    expect(selectsNodes('{ flows { nodes { node } } }')).toBe(true);
  });
});
