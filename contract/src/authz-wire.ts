/**
 * The Envoy ext_authz gRPC wire (envoy.service.auth.v3.Authorization/Check) and grpc.health.v1,
 * loaded from the project's own protos in proto/. The router's direct mode uses
 * createAuthzClient to send exactly what Envoy would send; ext-authz serves authorizationService.
 *
 * Types describe the objects @grpc/proto-loader produces with the options below: field names as
 * in the .proto (keepCase), int64 as decimal strings, enums as their names, absent scalars
 * defaulted, and a virtual property naming the set member of each oneof.
 */
import path from "node:path";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import type { HttpStatus } from "./envoy-http-status.ts";
import { PACKAGE_ROOT } from "./package-root.ts";

export const PROTO_DIR = path.join(PACKAGE_ROOT, "proto");

export const PROTO_LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
  includeDirs: [PROTO_DIR],
};

const packageDefinition = protoLoader.loadSync(
  ["envoy/service/auth/v3/external_auth.proto", "grpc/health/v1/health.proto"],
  PROTO_LOADER_OPTIONS,
);

function serviceDefinition(name: string): grpc.ServiceDefinition {
  const entry = packageDefinition[name];
  if (entry === undefined || !("Check" in entry)) throw new Error(`proto service ${name} missing`);
  return entry;
}

export const AUTHORIZATION_SERVICE_NAME = "envoy.service.auth.v3.Authorization";
export const HEALTH_SERVICE_NAME = "grpc.health.v1.Health";
/** HTTP/2 path of the Check call, as Envoy sends it. */
export const CHECK_PATH = "/envoy.service.auth.v3.Authorization/Check";

export const authorizationService = serviceDefinition(AUTHORIZATION_SERVICE_NAME);
export const healthService = serviceDefinition(HEALTH_SERVICE_NAME);

// ---------------------------------------------------------------------------------------------
// Request side (envoy.service.auth.v3.CheckRequest and what it contains)

export type SocketAddress = {
  protocol?: "TCP" | "UDP";
  address?: string;
  port_value?: number;
  named_port?: string;
  port_specifier?: "port_value" | "named_port";
};

export type Address = {
  socket_address?: SocketAddress | null;
  pipe?: { path?: string; mode?: number } | null;
  envoy_internal_address?: { server_listener_name?: string; endpoint_id?: string } | null;
  address?: "socket_address" | "pipe" | "envoy_internal_address";
};

export type Peer = {
  address?: Address | null;
  service?: string;
  labels?: Record<string, string>;
  principal?: string;
  certificate?: string;
};

export type Timestamp = { seconds?: string | number; nanos?: number };

export type HttpRequest = {
  /** Envoy's stream id, not x-request-id. */
  id?: string;
  method?: string;
  /** Lower-case keys; pseudo-headers such as ":path" included. */
  headers?: Record<string, string>;
  /** Includes the query string. */
  path?: string;
  host?: string;
  scheme?: string;
  query?: string;
  fragment?: string;
  /** int64: a decimal string when decoded; a number or string when sent. */
  size?: string | number;
  protocol?: string;
  body?: string;
  /** Set instead of body when Envoy runs with pack_as_bytes. */
  raw_body?: Uint8Array;
};

/** google.protobuf.Struct as decoded by proto-loader (the Value oneof kept as fields). */
export type StructValue = {
  null_value?: "NULL_VALUE";
  number_value?: number;
  string_value?: string;
  bool_value?: boolean;
  struct_value?: Struct | null;
  list_value?: { values?: StructValue[] } | null;
  kind?:
    "null_value" | "number_value" | "string_value" | "bool_value" | "struct_value" | "list_value";
};
export type Struct = { fields?: Record<string, StructValue> };

export type Metadata = { filter_metadata?: Record<string, Struct> };

