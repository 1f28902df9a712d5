import { CallgateError, isOpaqueId, isPlainObject, isRoomName } from '@callgate/protocol';
import type { Router } from '../http/router.js';
import type { Services } from '../services.js';
import { sendJson } from '../http/respond.js';
import { readJsonBody } from '../http/read-json.js';
import { requireApiKey } from '../http/api-key-auth.js';
import type { SignalingCore } from './signaling-core.js';

function roomParam(params: Record<string, string>): string {
  const room = params.room!;
  if (!isRoomName(room)) throw new CallgateError('invalid_room', undefined, { field: 'room' });
  return room;
}

/**
 * Admin routes over the tenant's live rooms (API-key auth; a key only ever sees its own
 * tenant): list rooms and peers, send a server message, kick a peer.
 */
export function addRoomRoutes(router: Router, services: Services, core: SignalingCore): void {
  router.add('GET', '/v1/rooms', async ({ req, res }) => {
    const key = await requireApiKey(services, req, res);
    sendJson(res, 200, { rooms: core.bus.rooms(key.tenant) }, { 'cache-control': 'no-store' });
  });

  router.add('GET', '/v1/rooms/:room/peers', async ({ req, res, params }) => {
    const key = await requireApiKey(services, req, res);
    const room = roomParam(params);
    sendJson(
      res,
      200,
      { room, peers: core.roomPeers(key.tenant, room) },
      { 'cache-control': 'no-store' },
    );
  });

  router.add('POST', '/v1/rooms/:room/messages', async ({ req, res, params }) => {
    const key = await requireApiKey(services, req, res);
    const room = roomParam(params);
    const body = await readJsonBody(req, services.config.signal.maxMessageBytes);
    if (!isPlainObject(body) || !('data' in body) || body.data === undefined)
      throw new CallgateError(
        'bad_request',
        'The body must be {"data": <any JSON>, "to"?: <peerId>}',
        { field: 'data' },
      );
    if (body.to !== undefined && !isOpaqueId(body.to))
      throw new CallgateError('invalid_peer_id', undefined, { field: 'to' });
    const delivered = core.serverMessage(
      key.tenant,
      room,
      body.data,
      body.to as string | undefined,
    );
    if (body.to !== undefined && delivered === 0) throw new CallgateError('peer_not_found');
    sendJson(res, 202, { room, delivered });
  });

  router.add('DELETE', '/v1/rooms/:room/peers/:peerId', async ({ req, res, params }) => {
    const key = await requireApiKey(services, req, res);
    const room = roomParam(params);
    const peerId = params.peerId!;
    if (!isOpaqueId(peerId) || !(await core.kick(key.tenant, room, peerId)))
      throw new CallgateError('peer_not_found');
    services.log.info({ event: 'peer_kicked', tenant: key.tenant, room, peerId }, 'peer kicked');
    res.writeHead(204, { 'cache-control': 'no-store' }).end();
  });
}
