// @hawser/coordinator as a library: the service class (in-process tests) and its config.
export { Coordinator, type CoordinatorOptions } from './coordinator';
export { schema, validate, type Config } from './config';
export { viewOf } from './elections';
export { MemberCallError } from './members';
