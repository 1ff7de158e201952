// Dynamic config's entry point, imported lazily by the applier only for a config that has a
// dynamic var: a chunk of its own (dist/dynamic.cjs), so that static-only and disabled runs never
// read it. Each source other than `null` is a further chunk (registry.ts).
export { mergeSources } from './merge.js';
export { DynamicResolver, type VarStatus } from './resolver.js';
