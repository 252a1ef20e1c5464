export type * from "./request.js";
export type * from "./response.js";
export type * from "./stream.js";
export type { Usage } from "./usage.js";
export { emptyUsage } from "./usage.js";
export { GatewayError, ERROR_STATUS, statusToKind } from "./errors.js";
export type { ErrorKind } from "./errors.js";
