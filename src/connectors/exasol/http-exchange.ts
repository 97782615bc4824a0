/**
 * The HTTP side of a tunnel: receive Exasol's upload of an EXPORT (`PUT`, chunked or sized
 * body) and serve the body of an IMPORT (`GET`, chunked response).
 */
import type { Duplex } from 'node:stream';
import { connectionLost } from './errors.js';

/** Receives one upload: `onBody` gets body bytes as they arrive; returning false pauses the stream until `resume()`. */
export interface UploadReceiver {
  /** Resolves once the whole body arrived and `200 OK` was sent. */
  readonly done: Promise<void>;
  /** Resumes a stream paused by `onBody` returning false. */
  resume(): void;
}

/** Reads one HTTP request with body from `stream` and answers 200 after the last byte. */
export function receiveUpload(stream: Duplex, onBody: (chunk: Buffer) => boolean, what: string): UploadReceiver {
  let head: Buffer | null = Buffer.alloc(0);
  let mode: 'chunked' | 'sized' | 'close' = 'close';
  let remaining = 0; // sized: body bytes left; chunked: bytes left in the current chunk
  let chunkState: 'size' | 'data' | 'crlf' | 'trailer' = 'size';
  let lineBuffer = '';
  let finished = false;
  let resolveDone!: () => void;
  let rejectDone!: (e: Error) => void;
  const done = new Promise<void>((resolve, reject) => {
    resolveDone = resolve;
    rejectDone = reject;
  });
  done.catch(() => undefined);

  const deliver = (chunk: Buffer) => {
    if (chunk.length > 0 && !onBody(chunk)) stream.pause();
  };
  const complete = () => {
    if (finished) return;
    finished = true;
    cleanup();
    stream.write('HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n', () => stream.end());
    resolveDone();
  };
  const failed = (error: Error) => {
    if (finished) return;
    finished = true;
    cleanup();
    rejectDone(error);
  };
  const onBodyBytes = (data: Buffer) => {
    let at = 0;
    if (mode === 'close') return deliver(data);
    if (mode === 'sized') {
      const take = Math.min(remaining, data.length);
      remaining -= take;
      deliver(data.subarray(0, take));
      if (remaining === 0) complete();
      return;
    }
    while (at < data.length && !finished) {
      if (chunkState === 'size' || chunkState === 'trailer' || chunkState === 'crlf') {
        const nl = data.indexOf(0x0a, at);
        if (nl < 0) {
          lineBuffer += data.subarray(at).toString('latin1');
          return;
        }
        const line = (lineBuffer + data.subarray(at, nl).toString('latin1')).trim();
        lineBuffer = '';
        at = nl + 1;
        if (chunkState === 'crlf') chunkState = 'size';
        else if (chunkState === 'trailer') {
          if (line === '') complete();
        } else {
          remaining = parseInt(line.split(';')[0]!, 16);
          if (Number.isNaN(remaining)) return failed(new Error(`bad chunk size line in ${what}`));
          chunkState = remaining === 0 ? 'trailer' : 'data';
        }
      } else {
        const take = Math.min(remaining, data.length - at);
        deliver(data.subarray(at, at + take));
        at += take;
        remaining -= take;
        if (remaining === 0) chunkState = 'crlf';
      }
    }
  };
  const onData = (data: Buffer) => {
    if (head !== null) {
      head = Buffer.concat([head, data]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      const text = head.subarray(0, end).toString('latin1');
      const rest = head.subarray(end + 4);
      head = null;
      const lines = text.split('\r\n');
      const headers = new Map<string, string>();
      for (const line of lines.slice(1)) {
        const colon = line.indexOf(':');
        if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
      }
      if (/chunked/i.test(headers.get('transfer-encoding') ?? '')) mode = 'chunked';
      else if (headers.has('content-length')) {
        mode = 'sized';
        remaining = Number(headers.get('content-length'));
        if (remaining === 0) return complete();
      }
      if (rest.length > 0) onBodyBytes(rest);
      return;
    }
    onBodyBytes(data);
  };
  const onEnd = () => {
    if (mode === 'close' && head === null) complete();
    else failed(connectionLost(`${what}: the tunnel closed before the upload ended`));
  };
  const onError = (error: Error) => failed(connectionLost(`${what}: tunnel error`, error));
  const cleanup = () => {
    stream.removeListener('data', onData);
    stream.removeListener('end', onEnd);
    stream.removeListener('close', onEnd);
    stream.removeListener('error', onError);
  };
  stream.on('data', onData);
  stream.on('end', onEnd);
  stream.on('close', onEnd);
  stream.on('error', onError);
  stream.resume();
  return {
    done,
    resume: () => {
      if (!finished) stream.resume();
    },
  };
}

/**
 * Answers one GET (an IMPORT reading from us) with a chunked body produced by `body`.
 * Resolves when the response is written.
 */
export async function serveDownload(stream: Duplex, body: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, what: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    let head = '';
    const onData = (data: Buffer) => {
      head += data.toString('latin1');
      if (head.includes('\r\n\r\n')) {
        cleanup();
        resolve();
      }
    };
    const onClose = () => {
      cleanup();
      reject(connectionLost(`${what}: the tunnel closed before the request`));
    };
    const cleanup = () => {
      stream.removeListener('data', onData);
      stream.removeListener('close', onClose);
    };
    stream.on('data', onData);
    stream.once('close', onClose);
    stream.resume();
  });
  stream.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n');
  for await (const chunk of body) {
    if (chunk.length === 0) continue;
    stream.write(`${chunk.length.toString(16)}\r\n`);
    stream.write(chunk);
    if (!stream.write('\r\n')) {
      await new Promise<void>((resolve) => {
        stream.once('drain', resolve);
        stream.once('close', resolve);
      });
      if (stream.destroyed) throw connectionLost(`${what}: the tunnel closed during the download`);
    }
  }
  await new Promise<void>((resolve) => stream.write('0\r\n\r\n', () => resolve()));
  stream.end();
}
