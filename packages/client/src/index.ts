export { CallgateClient } from './callgate-client.js';
export { createClient } from './create-client.js';
export type {
  ClientOptions,
  GetToken,
  TokenRequestReason,
  ClientLogger,
} from './client-options.js';
export {
  CallgateClientError,
  type ClientErrorCode,
  type LocalErrorCode,
  type ClientErrorDetails,
} from './client-error.js';
export type {
  ClientEvents,
  ClientState,
  CloseInfo,
  ClosedEvent,
  PeerEvent,
  RejoinedEvent,
  StateChange,
  TokenExpiringEvent,
} from './client-events.js';
export { DEFAULT_BACKOFF, backoffDelay, type BackoffOptions } from './backoff.js';
export { systemClock, type Clock } from './clock.js';
export { SIGNAL_PATH, signalUrl } from './signal-url.js';
export type { WebSocketConstructor, WebSocketLike } from './websocket-like.js';
export { REFRESH_RETRY_MS } from './token-keeper.js';
export * from './session-token-provider.js';
export { MeshCall, createMeshCall, type MeshCallOptions } from './mesh/mesh-call.js';
export type { MeshCallEvents, PeerRemovedReason } from './mesh/mesh-events.js';
export type { RTCPeerConnectionConstructor } from './mesh/mesh-peer.js';
export {
  MESH_NAMESPACE,
  isMeshSignal,
  parseMeshSignal,
  type MeshSignal,
  type MeshDescription,
  type MeshCandidate,
} from './mesh/mesh-signal.js';
export type {
  CloseAction,
  DataMessage,
  ErrorCode,
  IceServer,
  PeerInfo,
  PresenceMessage,
  SignalLimits,
  WelcomeMessage,
} from '@callgate/protocol';
