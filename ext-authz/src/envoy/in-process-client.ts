import * as grpc from "@grpc/grpc-js";
import {
  decodeCheckRequest,
  decodeCheckResponse,
  encodeCheckRequest,
  encodeCheckResponse,
  type AuthzClient,
  type CheckRequest,
  type CheckResponse,
  type ServingStatus,
} from "../../../contract/src/authz-wire.ts";
import type { TraceCarrier } from "./check-tracing.ts";

/**
 * A Check client for a router that shares ext-authz's process (the embedded stack). Over loopback
 * gRPC, one event loop would run a grpc-js client and server, HTTP/2 framing on both sides, for
 * every call. Here the request is still encoded and decoded with the service's own protobuf
 * definitions, so ext-authz decides on exactly what the wire would have carried and the router
 * reads the answer the wire would have returned; the message limit, deadline and error codes are
 * those of the gRPC path.
 */

export type InProcessCheckService = {
  /** The gRPC server's own answer: rejects with the gRPC error the call would have ended with. */
  answer(request: CheckRequest, trace: TraceCarrier | undefined): Promise<CheckResponse>;
  maxReceiveBytes: number;
  /** Health of a service name, undefined for a name the server does not know. */
  status(service: string): ServingStatus | undefined;
  isClosed(): boolean;
};

/** An error shaped like the grpc-js client's (code, details, metadata). */
export function rpcError(code: grpc.status, details: string): grpc.ServiceError {
  return Object.assign(new Error(`${code} ${grpc.status[code]}: ${details}`), {
    code,
    details,
    metadata: new grpc.Metadata(),
  });
}

function withDeadline<T>(answer: Promise<T>, deadlineMs: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(rpcError(grpc.status.DEADLINE_EXCEEDED, "Deadline exceeded")),
      deadlineMs,
    );
    answer.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: Error) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}

export function createInProcessAuthzClient(service: InProcessCheckService): AuthzClient {
  const unavailable = () => rpcError(grpc.status.UNAVAILABLE, "ext-authz is closed");
  return {
    check(request, { deadlineMs }) {
      if (service.isClosed()) return Promise.reject(unavailable());
      const bytes = encodeCheckRequest(request);
      if (bytes.byteLength > service.maxReceiveBytes) {
        return Promise.reject(
          rpcError(
            grpc.status.RESOURCE_EXHAUSTED,
            `Received message larger than max (${bytes.byteLength} vs. ${service.maxReceiveBytes})`,
          ),
        );
      }
      // The router puts its trace context in the checked request's headers, not in metadata.
      const answered = service
        .answer(decodeCheckRequest(bytes), undefined)
        .then((response) => decodeCheckResponse(encodeCheckResponse(response)));
      return withDeadline(answered, deadlineMs);
    },
    health(name = "") {
      if (service.isClosed()) return Promise.reject(unavailable());
      const status = service.status(name);
      if (status === undefined) {
        return Promise.reject(rpcError(grpc.status.NOT_FOUND, "unknown service"));
      }
      return Promise.resolve({ status });
    },
    close() {
      // Nothing of its own to release: the server's close() ends the service.
    },
  };
}
