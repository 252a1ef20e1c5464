export type * from "./request.js";
export type * from "./response.js";
export type * from "./stream.js";
export type { Usage } from "./usage.js";
export { emptyUsage } from "./usage.js";
export { GatewayError, ERROR_STATUS, statusToKind, streamErrorToGatewayError } from "./errors.js";
export type { ErrorKind, GatewayErrorOptions } from "./errors.js";
export { ERROR_CODES, isErrorCode } from "./error-codes.js";
export type { ErrorCode, ErrorCodeInfo } from "./error-codes.js";
