export * from './spec.js';
export { OID, typeFamily, type TypeFamily } from './types.js';
export { compileMask, compileTextMask, maskingNulls, maskTextValue, MaskError, type CompileOptions, type FieldFormat, type MaskFn, type TextMaskFn } from './compile.js';
