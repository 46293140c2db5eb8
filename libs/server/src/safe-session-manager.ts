import type { ClientHttp2Session } from 'node:http2';

import { Http2SessionManager } from '@connectrpc/connect-node';

type State = { conn?: ClientHttp2Session };
const swallowed = new WeakSet<ClientHttp2Session>();

/**
 * An Http2SessionManager whose connections never raise an unhandled 'error'.
 *
 * connect-node 2.1.2 destroys a connection that receives GOAWAY while idle; Node raises that
 * error on the session after the socket closes, and if the manager has left the connection's
 * state by then its listeners are gone and the process crashes (connectrpc/connect-es#1768,
 * fix pending in #1769). Peers restarting send exactly that GOAWAY, so every client in the mesh
 * uses this manager, which adds the same swallowing listener the library's own abort() adds.
 * The manager's own listeners still see every error while they are attached.
 */
export function safeSessionManager(baseUrl: string): Http2SessionManager {
  const manager = new Http2SessionManager(baseUrl);
  const internals = manager as unknown as { setState(s: State): void };
  const setState = internals.setState.bind(manager);
  internals.setState = (state: State) => {
    // Only live sessions: a connecting state holds its session differently.
    if (state.conn && typeof state.conn.on === 'function' && !swallowed.has(state.conn)) {
      swallowed.add(state.conn);
      state.conn.on('error', () => undefined);
    }
    setState(state);
  };
  return manager;
}
