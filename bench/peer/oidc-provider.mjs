// The benchmark's peer: node-oidc-provider issuing the same kind of token Ward issues —
// client credentials, client_secret_basic, an ES256 JWT access token — on a cluster of one
// worker per core (WORKERS), with introspection enabled.
import cluster from 'node:cluster';
import crypto from 'node:crypto';
import os from 'node:os';
import fs from 'node:fs';

const port = Number(process.env.PORT);
const keyFile = process.env.KEY_FILE;

if (cluster.isPrimary) {
  // One signing key shared by every worker, so a token from one verifies at another.
  const { privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  fs.writeFileSync(keyFile, JSON.stringify({ ...privateKey.export({ format: 'jwk' }), alg: 'ES256', use: 'sig', kid: 'bench' }));
  for (let i = 0; i < Number(process.env.WORKERS || os.availableParallelism()); i++) cluster.fork();
} else {
  const { default: Provider } = await import('oidc-provider');
  const jwk = JSON.parse(fs.readFileSync(keyFile, 'utf8'));
  const provider = new Provider(`http://127.0.0.1:${port}`, {
    jwks: { keys: [jwk] },
    clients: [{
      client_id: 'bench',
      client_secret: process.env.CLIENT_SECRET,
      grant_types: ['client_credentials'],
      redirect_uris: [],
      response_types: [],
      token_endpoint_auth_method: 'client_secret_basic',
      scope: 'db:read',
      id_token_signed_response_alg: 'ES256',
    }],
    scopes: ['db:read'],
    features: {
      clientCredentials: { enabled: true },
      introspection: { enabled: true },
      devInteractions: { enabled: false },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => 'urn:ward:bench',
        useGrantedResource: () => true,
        getResourceServerInfo: () => ({
          scope: 'db:read',
          audience: 'ward',
          accessTokenTTL: 900,
          // JWT for the token benchmark. oidc-provider refuses to introspect JWTs, so the
          // introspection benchmark runs it with opaque tokens (FORMAT=opaque, one worker,
          // since its in-memory store is per process).
          accessTokenFormat: process.env.FORMAT || 'jwt',
          jwt: { sign: { alg: 'ES256' } },
        }),
      },
    },
  });
  provider.listen(port, '127.0.0.1');
}
