// The refresh benchmark's peer: node-oidc-provider rotating refresh tokens for a confidential
// client, client_secret_basic, scope openid (so an ID token is signed too), ES256. One worker:
// its in-memory store belongs to one process. At start it mints COUNT refresh tokens, each of
// its own grant, into TOKEN_FILE.
import fs from 'node:fs';
import Provider from 'oidc-provider';

const port = Number(process.env.PORT);
const { privateKey } = await import('node:crypto').then((c) => c.generateKeyPairSync('ec', { namedCurve: 'P-256' }));
const provider = new Provider(`http://127.0.0.1:${port}`, {
  jwks: { keys: [{ ...privateKey.export({ format: 'jwk' }), alg: 'ES256', use: 'sig', kid: 'bench' }] },
  clients: [{
    client_id: 'bench',
    client_secret: process.env.CLIENT_SECRET,
    grant_types: ['authorization_code', 'refresh_token'],
    redirect_uris: ['https://app.example/cb'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
    id_token_signed_response_alg: 'ES256',
  }],
  scopes: ['openid', 'offline_access'],
  findAccount: (ctx, id) => ({ accountId: id, claims: () => ({ sub: id }) }),
  rotateRefreshToken: true,
  features: { devInteractions: { enabled: false } },
});
const client = await provider.Client.find('bench');
const tokens = [];
for (let i = 0; i < Number(process.env.COUNT); i++) {
  const grant = new provider.Grant({ accountId: 'bench', clientId: 'bench' });
  grant.addOIDCScope('openid offline_access');
  const grantId = await grant.save();
  const token = new provider.RefreshToken({
    accountId: 'bench', client, grantId, scope: 'openid offline_access', gty: 'authorization_code',
    authTime: Math.floor(Date.now() / 1000),
  });
  tokens.push(await token.save());
}
fs.writeFileSync(process.env.TOKEN_FILE, tokens.join('\n') + '\n');
provider.listen(port, '127.0.0.1');
