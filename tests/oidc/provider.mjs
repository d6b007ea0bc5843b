// A real OpenID Connect provider (npm's oidc-provider) for Docent's end-to-end tests, on loopback only.
//
//   node tests/oidc/provider.mjs --port 0 --redirect-uri http://localhost:8000/accounts/oidc/sso/login/callback/ \
//        --accounts /tmp/accounts.json
//
// Prints one line "READY <issuer>" when listening. Accounts are read from the JSON file on every lookup, so a test
// can change someone's groups between two sign-ins: {"<login>": {"email": ..., "name": ..., "groups": [...]}}.
// Sign-in uses oidc-provider's development interactions (a login form; the password is not checked), with
// consent pre-granted for the Docent client as a company IdP does for first-party apps.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

import Provider from 'oidc-provider';

const { values: args } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    'redirect-uri': { type: 'string', multiple: true },
    accounts: { type: 'string' },
    'client-id': { type: 'string', default: 'docent' },
    'client-secret': { type: 'string', default: 'docent-test-secret' },
    'groups-claim': { type: 'string', default: 'groups' },
  },
});

const groupsClaim = args['groups-claim'];

function loadAccounts() {
  return JSON.parse(readFileSync(args.accounts, 'utf8'));
}

const configuration = {
  clients: [
    {
      client_id: args['client-id'],
      client_secret: args['client-secret'],
      redirect_uris: args['redirect-uri'],
      response_types: ['code'],
      grant_types: ['authorization_code'],
      token_endpoint_auth_method: 'client_secret_basic',
    },
  ],
  // PKCE is required for every client here (Docent sends S256), not just public ones.
  pkce: { required: () => true },
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'preferred_username'],
    [groupsClaim]: [groupsClaim],
  },
  scopes: ['openid', 'offline_access', groupsClaim],
  // Claims go into the ID token itself (not only userinfo), as Entra ID and Okta do for groups.
  conformIdTokenClaims: false,
  cookies: { keys: ['docent-test-cookie-key'] },
  features: { devInteractions: { enabled: true } },
  async findAccount(ctx, id) {
    const account = loadAccounts()[id];
    if (!account) return undefined;
    return {
      accountId: id,
      async claims() {
        return {
          sub: id,
          email: account.email,
          email_verified: account.email_verified ?? true,
          name: account.name ?? id,
          preferred_username: account.preferred_username ?? id,
          [groupsClaim]: account.groups ?? [],
        };
      },
    };
  },
  async loadExistingGrant(ctx) {
    const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) return ctx.oidc.provider.Grant.find(grantId);
    const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
    grant.addOIDCScope(`openid email profile ${groupsClaim}`);
    grant.addOIDCClaims(['email', 'email_verified', 'name', 'preferred_username', groupsClaim]);
    await grant.save();
    return grant;
  },
};

// The issuer needs the port, which is only known once listening: bind first, then mount the provider.
import { createServer } from 'node:http';

let handler = null;
const server = createServer((req, res) => handler(req, res));
server.listen(Number(args.port), '127.0.0.1', () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  const provider = new Provider(issuer, configuration);
  provider.on('server_error', (ctx, err) => console.error('server_error', err));
  handler = provider.callback();
  console.log(`READY ${issuer}`);
});

process.on('SIGTERM', () => server.close(() => process.exit(0)));
