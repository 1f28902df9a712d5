/**
 * Which path a peer connection's media takes, from `getStats()` (W3C webrtc-stats): the
 * transport's selected candidate pair and its local candidate's type — `host`, `srflx` or
 * `prflx` is direct, `relay` goes through TURN. When only the remote candidate is a relay, the
 * other side sends through its TURN server: relayed as well, but not by this browser.
 */

/**
 * @typedef {object} SelectedPath
 * @property {string} candidateType the local candidate's type
 * @property {string} [remoteCandidateType] the remote candidate's type (relay: the peer uses TURN)
 * @property {string} [relayProtocol]
 * @property {number} [rttMs]
 */

/**
 * Reads the selected candidate pair of `pc`; null while there is none (ICE still checking).
 *
 * @example
 * const path = await selectedPath(mesh.connection(peerId));
 * if (path?.candidateType === 'relay') console.log('relayed over', path.relayProtocol);
 *
 * @param {RTCPeerConnection | undefined} pc
 * @returns {Promise<SelectedPath | null>}
 */
export async function selectedPath(pc) {
  if (!pc || pc.connectionState === 'closed') return null;
  /** @type {RTCStatsReport} */
  let report;
  try {
    report = await pc.getStats();
  } catch {
    return null; // closed meanwhile
  }
  /** @type {Map<string, any>} */
  const stats = new Map();
  report.forEach((s) => stats.set(s.id, s));
  let pair;
  for (const s of stats.values()) {
    // Chromium and Safari name the pair on the transport...
    if (s.type === 'transport' && s.selectedCandidatePairId) {
      pair = stats.get(s.selectedCandidatePairId);
      if (pair) break;
    }
  }
  if (!pair) {
    // ...Firefox marks it on the pair itself.
    for (const s of stats.values()) {
      if (s.type === 'candidate-pair' && (s.selected || (s.nominated && s.state === 'succeeded'))) {
        pair = s;
        break;
      }
    }
  }
  if (!pair) return null;
  const local = stats.get(pair.localCandidateId);
  if (!local?.candidateType) return null;
  /** @type {SelectedPath} */
  const path = { candidateType: local.candidateType };
  const remote = stats.get(pair.remoteCandidateId);
  if (remote?.candidateType) path.remoteCandidateType = remote.candidateType;
  if (local.relayProtocol) path.relayProtocol = local.relayProtocol;
  if (typeof pair.currentRoundTripTime === 'number') path.rttMs = pair.currentRoundTripTime * 1000;
  return path;
}
