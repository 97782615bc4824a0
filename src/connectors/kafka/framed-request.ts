/**
 * Sends a request whose body is copied straight into its frame, on a kafkajs broker
 * connection. kafkajs frames a request through two growing encoders: for a Produce request
 * of a few MiB that is two zero-filled buffers of twice its size and two more copies of the
 * record batches, about as much CPU as encoding the rows took. Here the frame (size, header,
 * body) is one buffer, written once. The connection's own machinery still does everything
 * else: SASL authentication, correlation ids, timeouts, matching the response.
 *
 * This uses kafkajs 2.2 connection internals (`requestQueue`, `nextCorrelationId`, `socket`);
 * when a connection does not have them, the request goes through `connection.send` instead.
 */
import type { RawRequest } from './fetcher.js';

/** A request body that writes itself into a buffer (see produce.ts, `ProduceBody`). */
export interface RequestBody {
  readonly length: number;
  copy(target: Buffer, targetStart: number): number;
}

/** What this module needs of a kafkajs connection. */
interface KafkajsConnection {
  clientId?: string | null;
  socket?: { write(data: Buffer, encoding: 'binary'): unknown };
  requestQueue?: { push(request: QueuedRequest): void };
  nextCorrelationId?: () => number;
  isAuthenticated(): boolean;
  authenticate(): Promise<void>;
  failIfNotConnected?: () => void;
  send(request: RawRequest): Promise<unknown>;
}

interface QueuedRequest {
  entry: {
    apiKey: number;
    apiName: string;
    apiVersion: number;
    correlationId: number;
    resolve: (result: { payload: Buffer }) => void;
    reject: (error: unknown) => void;
  };
  expectResponse: boolean;
  requestTimeout: number | null;
  sendRequest: () => void;
}

/** The connection pool of a kafkajs broker (connection 0 carries every API but Fetch). */
export interface KafkajsConnectionPool {
  getConnection(index?: number): Promise<unknown>;
  send(request: RawRequest): Promise<unknown>;
}

/** A request to send with {@link sendFramed}. */
export interface FramedRequest {
  apiKey: number;
  apiVersion: number;
  apiName: string;
  body: RequestBody;
  /** Turns the response payload into the result. */
  decode: (payload: Buffer) => Promise<unknown>;
  requestTimeout: number;
}

/**
 * Frames of answered requests, kept for the next ones: the socket is done with a frame once
 * the broker answered (fresh multi-MiB buffers cost page faults and garbage collection).
 */
const spareFrames: Buffer[] = [];
const SPARE_FRAMES = 4;
const SPARE_FROM_BYTES = 64 << 10;

function spareFrame(bytes: number): Buffer | undefined {
  const i = spareFrames.findIndex((b) => b.length >= bytes);
  return i < 0 ? undefined : spareFrames.splice(i, 1)[0];
}

/** Sends `request` on the pool's connection and resolves to its decoded response. */
export async function sendFramed(pool: KafkajsConnectionPool, request: FramedRequest): Promise<unknown> {
  const connection = (await pool.getConnection(0)) as KafkajsConnection;
  const { requestQueue, socket, nextCorrelationId } = connection;
  if (requestQueue === undefined || socket === undefined || typeof nextCorrelationId !== 'function') {
    return pool.send(asRawRequest(request));
  }
  if (!connection.isAuthenticated()) await connection.authenticate();
  connection.failIfNotConnected?.();
  const correlationId = nextCorrelationId.call(connection);
  const size = frameSize(request, connection.clientId ?? null);
  // Large frames take a spare buffer (small ones come from Node's shared pool anyway).
  const backing = size >= SPARE_FROM_BYTES ? (spareFrame(size) ?? Buffer.allocUnsafe(size)) : Buffer.allocUnsafe(size);
  const frame = frameOf(request, correlationId, connection.clientId ?? null, backing.subarray(0, size));
  const { payload } = await new Promise<{ payload: Buffer }>((resolve, reject) => {
    requestQueue.push({
      entry: { apiKey: request.apiKey, apiName: request.apiName, apiVersion: request.apiVersion, correlationId, resolve, reject },
      expectResponse: true,
      requestTimeout: request.requestTimeout,
      sendRequest: () => {
        socket.write(frame, 'binary');
      },
    });
  });
  // Answered, so written: the frame's memory can carry the next request (not after a failure,
  // when the socket may still hold it).
  if (size >= SPARE_FROM_BYTES && spareFrames.length < SPARE_FRAMES) spareFrames.push(backing);
  return request.decode(payload);
}

/**
 * The request as Kafka takes it: size (int32), then the header v1 (api key, api version,
 * correlation id, client id as a nullable string), then the body.
 */
export function frameOf(request: FramedRequest, correlationId: number, clientId: string | null, frame: Buffer): Buffer {
  const client = clientId === null ? null : Buffer.from(clientId, 'utf8');
  const header = 2 + 2 + 4 + 2 + (client?.length ?? 0);
  if (frame.length !== 4 + header + request.body.length) throw new Error('frame of the wrong size');
  let o = frame.writeInt32BE(header + request.body.length, 0);
  o = frame.writeInt16BE(request.apiKey, o);
  o = frame.writeInt16BE(request.apiVersion, o);
  o = frame.writeInt32BE(correlationId, o);
  o = frame.writeInt16BE(client === null ? -1 : client.length, o);
  if (client !== null) o += client.copy(frame, o);
  o += request.body.copy(frame, o);
  if (o !== frame.length) throw new Error(`request body wrote ${o - 4 - header} of ${request.body.length} bytes`);
  return frame;
}

/** Bytes of the frame of `request` (see {@link frameOf}). */
export function frameSize(request: FramedRequest, clientId: string | null): number {
  return 4 + 2 + 2 + 4 + 2 + (clientId === null ? 0 : Buffer.byteLength(clientId, 'utf8')) + request.body.length;
}

/** The same request for `connection.send` (kafkajs frames it itself). */
function asRawRequest(request: FramedRequest): RawRequest {
  return {
    request: {
      apiKey: request.apiKey,
      apiVersion: request.apiVersion,
      apiName: request.apiName,
      expectResponse: () => true,
      encode: async () => ({ buf: Buffer.alloc(0), buffer: request.body }),
    },
    response: { decode: request.decode, parse: async (decoded) => decoded },
    requestTimeout: request.requestTimeout,
  };
}
