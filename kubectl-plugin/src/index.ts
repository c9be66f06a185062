export { PLUGIN_ERROR_CODES, PluginError, type PluginErrorCode } from './errors.js';
export type { Io } from './io.js';
export { buildProgram, COMMAND_NAME, main, type ProgramDeps } from './program.js';