export type AttributeContext = {
  source?: Peer | null;
  destination?: Peer | null;
  request?: { time?: Timestamp | null; http?: HttpRequest | null } | null;
  /** Per-route check_settings.context_extensions, e.g. { scope: "calculator" }. */
  context_extensions?: Record<string, string>;
  metadata_context?: Metadata | null;
  tls_session?: { sni?: string } | null;
  route_metadata_context?: Metadata | null;
};

export type CheckRequest = { attributes?: AttributeContext | null };

// ---------------------------------------------------------------------------------------------
// Response side

export const HEADER_APPEND_ACTIONS = [
  "APPEND_IF_EXISTS_OR_ADD",
  "ADD_IF_ABSENT",
  "OVERWRITE_IF_EXISTS_OR_ADD",
  "OVERWRITE_IF_EXISTS",
] as const;
export type HeaderAppendAction = (typeof HEADER_APPEND_ACTIONS)[number];

export type HeaderValue = { key: string; value?: string; raw_value?: Uint8Array };

export type HeaderValueOption = {
  header: HeaderValue | null;
  /** google.protobuf.BoolValue: older Envoys read only this, so send { value: false }. */
  append?: { value: boolean } | null;
  append_action?: HeaderAppendAction;
  keep_empty_value?: boolean;
};

export { HTTP_STATUS_NAME, httpStatusNumber } from "./envoy-http-status.ts";
export type { HttpStatus, HttpStatusName, HttpStatusNumber } from "./envoy-http-status.ts";

export type RpcStatus = { code: number; message?: string; details?: unknown[] };

export type DeniedHttpResponse = {
  status: HttpStatus | null;
  headers: HeaderValueOption[];
  body: string;
};

export type OkHttpResponse = {
  headers: HeaderValueOption[];
  headers_to_remove: string[];
  response_headers_to_add?: HeaderValueOption[];
  query_parameters_to_set?: { key: string; value: string }[];
  query_parameters_to_remove?: string[];
};

export type CheckResponse = {
  status: RpcStatus | null;
  denied_response?: DeniedHttpResponse | null;
  ok_response?: OkHttpResponse | null;
  error_response?: DeniedHttpResponse | null;
  dynamic_metadata?: Struct | null;
  /** Which member of the http_response oneof is set (present on decoded responses). */
  http_response?: "denied_response" | "ok_response" | "error_response";
};

