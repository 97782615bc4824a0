/**
 * A recorder of everything the server sends and receives — WebSocket frames (decompressed),
 * tunnel handshakes and HTTP transport heads — as JSON lines, for debugging and for tests
 * that must look at raw frames (e.g. 19-digit numbers a client would round).
 *
 * Login credentials are masked before they are recorded.
 */
import { appendFileSync } from 'node:fs';

/** One recorded frame. */
export interface TranscriptEntry {
  /** ISO time. */
  time: string;
  /** Node index (1-based). */
  node: number;
  /** Connection number, unique per server. */
  connection: number;
  channel: 'websocket' | 'tunnel' | 'http';
  direction: 'in' | 'out';
  /** Frame text (for WebSocket: the JSON after decompression, exactly as sent or received). */
  text: string;
  compressed?: boolean;
}

/** Collects frames in memory and optionally appends them to a file. */
export class Transcript {
  private readonly items: TranscriptEntry[] = [];
  enabled = true;

  constructor(
    private readonly path?: string,
    private readonly limit = 100_000,
  ) {}

  /** Records a frame (dropped when disabled; the oldest are dropped beyond the limit). */
  record(entry: Omit<TranscriptEntry, 'time'>): void {
    if (!this.enabled) return;
    const full = { time: new Date().toISOString(), ...entry };
    this.items.push(full);
    if (this.items.length > this.limit) this.items.shift();
    if (this.path) appendFileSync(this.path, JSON.stringify(full) + '\n');
  }

  /** Recorded frames, optionally filtered. */
  entries(filter?: Partial<Pick<TranscriptEntry, 'channel' | 'direction' | 'connection' | 'node'>>): TranscriptEntry[] {
    return this.items.filter((e) => !filter || Object.entries(filter).every(([k, v]) => e[k as keyof TranscriptEntry] === v));
  }

  /** All frames as JSON lines. */
  toJsonLines(): string {
    return this.items.map((e) => JSON.stringify(e)).join('\n') + (this.items.length ? '\n' : '');
  }

  clear(): void {
    this.items.length = 0;
  }
}

/** Replaces the password (or token) of a login message before it is recorded. */
export function maskCredentials(text: string): string {
  return text.replace(/"(password|accessToken|refreshToken)"\s*:\s*"(?:[^"\\]|\\.)*"/g, '"$1":"***"');
}
