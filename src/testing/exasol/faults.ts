/**
 * Fault injection for tests. Each hook arms a fault for the next `times` occasions (default 1);
 * the server consumes armed faults at the matching point of the protocol.
 */

interface Armed<T> {
  options: T;
  remaining: number;
}

export interface RejectLoginFault {
  /** Exception text (default: Exasol's authentication failure). */
  text?: string;
  sqlCode?: string;
  times?: number;
}

export interface FailStatementFault {
  /** Statements whose text contains this string / matches this pattern (default: any). */
  match?: string | RegExp;
  sqlCode: string;
  text: string;
  times?: number;
}

export interface DropTunnelFault {
  /** Body bytes sent before the tunnel is destroyed (default 1). */
  afterBytes?: number;
  times?: number;
}

export interface StallBeforePutFault {
  /** Delay before the PUT (or GET) request is written, in ms. */
  ms: number;
  times?: number;
}

export interface CloseWebSocketFault {
  times?: number;
}

/** Fault kinds and their options. */
export interface FaultOptions {
  rejectLogin: RejectLoginFault;
  failStatement: FailStatementFault;
  dropTunnelMidBody: DropTunnelFault;
  stallBeforePut: StallBeforePutFault;
  closeWebSocketMidFetch: CloseWebSocketFault;
}

/** The fault hooks of a running test server. */
export class ExasolFaults {
  private readonly armed: { [K in keyof FaultOptions]: Armed<FaultOptions[K]>[] } = {
    rejectLogin: [],
    failStatement: [],
    dropTunnelMidBody: [],
    stallBeforePut: [],
    closeWebSocketMidFetch: [],
  };

  /** The next login fails with an authentication error even with the right password. */
  rejectLogin(options: RejectLoginFault = {}): void {
    this.arm('rejectLogin', options);
  }

  /** The next matching statement fails with the given Exasol error instead of running. */
  failStatement(options: FailStatementFault): void {
    this.arm('failStatement', options);
  }

  /** The next EXPORT upload is cut off after `afterBytes` body bytes (the tunnel is destroyed). */
  dropTunnelMidBody(options: DropTunnelFault = {}): void {
    this.arm('dropTunnelMidBody', options);
  }

  /** The next HTTP transport request waits `ms` before its request line is sent. */
  stallBeforePut(options: StallBeforePutFault): void {
    this.arm('stallBeforePut', options);
  }

  /** The next `fetch` closes the WebSocket instead of replying. */
  closeWebSocketMidFetch(options: CloseWebSocketFault = {}): void {
    this.arm('closeWebSocketMidFetch', options);
  }

  /** Disarms everything. */
  clear(): void {
    for (const list of Object.values(this.armed)) list.length = 0;
  }

  /** @internal Consumes one armed fault of a kind, if any matches. */
  take<K extends keyof FaultOptions>(kind: K, matches: (options: FaultOptions[K]) => boolean = () => true): FaultOptions[K] | undefined {
    const list = this.armed[kind] as Armed<unknown>[];
    const index = list.findIndex((a) => matches(a.options as never));
    if (index < 0) return undefined;
    const entry = list[index];
    if (--entry.remaining <= 0) list.splice(index, 1);
    return entry.options as never;
  }

  private arm<K extends keyof FaultOptions>(kind: K, options: FaultOptions[K]): void {
    (this.armed[kind] as Armed<unknown>[]).push({ options, remaining: options.times ?? 1 });
  }
}

/** Whether a statement matches a `failStatement` fault. */
export function statementMatches(fault: FailStatementFault, sqlText: string): boolean {
  if (fault.match === undefined) return true;
  return typeof fault.match === 'string' ? sqlText.includes(fault.match) : fault.match.test(sqlText);
}