/** google.rpc codes the gateway uses in CheckResponse.status. */
export const RPC_CODE = {
  OK: 0,
  INVALID_ARGUMENT: 3,
  NOT_FOUND: 5,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;

// ---------------------------------------------------------------------------------------------
// grpc.health.v1

export type ServingStatus = "UNKNOWN" | "SERVING" | "NOT_SERVING" | "SERVICE_UNKNOWN";
export type HealthCheckRequest = { service?: string };
export type HealthCheckResponse = { status: ServingStatus };

// ---------------------------------------------------------------------------------------------
// Encoding (what goes on the wire), used by tests and by anything that must prove compatibility

export function encodeCheckRequest(request: CheckRequest): Buffer {
  return authorizationService.Check!.requestSerialize(request);
}
export function decodeCheckRequest(bytes: Buffer): CheckRequest {
  return authorizationService.Check!.requestDeserialize(bytes) as CheckRequest;
}
export function encodeCheckResponse(response: CheckResponse): Buffer {
  return authorizationService.Check!.responseSerialize(response);
}
export function decodeCheckResponse(bytes: Buffer): CheckResponse {
  return authorizationService.Check!.responseDeserialize(bytes) as CheckResponse;
}

// ---------------------------------------------------------------------------------------------
// Client

export type AuthzClient = {
  /**
   * Rejects only on a transport/RPC failure (Envoy would then fail closed); a deny resolves.
   * Waits for the channel to be ready within the deadline: a Check issued while ext-authz restarts
   * is answered once it is back, or fails at the deadline.
   */
  check(request: CheckRequest, options: { deadlineMs: number }): Promise<CheckResponse>;
  /** Fails fast while the channel cannot connect (a readiness probe must not wait for it). */
  health(service?: string, options?: { deadlineMs: number }): Promise<HealthCheckResponse>;
  close(): void;
};

/**
 * grpc-js waits 1 s × 1.6ⁿ (up to 120 s) between connection attempts, so a router found a
 * restarted ext-authz ~12 s late; capped at 1 s it finds it within about a second. Keepalive pings
 * notice a connection that died without a FIN or RST (host gone, network partition) instead of
 * letting Checks wait on it until their deadline. ext-authz is a grpc-js server, which does not
 * refuse frequent pings. Channelz (per-call counters and timestamps for a debugging service the
 * gateway does not serve) is off.
 */
export const AUTHZ_CHANNEL_OPTIONS = {
  "grpc.initial_reconnect_backoff_ms": 100,
  "grpc.max_reconnect_backoff_ms": 1000,
  "grpc.keepalive_time_ms": 10_000,
  "grpc.keepalive_timeout_ms": 5_000,
  "grpc.keepalive_permit_without_calls": 1,
  "grpc.enable_channelz": 0,
} as const satisfies grpc.ChannelOptions;

const AuthorizationClient = grpc.makeClientConstructor(authorizationService, "Authorization");
const HealthClient = grpc.makeClientConstructor(healthService, "Health");

type UnaryMethod<Req, Res> = (
  request: Req,
  metadata: grpc.Metadata,
  options: grpc.CallOptions,
  callback: (error: grpc.ServiceError | null, response?: Res) => void,
) => grpc.ClientUnaryCall;

/**
 * A Check client for `host:port`. Plain-text HTTP/2 by default (ext-authz sits on the internal
 * network, as with Envoy's envoy_grpc cluster); pass credentials for TLS. Check and health share
 * one channel, so readiness reports the connection Checks actually use.
 */
export function createAuthzClient(
  address: string,
  options: {
    credentials?: grpc.ChannelCredentials;
    maxSendBytes?: number;
    /** Overrides of AUTHZ_CHANNEL_OPTIONS. */
    channelOptions?: grpc.ChannelOptions;
  } = {},
): AuthzClient {
  const credentials = options.credentials ?? grpc.credentials.createInsecure();
  const channel = new grpc.Channel(address, credentials, {
    ...AUTHZ_CHANNEL_OPTIONS,
    ...(options.maxSendBytes === undefined
      ? {}
      : { "grpc.max_send_message_length": options.maxSendBytes }),
    ...options.channelOptions,
  });
  const authz = new AuthorizationClient(address, credentials, { channelOverride: channel });
  const health = new HealthClient(address, credentials, { channelOverride: channel });
  const checkMethod = (authz as unknown as { Check: UnaryMethod<CheckRequest, CheckResponse> })
    .Check;
  const healthMethod = (
    health as unknown as { Check: UnaryMethod<HealthCheckRequest, HealthCheckResponse> }
  ).Check;

  function unary<Req, Res>(
    client: grpc.Client,
    method: UnaryMethod<Req, Res>,
    request: Req,
    call: { deadlineMs: number; waitForReady: boolean },
  ): Promise<Res> {
    return new Promise((resolve, reject) => {
      method.call(
        client,
        request,
        new grpc.Metadata({ waitForReady: call.waitForReady }),
        { deadline: Date.now() + call.deadlineMs },
        (error, response) => {
          if (error) reject(error);
          else if (response === undefined) reject(new Error("empty gRPC response"));
          else resolve(response);
        },
      );
    });
  }

  return {
    check: (request, { deadlineMs }) =>
      unary(authz, checkMethod, request, { deadlineMs, waitForReady: true }),
    health: (service = "", healthOptions = { deadlineMs: 1000 }) =>
      unary(
        health,
        healthMethod,
        { service },
        { deadlineMs: healthOptions.deadlineMs, waitForReady: false },
      ),
    close() {
      channel.close();
    },
  };
}
