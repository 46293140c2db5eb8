import type { Bus } from './bus';

/** Hears each change of a bus's connection: false when it dropped, true when it is back. */
export type ConnectionListener = (connected: boolean) => void;

/**
 * Whether a bus's connection to its broker is up. Consumers of ephemeral traffic (the router's
 * heartbeats) use it to tell "the sender went silent" from "the bus went silent". Both adapters
 * have it; it is a separate interface so `Bus` fakes in tests need not implement it.
 */
export interface ConnectionStatus {
  /** Up now; false after close(). */
  readonly connected: boolean;
  /** Calls `listener` on each change of `connected`; returns the function that stops it. */
  onConnectionChange(listener: ConnectionListener): () => void;
}

/** Whether `bus` reports its connection status. */
export function hasConnectionStatus(bus: Bus): bus is Bus & ConnectionStatus {
  return typeof (bus as Partial<ConnectionStatus>).onConnectionChange === 'function';
}

/** The listeners and current value behind a `ConnectionStatus`, for adapters. */
export class ConnectionState implements ConnectionStatus {
  private readonly listeners = new Set<ConnectionListener>();
  private up = true;

  get connected(): boolean {
    return this.up;
  }

  onConnectionChange(listener: ConnectionListener): () => void {
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }

  /** Records a change; listeners hear only real changes, never a repeat. */
  set(connected: boolean): void {
    if (connected === this.up) return;
    this.up = connected;
    for (const l of [...this.listeners]) l(connected);
  }
}
