// The Express TURN credential endpoint exactly as the seed document gives it ("Generating
// Time-Limited TURN Credentials with HMAC"): no authentication at all. Only the port (0, and
// reported to the harness) and the secret's source differ; `require` resolves Express from the
// bench-local install.
const path = require('node:path');
const peersRequire = require('node:module').createRequire(path.join(__dirname, '../peers/'));
const crypto = require('crypto');
const express = peersRequire('express');
const app = express();
// Compose username = expiry:userId, credential = base64 HMAC-SHA1(username, secret)
function generateTurnCredentials(userId, secret, ttlSeconds = 3600) {
  const expiry = Math.floor(Date.now() / 1000) + ttlSeconds; // absolute UNIX expiry
  const username = `${expiry}:${userId}`; // coturn parses the prefix
  const credential = crypto
    .createHmac('sha1', secret) // key = the relay's static-auth-secret
    .update(username) // sign the FULL username string, exactly
    .digest('base64'); // base64, NOT hex — coturn expects base64
  return { username, credential, ttl: ttlSeconds };
}
app.get('/api/turn-credentials', (req, res) => {
  const userId = req.session?.userId || 'anon'; // identify for log correlation only
  const creds = generateTurnCredentials(userId, process.env.TURN_SECRET, 3600);
  res.set('Cache-Control', 'no-store'); // never let a proxy cache a credential
  res.json({
    username: creds.username,
    credential: creds.credential,
    ttl: creds.ttl,
    urls: [
      // hand the client both transports
      'turn:turn.example.com:3478?transport=udp',
      'turns:turn.example.com:5349?transport=tcp',
    ],
  });
});
const server = app.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  process.send?.({ type: 'ready', port: server.address().port });
});
process.on('message', (m) => {
  if (m.type === 'stop') process.exit(0);
  if (m.type === 'gc') {
    const mem = process.memoryUsage();
    process.send?.({ type: 'gc-done', rss: mem.rss, heapUsed: mem.heapUsed });
  }
});
process.on('disconnect', () => process.exit(0));
