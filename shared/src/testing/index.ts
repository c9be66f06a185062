// Fixtures for tests in every package: the same cases hold the runtime validator and kube-apiserver to one verdict.
export { INVALID_CASES, type InvalidCase } from './invalid-cases.js';
export { bounded, type Outcome, propertySeed } from './properties.js';
export { createSigningKeys, type SigningKey, type SigningKeys } from './signing.js';
