export {
  mintTurnCredentials,
  TURN_TTL_MIN_SECONDS,
  TURN_TTL_MAX_SECONDS,
  TURN_SECRET_MIN_BYTES,
  type TurnCredentials,
  type MintTurnCredentialsOptions,
} from './mint-turn-credentials.js';
export { computeTurnCredential } from './compute-turn-credential.js';
export { buildIceServers, validateTurnUrl, type IceServer } from './ice-servers.js';
export {
  renderCoturnConfig,
  DENIED_PEER_RANGES,
  type RenderCoturnConfigOptions,
} from './coturn-config.js';
export {
  allocate,
  type AllocateOptions,
  type AllocateResult,
  type AllocateFailure,
  type TurnAllocation,
  type RelayedDatagram,
  type TransportAddress,
} from './turn-client.js';
export { stunBinding, type StunBindingOptions } from './stun-binding.js';
export { TurnClientError, type TurnClientErrorCode } from './turn-client-error.js';
