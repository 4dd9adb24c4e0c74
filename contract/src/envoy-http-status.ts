/**
 * envoy.type.v3.HttpStatus as @grpc/proto-loader decodes it (enum names), and the number Envoy
 * replies with. Apart from authz-wire.ts so that applying a Check answer (the router's direct
 * mode) does not load gRPC and the protos: a router behind Envoy never needs them.
 */

/** envoy.type.v3.StatusCode names of the statuses the gateway answers with. */
export const HTTP_STATUS_NAME = {
  200: "OK",
  400: "BadRequest",
  401: "Unauthorized",
  403: "Forbidden",
  404: "NotFound",
  405: "MethodNotAllowed",
  413: "PayloadTooLarge",
  429: "TooManyRequests",
  500: "InternalServerError",
  503: "ServiceUnavailable",
  504: "GatewayTimeout",
} as const;
export type HttpStatusNumber = keyof typeof HTTP_STATUS_NAME;
export type HttpStatusName = (typeof HTTP_STATUS_NAME)[HttpStatusNumber];

const HTTP_STATUS_BY_NAME: Record<string, number> = {
  Empty: 0,
  Continue: 100,
  OK: 200,
  Created: 201,
  Accepted: 202,
  NoContent: 204,
  MovedPermanently: 301,
  Found: 302,
  NotModified: 304,
  BadRequest: 400,
  Unauthorized: 401,
  PaymentRequired: 402,
  Forbidden: 403,
  NotFound: 404,
  MethodNotAllowed: 405,
  NotAcceptable: 406,
  RequestTimeout: 408,
  Conflict: 409,
  Gone: 410,
  LengthRequired: 411,
  PreconditionFailed: 412,
  PayloadTooLarge: 413,
  URITooLong: 414,
  UnsupportedMediaType: 415,
  UnprocessableEntity: 422,
  TooManyRequests: 429,
  RequestHeaderFieldsTooLarge: 431,
  InternalServerError: 500,
  NotImplemented: 501,
  BadGateway: 502,
  ServiceUnavailable: 503,
  GatewayTimeout: 504,
};

/**
 * The HTTP status number of a decoded envoy.type.v3.HttpStatus. Envoy replies 403 when the
 * status is unset or zero, so a client applying a deny the way Envoy does uses this.
 */
export function httpStatusNumber(status: HttpStatus | null | undefined): number {
  const code = status?.code;
  const numeric =
    typeof code === "number" ? code : code === undefined ? 0 : HTTP_STATUS_BY_NAME[code];
  return numeric === undefined || numeric === 0 ? 403 : numeric;
}

export type HttpStatus = { code: HttpStatusName | (string & {}) | number };
