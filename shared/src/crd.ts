import type { TSchema } from '@sinclair/typebox';
import { stringify } from 'yaml';
import { API_VERSION, CATEGORY, GROUP, KINDS, type KindDefinition, VERSION } from './schema/resources.js';

/** A JSON schema in the structural OpenAPI v3 subset that CRDs accept. */
export type JsonSchemaProps = { [key: string]: unknown };

// Keywords a structural schema may carry; everything else TypeBox adds (symbols, $id, patternProperties) is dropped.
const KEPT = [
  'description',
  'type',
  'format',
  'default',
  'enum',
  'pattern',
  'minLength',
  'maxLength',
  'minimum',
  'maximum',
  'minItems',
  'maxItems',
  'nullable',
  'x-kubernetes-validations',
  'x-kubernetes-list-type',
  'x-kubernetes-list-map-keys',
  'x-kubernetes-preserve-unknown-fields',
  'x-kubernetes-map-type',
] as const;

/**
 * Converts a TypeBox schema to the structural OpenAPI v3 schema of a CRD: string-literal unions become
 * `enum`, records become `additionalProperties`, free-form objects keep unknown fields.
 */
export function toOpenApi(schema: TSchema): JsonSchemaProps {
  const out: JsonSchemaProps = {};
  const anyOf = schema.anyOf as TSchema[] | undefined;
  if (anyOf !== undefined) {
    const values = anyOf.map((s) => s.const as unknown);
    if (!values.every((v) => typeof v === 'string'))
      throw new Error('only unions of string literals can be expressed in a CRD');
    out.type = 'string';
    out.enum = values;
  }
  if (typeof schema.const === 'string') {
    out.type = 'string';
    out.enum = [schema.const];
  }
  for (const key of KEPT) if (schema[key] !== undefined && out[key] === undefined) out[key] = schema[key];
  if (schema['x-kubernetes-preserve-unknown-fields'] === true) {
    out.type = 'object';
    return out;
  }
  const properties = schema.properties as Record<string, TSchema> | undefined;
  if (properties !== undefined) {
    out.properties = Object.fromEntries(Object.entries(properties).map(([k, v]) => [k, toOpenApi(v)]));
    const required = schema.required as string[] | undefined;
    if (required !== undefined && required.length > 0) out.required = [...required];
  }
  const patternProperties = schema.patternProperties as Record<string, TSchema> | undefined;
  if (patternProperties !== undefined) {
    const [value] = Object.values(patternProperties);
    if (value !== undefined) out.additionalProperties = toOpenApi(value);
  }
  const items = schema.items as TSchema | undefined;
  if (items !== undefined) out.items = toOpenApi(items);
  return out;
}

/** The CustomResourceDefinition of one kind, as a plain object. */
export function buildCrd(def: KindDefinition): JsonSchemaProps {
  const properties: JsonSchemaProps = {
    apiVersion: {
      type: 'string',
      description: 'APIVersion defines the versioned schema of this representation of an object.',
    },
    kind: {
      type: 'string',
      description: 'Kind is a string value representing the REST resource this object represents.',
    },
    metadata: { type: 'object' },
    spec: toOpenApi(def.spec),
  };
  if (def.status !== undefined) properties.status = toOpenApi(def.status);
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${def.plural}.${GROUP}` },
    spec: {
      group: GROUP,
      names: {
        kind: def.kind,
        listKind: `${def.kind}List`,
        plural: def.plural,
        singular: def.singular,
        shortNames: [...def.shortNames],
        categories: [CATEGORY],
      },
      scope: def.scope,
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          schema: {
            openAPIV3Schema: {
              type: 'object',
              description: `${def.kind} of ${API_VERSION}`,
              required: ['spec'],
              properties,
            },
          },
          ...(def.status !== undefined ? { subresources: { status: {} } } : {}),
          additionalPrinterColumns: def.printerColumns.map((c) => ({ ...c })),
        },
      ],
    },
  };
}

/** The six CRDs in the original's order: GitRepo, ClusterGitRepo, ScheduleTrigger, WebhookTrigger, Action, ClusterAction. */
export function buildCrds(): JsonSchemaProps[] {
  return KINDS.map((def) => buildCrd(def));
}

/** All CRDs as multi-document YAML, each document preceded by `---`. */
export function renderCrdsYaml(): string {
  return buildCrds()
    .map((crd) => `---\n${stringify(crd, { lineWidth: 0, aliasDuplicateObjects: false })}`)
    .join('');
}
